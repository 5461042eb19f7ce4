import { mkdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, startGcs, startS3rver, type AzureEmulator, type GcsEmulator, type S3Emulator } from '../helpers/emulators.js';
import { PASS, scratchDir, triad, writePolicy } from '../helpers/triad.js';
import { bytes, makeSampleTree, snapshotOf } from '../helpers/tree.js';

describe('one backup writes the NAS copy and every cloud copy (S3, Azure, GCS emulators)', () => {
  const work = scratchDir();
  const src = join(work, 'src');
  let s3: S3Emulator;
  let az: AzureEmulator;
  let gcs: GcsEmulator;
  let policy: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    mkdirSync(join(work, 'gcs-tmp'));
    [s3, az, gcs] = await Promise.all([startS3rver(join(work, 's3rver')), startAzurite(), startGcs(join(work, 'gcs-tmp'))]);
    makeSampleTree(src, 6 * 1024 * 1024);
    policy = writePolicy(work, {
      sources: [src],
      targets: {
        nas: { type: 'local', path: join(work, 'nas'), media: 'nas', offsite: false },
        s3: s3.policyFields({ prefix: 'triad/test/' }),
        azure: az.policyFields({ prefix: 'triad/' }),
        gcs: gcs.policyFields({ prefix: 'triad/' }),
      },
    });
    env = { ...PASS, ...s3.env, ...az.env, ...gcs.env };
  });
  afterAll(async () => {
    await Promise.all([s3?.stop(), az?.stop(), gcs?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  const trees: Map<string, ReturnType<typeof snapshotOf>> = new Map();

  it('init creates one repository replicated to every target', () => {
    const r = triad(['init', '-p', policy, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.targets.map((t: { target: string; status: string }) => `${t.target}:${t.status}`)).toEqual(['nas:created', 's3:replicated', 'azure:replicated', 'gcs:replicated']);
  });

  it('two backups commit on all four targets', () => {
    for (let i = 0; i < 2; i++) {
      if (i === 1) {
        appendFileSync(join(src, 'docs', 'readme.txt'), 'changed\n');
        writeFileSync(join(src, 'new.bin'), bytes(77, 300_000));
      }
      const r = triad(['backup', '-p', policy, '--json'], { env });
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.targets.map((t: { status: string }) => t.status)).toEqual(['committed', 'committed', 'committed', 'committed']);
      trees.set(out.snapshot, snapshotOf(src));
    }
    const s = triad(['snapshots', '-p', policy, '--json'], { env });
    expect(s.code, s.stderr).toBe(0);
    const snaps = JSON.parse(s.stdout).snapshots;
    expect(snaps).toHaveLength(2);
    for (const snap of snaps) expect([...snap.targets].sort()).toEqual(['azure', 'gcs', 'nas', 's3']);
  });

  it('restores from each cloud target alone, byte for byte', () => {
    for (const target of ['s3', 'azure', 'gcs']) {
      for (const [id, want] of trees) {
        const to = join(work, `restore-${target}-${id.slice(0, 8)}`);
        const r = triad(['restore', '-p', policy, id, '--to', to, '--target', target], { env });
        expect(r.code, r.stderr).toBe(0);
        const got = snapshotOf(join(to, 'src'));
        expect([...got.keys()]).toEqual([...want.keys()]);
        for (const [p, w] of want) expect(got.get(p)?.content, `${target}:${p}`).toBe(w.content);
      }
    }
  });

  it('the bucket reveals no file names', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const names: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else names.push(p);
      }
    };
    walk(join(work, 's3rver'));
    expect(names.length).toBeGreaterThan(5);
    for (const n of names) {
      expect(n).not.toMatch(/readme|résumé|notes|big\.bin/);
      const content = readFileSync(n);
      expect(content.includes(Buffer.from('readme.txt'))).toBe(false);
    }
  });

  it('check --read-data passes on every target', () => {
    const r = triad(['check', '-p', policy, '--read-data', '--json'], { env });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.targets).toHaveLength(4);
    for (const t of out.targets) expect(t.errors).toEqual([]);
  });
});
