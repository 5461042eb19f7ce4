import { appendFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog } from '../../src/catalog/catalog.js';
import type { RestoreTestRow, RunRow } from '../../src/catalog/types.js';
import { startS3rver, type S3Emulator } from '../helpers/emulators.js';
import { PASS, scratchDir, triad } from '../helpers/triad.js';
import { bytes, makeSampleTree, snapshotOf } from '../helpers/tree.js';

/**
 * Issue #9, "done when": the server, the NAS and the catalogue are lost; the cloud bucket and
 * the passphrase bring back the snapshots, the history and every byte.
 */
describe('disaster recovery: rebuild the catalogue from the cloud target alone', () => {
  const work = scratchDir('triad-dr-');
  const src = join(work, 'src');
  const nas = join(work, 'nas');
  const catalogFile = join(work, 'catalog.db');
  let s3: S3Emulator;
  let policy: string;
  let env: Record<string, string>;
  const AT = '2030-01-01T00:00:00Z';
  let before: { snapshots: unknown[]; runs: RunRow[]; restoreTests: unknown[]; report: Record<string, unknown> };

  beforeAll(async () => {
    s3 = await startS3rver(join(work, 's3rver'));
    makeSampleTree(src, 3 * 1024 * 1024);
    policy = join(work, 'finance.yaml');
    writeFileSync(
      policy,
      [
        'version: 1',
        'policy: finance',
        `catalog: ${catalogFile}`,
        'sources:',
        `  - path: ${JSON.stringify(src)}`,
        'encryption:',
        '  passphrase_env: TEST_PASSPHRASE',
        'targets:',
        '  nas:',
        '    type: local',
        `    path: ${JSON.stringify(nas)}`,
        '    media: nas',
        '    offsite: false',
        '  cloud:',
        '    type: s3',
        `    bucket: ${s3.bucket}`,
        '    prefix: finance/',
        `    region: ${s3.region}`,
        `    endpoint: ${s3.endpoint}`,
        '    force_path_style: true',
        '    checksums: when_required',
        `    credentials_env: {access_key_id: ${s3.credentialsEnv.access_key_id}, secret_access_key: ${s3.credentialsEnv.secret_access_key}}`,
        '    media: object-storage',
        '    offsite: true',
        'rule: 3-2-1',
        'objectives: {rpo: 4h, rto: 2h, window: 30d}',
        '',
      ].join('\n'),
    );
    env = { ...PASS, ...s3.env };
  });
  afterAll(async () => {
    await s3?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('backs up to the NAS and the emulated S3 bucket over several runs, with a restore test', () => {
    const init = triad(['init', '-p', policy, '--json'], { env });
    expect(init.code, init.stderr).toBe(0);
    const times = ['2029-12-30T08:00:00Z', '2029-12-30T12:00:00Z', '2029-12-30T16:00:00Z'];
    for (const [i, time] of times.entries()) {
      if (i === 1) appendFileSync(join(src, 'docs', 'readme.txt'), 'second run\n');
      if (i === 2) {
        mkdirSync(join(src, 'new dir'), { recursive: true });
        writeFileSync(join(src, 'new dir', 'added.bin'), bytes(40 + i, 200_000));
      }
      const r = triad(['backup', '-p', policy, '--time', time, '--json'], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).targets.map((t: { target: string; status: string }) => `${t.target}:${t.status}`)).toEqual(['nas:committed', 'cloud:committed']);
    }
    const rt = triad(['restore-test', '-p', policy, '--files', '5', '--seed', '7', '--json'], { env });
    expect(rt.code, rt.stderr + rt.stdout.slice(0, 2000)).toBe(0);
  });

  it('records the state before the loss', () => {
    const snaps = triad(['snapshots', '-p', policy, '--json'], { env });
    expect(snaps.code, snaps.stderr).toBe(0);
    const cat = openCatalog(catalogFile, { readonly: true });
    try {
      before = {
        snapshots: JSON.parse(snaps.stdout).snapshots,
        runs: cat.listRuns('finance'),
        restoreTests: cat.listRestoreTests('finance'),
        report: reportJson(),
      };
    } finally {
      cat.close();
    }
    expect(before.snapshots).toHaveLength(3);
    expect(before.runs.filter((r) => r.kind === 'backup')).toHaveLength(3);
    expect(before.restoreTests.length).toBe(2);
    const verify = triad(['catalog', 'verify', '-p', policy, '--json'], { env });
    expect(verify.code, verify.stdout).toBe(0);
    expect(JSON.parse(verify.stdout).drift).toBe(0);
  });

  it('after losing the catalogue and the NAS, rebuilds from the cloud target only', () => {
    for (const f of [catalogFile, `${catalogFile}-wal`, `${catalogFile}-shm`]) rmSync(f, { force: true });
    rmSync(nas, { recursive: true, force: true });
    expect(existsSync(catalogFile)).toBe(false);

    const r = triad(['catalog', 'rebuild', '-p', policy, '--target', 'cloud', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.snapshots).toEqual({ total: 3, imported: 3, skipped: 0 });
    expect(out.runs.imported).toBe(before.runs.filter((x) => x.kind === 'backup' || x.kind === 'restore-test').length);
    expect(out.restoreTests).toBe(2);

    // Resumable and idempotent: a second run imports nothing new.
    const again = triad(['catalog', 'rebuild', '-p', policy, '--target', 'cloud', '--json'], { env });
    expect(again.code, again.stderr).toBe(0);
    const o2 = JSON.parse(again.stdout);
    expect(o2.snapshots).toEqual({ total: 3, imported: 0, skipped: 3 });
    expect(o2.runs.imported).toBe(0);
    expect(o2.files).toBe(0);
  });

  it('snapshots are the same as before the loss', () => {
    // The NAS is gone: the listing comes from the cloud alone, with the same manifests.
    const snaps = triad(['snapshots', '-p', policy, '--target', 'cloud', '--json'], { env });
    expect(snaps.code, snaps.stderr).toBe(0);
    const strip = (list: unknown[]) => (list as { targets: string[] }[]).map(({ targets: _t, ...rest }) => rest);
    expect(strip(JSON.parse(snaps.stdout).snapshots)).toEqual(strip(before.snapshots));
  });

  it('the run history and the restore tests are the same as before the loss', () => {
    const cat = openCatalog(catalogFile, { readonly: true });
    try {
      const runs = cat.listRuns('finance');
      const key = (r: RunRow) => ({ kind: r.kind, status: r.status, exit_code: r.exit_code, bytes_read: r.bytes_read, bytes_written: r.bytes_written, files: r.files, error: r.error, snapshot: r.details.snapshot ?? null });
      const journaled = before.runs.filter((r) => r.kind === 'backup' || r.kind === 'restore-test');
      expect(runs.map(key)).toEqual(journaled.map(key));
      // backup.ts stamps its catalogue run a few milliseconds after the journal's start time.
      for (const [i, r] of runs.entries()) {
        expect(Math.abs(Date.parse(r.started_at) - Date.parse(journaled[i]!.started_at))).toBeLessThan(5000);
        expect(Math.abs(Date.parse(r.finished_at!) - Date.parse(journaled[i]!.finished_at!))).toBeLessThan(5000);
        expect(r.journal_id).toMatch(/^[0-9a-f]{64}$/);
      }
      // The journal keeps timings in whole milliseconds; durations come back with the rest.
      const whole = (t: RestoreTestRow): RestoreTestRow => ({ ...t, run_id: 0, overhead_ms: Math.round(t.overhead_ms), transfer_ms: Math.round(t.transfer_ms), duration_ms: t.duration_ms === null ? null : Math.round(t.duration_ms) });
      const tests = cat.listRestoreTests('finance').map(whole);
      expect(tests.every((t) => t.duration_ms !== null && t.duration_ms > 0)).toBe(true);
      expect(tests).toEqual((before.restoreTests as RestoreTestRow[]).map(whole));
      // File entries with their content hashes, as the backup recorded them.
      const latest = cat.latestSnapshot('finance', { target: 'cloud' })!;
      const readme = cat.fileByPath(latest.id, 'src/docs/readme.txt')!;
      expect(readme.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(cat.countFiles(latest.id)).toBe(latest.files + latest.dirs);
    } finally {
      cat.close();
    }
  });

  it('the report shows the same cloud history as before the loss', () => {
    const after = reportJson();
    const pick = (rep: Record<string, unknown>) => {
      const p = (rep.policies as Record<string, unknown>[])[0]! as { rpo: { targets: { target: string; recoveryPoint: string; snapshotId: string; window: Record<string, unknown> }[] }; restoreTests?: unknown };
      const cloud = p.rpo.targets.find((t) => t.target === 'cloud')!;
      return { recoveryPoint: cloud.recoveryPoint, snapshotId: cloud.snapshotId, worst: cloud.window.worstExposureMs, pct: Math.round(Number(cloud.window.percentWithin) * 100) / 100 };
    };
    expect(pick(after)).toEqual(pick(before.report));
  });

  it('a full restore from the cloud is byte for byte identical to the source', () => {
    const to = join(work, 'restored');
    const r = triad(['restore', '-p', policy, 'latest', '--to', to, '--target', 'cloud', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(snapshotOf(join(to, 'src'))).toEqual(snapshotOf(src));
  });

  it('catalog verify reports the lost NAS as drift, and exits 1', () => {
    const r = triad(['catalog', 'verify', '-p', policy, '--json'], { env });
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    const cloud = out.targets.find((t: { name: string }) => t.name === 'cloud');
    expect(cloud.ok).toBe(true);
    expect(cloud.drift).toEqual([]);
    expect(out.targets.find((t: { name: string }) => t.name === 'nas').ok).toBe(false);
    const only = triad(['catalog', 'verify', '-p', policy, '--target', 'cloud'], { env });
    expect(only.code, only.stdout).toBe(0);
  });

  it('rebuilds with no policy file from the bucket URL alone', () => {
    const other = join(work, 'from-url.db');
    const r = triad(
      ['--catalog', other, 'catalog', 'rebuild', '--repo', `s3://${s3.bucket}/finance`, '--target', 'cloud', '--endpoint', s3.endpoint, '--checksums', 'when_required', '--passphrase-env', 'TEST_PASSPHRASE', '--json'],
      { env: { TEST_PASSPHRASE: PASS.TEST_PASSPHRASE, AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey } },
    );
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.policies).toEqual(['finance']);
    expect(out.snapshots.imported).toBe(3);
    const cat = openCatalog(other, { readonly: true });
    try {
      expect(cat.listSnapshots('finance').map((s) => s.id)).toEqual((before.snapshots as { id: string }[]).map((s) => s.id));
      expect(cat.listRuns('finance', { kind: 'backup' })).toHaveLength(3);
    } finally {
      cat.close();
    }
    const wrong = triad(['--catalog', other, 'catalog', 'rebuild', '--repo', `s3://${s3.bucket}/finance`, '--endpoint', s3.endpoint, '--checksums', 'when_required', '--passphrase-env', 'P'], {
      env: { P: 'not the passphrase', AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey },
    });
    expect(wrong.code).toBe(12);
    expect(wrong.stderr).not.toContain('not the passphrase');
  });

  function reportJson(): Record<string, unknown> {
    const r = triad(['report', '-p', policy, '--at', AT, '--format', 'json'], { env });
    expect([0, 4]).toContain(r.code);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }
});
