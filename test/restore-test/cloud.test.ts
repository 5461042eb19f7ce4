import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openS3Storage } from '../../src/backends/s3.js';
import { startS3rver, type S3Emulator } from '../helpers/emulators.js';
import { PASS, triad } from '../helpers/triad.js';
import { makeSource, parseJunit } from './helpers.js';

interface TargetRes {
  target: string;
  ok: boolean;
  files: number;
  bytes: number;
  transferMs: number;
  results: { snapshot: string; path: string; status: string; kind?: string; pack?: string }[];
}

/** s3rver runs as a child process, so the synchronous CLI calls cannot starve it. */
describe('triad restore-test on an emulated S3 target (s3rver)', () => {
  let emu: S3Emulator;
  let work: string;
  let policy: string;
  let env: Record<string, string>;
  let snapshot: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'triad-rt-cloud-'));
    emu = await startS3rver(join(work, 's3rver'));
    env = { ...PASS, ...emu.env };
    makeSource(join(work, 'src'));
    const cloud = emu.policyFields({ prefix: 'rt/' });
    policy = join(work, 'cloud.yaml');
    writeFileSync(
      policy,
      [
        'version: 1',
        'policy: cloudtest',
        `catalog: ${JSON.stringify(join(work, 'catalog.db'))}`,
        'sources:',
        `  - path: ${JSON.stringify(join(work, 'src'))}`,
        'encryption:',
        '  passphrase_env: TEST_PASSPHRASE',
        'targets:',
        `  nas: {type: local, path: ${JSON.stringify(join(work, 'nas'))}, media: nas, offsite: false}`,
        `  cloud: ${JSON.stringify(cloud)}`,
        'rule: none',
        '',
      ].join('\n'),
    );
    const init = triad(['init', '-p', policy], { env });
    expect(init.code, init.stderr).toBe(0);
    const b = triad(['backup', '-p', policy, '--json'], { env });
    expect(b.code, b.stderr).toBe(0);
    snapshot = JSON.parse(b.stdout).snapshot;
  });
  afterAll(async () => {
    await emu?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('passes on a clean repository on both the local and the cloud target', () => {
    const junit = join(work, 'clean.xml');
    const r = triad(['restore-test', '-p', policy, '--scratch', join(work, 'scratch'), '--files', '100', '--seed', '11', '--junit', junit, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { targets: TargetRes[]; sample: { files: number; bytes: number } };
    expect(res.targets.map((t) => [t.target, t.ok])).toEqual([['nas', true], ['cloud', true]]);
    const cloud = res.targets.find((t) => t.target === 'cloud')!;
    expect(cloud.files).toBe(res.sample.files);
    expect(cloud.bytes).toBe(res.sample.bytes);
    expect(cloud.transferMs).toBeGreaterThan(0);
    const doc = parseJunit(readFileSync(junit, 'utf8'));
    expect(Number(doc['@_failures'])).toBe(0);
    expect(doc.testsuite.map((s) => s['@_name'])).toEqual(['nas', 'cloud']);
  });

  it('names the file, snapshot and target when a pack is missing from the bucket', async () => {
    const storage = await openS3Storage(emu.target({ prefix: 'rt/' }), { env: emu.env });
    let biggest = { name: '', size: -1 };
    for await (const o of storage.list('data/')) if (o.size > biggest.size) biggest = o;
    await storage.remove(biggest.name);
    await storage.close();

    const junit = join(work, 'damaged.xml');
    const r = triad(['restore-test', '-p', policy, '--scratch', join(work, 'scratch'), '--files', '100', '--seed', '11', '--junit', junit, '--json'], { env });
    expect(r.code, r.stderr).toBe(4);
    const res = JSON.parse(r.stdout) as { targets: TargetRes[] };
    expect(res.targets.find((t) => t.target === 'nas')!.ok).toBe(true);
    const cloud = res.targets.find((t) => t.target === 'cloud')!;
    expect(cloud.ok).toBe(false);
    const big = cloud.results.find((f) => f.path === 'src/big.bin')!;
    expect(big).toMatchObject({ status: 'failed', kind: 'missing-pack', snapshot });
    expect(biggest.name).toContain(big.pack!);
    const suite = parseJunit(readFileSync(junit, 'utf8')).testsuite.find((s) => s['@_name'] === 'cloud')!;
    const c = suite.testcase.find((x) => x['@_name'] === 'src/big.bin')!;
    expect(c.failure!['@_type']).toBe('missing-pack');
    expect(c.failure!['#text']).toContain("target 'cloud'");
    expect(c.failure!['#text']).toContain(`snapshot ${snapshot}`);
  });
});
