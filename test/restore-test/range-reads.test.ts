import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalStorage } from '../../src/backends/local.js';
import { openS3Storage } from '../../src/backends/s3.js';
import type { Storage } from '../../src/backends/storage.js';
import { openCatalog } from '../../src/catalog/catalog.js';
import { MasterIndex } from '../../src/repo/index/index-store.js';
import { Repository } from '../../src/repo/repository.js';
import { startS3rver, type S3Emulator } from '../helpers/emulators.js';
import { bytes } from '../helpers/tree.js';
import { PASS, triad } from '../helpers/triad.js';

/** One load the counting wrapper of the test entry saw (test/helpers/count-storage.mjs). */
interface Load {
  target: string;
  name: string;
  offset: number;
  length: number | null;
  got: number;
}

/** What a target's repository says about its packs: which hold trees, and the trees' stored bytes. */
interface Layout {
  treePacks: Set<string>;
  treeBytes: number;
  packSize: Map<string, number>;
}

const TARGETS = ['nas', 'cloud'] as const;

/**
 * Reading commands fetch only what they need: a sampled restore-test and an --include restore
 * download at most 1.25 × the sampled files' bytes plus the trees, never a byte of a pack twice,
 * on a local target and on s3rver, counted by a wrapper around the real backends.
 */
describe('range reads: bytes fetched and requests made, local and S3 (s3rver)', () => {
  let emu: S3Emulator;
  let work: string;
  let policy: string;
  let env: Record<string, string>;
  const files = new Map<string, number>();
  const layout = new Map<string, Layout>();

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'triad-ranges-'));
    emu = await startS3rver(join(work, 's3rver'));
    env = { ...PASS, ...emu.env, TRIAD_TEST_PACK_SIZE: String(2 * 1024 * 1024) };
    const src = join(work, 'src');
    // 400 files of 2 to 90 KiB in 20 directories, and two of 2.5 MiB: the sample spreads over every pack.
    for (let i = 0; i < 400; i++) {
      const dir = join(src, `d${String(i % 20).padStart(2, '0')}`);
      mkdirSync(dir, { recursive: true });
      const size = 2048 + ((i * 7919) % (88 * 1024));
      writeFileSync(join(dir, `f${String(i).padStart(3, '0')}.bin`), bytes(1000 + i, size));
      files.set(`src/d${String(i % 20).padStart(2, '0')}/f${String(i).padStart(3, '0')}.bin`, size);
    }
    for (const n of [1, 2]) {
      writeFileSync(join(src, `big${n}.bin`), bytes(n, 2.5 * 1024 * 1024));
      files.set(`src/big${n}.bin`, 2.5 * 1024 * 1024);
    }
    policy = join(work, 'ranges.yaml');
    writeFileSync(
      policy,
      [
        'version: 1',
        'policy: ranges',
        `catalog: ${JSON.stringify(join(work, 'catalog.db'))}`,
        'sources:',
        `  - path: ${JSON.stringify(src)}`,
        'encryption:',
        '  passphrase_env: TEST_PASSPHRASE',
        'targets:',
        `  nas: {type: local, path: ${JSON.stringify(join(work, 'nas'))}, media: nas, offsite: false}`,
        `  cloud: ${JSON.stringify(emu.policyFields({ prefix: 'r/' }))}`,
        'rule: none',
        '',
      ].join('\n'),
    );
    expect(triad(['init', '-p', policy], { env }).code).toBe(0);
    const b = triad(['backup', '-p', policy], { env });
    expect(b.code, b.stderr).toBe(0);
    const storages: Record<string, Storage> = {
      nas: await openLocalStorage(join(work, 'nas'), { create: false }),
      cloud: await openS3Storage(emu.target({ prefix: 'r/' }), { env: emu.env }),
    };
    for (const t of TARGETS) layout.set(t, await layoutOf(t, storages[t]!));
  }, 180_000);

  afterAll(async () => {
    await emu?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function layoutOf(target: string, storage: Storage): Promise<Layout> {
    const repo = await Repository.open(target, storage, PASS.TEST_PASSPHRASE);
    const index = await MasterIndex.load(repo);
    const l: Layout = { treePacks: new Set(), treeBytes: 0, packSize: new Map(index.packs) };
    for (const [, loc] of index.entries()) {
      if (loc.type !== 'tree') continue;
      l.treePacks.add(loc.pack);
      l.treeBytes += loc.length;
    }
    return l;
  }

  function counted(run: (countFile: string) => void): Load[] {
    const file = join(work, `loads-${Math.random().toString(36).slice(2)}.jsonl`);
    writeFileSync(file, '');
    run(file);
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Load);
  }

  /** Pack loads of one target, split into tree packs and data packs; fails if any byte of a pack came twice. */
  function packLoads(loads: Load[], target: string): { treeBytes: number; dataBytes: number; requests: number; packs: number } {
    const l = layout.get(target)!;
    const mine = loads.filter((x) => x.target === target && x.name.startsWith('data/'));
    const byPack = new Map<string, { from: number; to: number }[]>();
    for (const x of mine) {
      const pack = x.name.split('/').pop()!;
      const list = byPack.get(pack) ?? [];
      list.push({ from: x.offset, to: x.offset + x.got });
      byPack.set(pack, list);
    }
    for (const [pack, ranges] of byPack) {
      ranges.sort((a, b) => a.from - b.from);
      for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.from, `pack ${pack.slice(0, 12)} on ${target}: a byte fetched twice`).toBeGreaterThanOrEqual(ranges[i - 1]!.to);
    }
    const sum = (f: (pack: string) => boolean) => mine.filter((x) => f(x.name.split('/').pop()!)).reduce((n, x) => n + x.got, 0);
    return { treeBytes: sum((p) => l.treePacks.has(p)), dataBytes: sum((p) => !l.treePacks.has(p)), requests: mine.length, packs: byPack.size };
  }

  it('a 5 % restore-test fetches ≤ 1.25 × the sampled bytes + the trees, each pack byte once, and records it', () => {
    let out = '';
    const loads = counted((file) => {
      const r = triad(['restore-test', '-p', policy, '--sample', '5%', '--snapshots', 'latest', '--seed', '7', '--scratch', join(work, 'scratch'), '--json'], { env: { ...env, TRIAD_TEST_COUNT_LOADS: file } });
      expect(r.code, r.stderr).toBe(0);
      out = r.stdout;
    });
    const res = JSON.parse(out) as { sample: { files: number; bytes: number }; targets: { target: string; ok: boolean; bytes: number; bytesFetched: number; requests: number }[] };
    expect(res.sample.files).toBeGreaterThanOrEqual(Math.floor(files.size * 0.05));
    for (const t of TARGETS) {
      const got = packLoads(loads, t);
      const tr = res.targets.find((x) => x.target === t)!;
      expect(tr.ok).toBe(true);
      expect(tr.bytes).toBe(res.sample.bytes);
      expect(got.dataBytes, `${t}: data bytes fetched for ${res.sample.bytes} sampled`).toBeLessThanOrEqual(1.25 * res.sample.bytes);
      expect(got.treeBytes).toBeLessThanOrEqual(layout.get(t)!.treeBytes);
      expect(got.dataBytes + got.treeBytes).toBeLessThanOrEqual(1.25 * res.sample.bytes + layout.get(t)!.treeBytes);
      // The result counts what the wrapper saw.
      expect(tr.bytesFetched).toBe(got.dataBytes + got.treeBytes);
      expect(tr.requests).toBe(got.requests);
    }
    const catalog = openCatalog(join(work, 'catalog.db'));
    try {
      const run = catalog.listRuns('ranges', { kind: 'restore-test' }).at(-1)!;
      expect(run.bytes_read).toBe(res.targets.reduce((n, t) => n + t.bytesFetched, 0));
      expect(run.requests).toBe(res.targets.reduce((n, t) => n + t.requests, 0));
      expect(run.requests).toBeGreaterThan(0);
    } finally {
      catalog.close();
    }
  });

  it.each(TARGETS)('restore --include of 4 files in 402 from %s fetches ≤ 1.25 × their bytes + the trees, and -v says how much', (target) => {
    const chosen = [...files.keys()].filter((p) => p.endsWith('.bin') && !p.includes('big')).filter((_, i) => i % 100 === 37);
    expect(chosen.length).toBe(4);
    const wanted = chosen.reduce((n, p) => n + files.get(p)!, 0);
    const to = join(work, `restore-${target}`);
    let stdout = '';
    const loads = counted((file) => {
      const r = triad(['restore', '-p', policy, 'latest', '--to', to, '--target', target, '-v', ...chosen.flatMap((p) => ['--include', p])], { env: { ...env, TRIAD_TEST_COUNT_LOADS: file } });
      expect(r.code, r.stderr).toBe(0);
      stdout = r.stdout;
    });
    for (const p of chosen) expect(readFileSync(join(to, p)).length).toBe(files.get(p));
    const got = packLoads(loads, target);
    expect(got.dataBytes, `data bytes fetched for ${wanted} wanted`).toBeLessThanOrEqual(1.25 * wanted);
    expect(got.dataBytes).toBeGreaterThanOrEqual(wanted);
    expect(got.treeBytes).toBeLessThanOrEqual(layout.get(target)!.treeBytes);
    expect(stdout).toMatch(new RegExp(`fetched .+ in ${got.requests} requests`));
    const catalog = openCatalog(join(work, 'catalog.db'));
    try {
      const run = catalog.listRuns('ranges', { kind: 'restore', target }).at(-1)!;
      expect(run.requests).toBe(got.requests);
      expect(run.bytes_read).toBe(got.dataBytes + got.treeBytes);
    } finally {
      catalog.close();
    }
  });

  it('a full restore from S3 fetches each pack byte at most once, at most 1.05 × the stored packs', () => {
    const to = join(work, 'restore-full');
    const loads = counted((file) => {
      const r = triad(['restore', '-p', policy, 'latest', '--to', to, '--target', 'cloud', '--read-concurrency', '8'], { env: { ...env, TRIAD_TEST_COUNT_LOADS: file } });
      expect(r.code, r.stderr).toBe(0);
    });
    for (const [p, size] of files) expect(readFileSync(join(to, p)).length).toBe(size);
    const got = packLoads(loads, 'cloud');
    const stored = [...layout.get('cloud')!.packSize.values()].reduce((n, s) => n + s, 0);
    expect(got.dataBytes + got.treeBytes).toBeLessThanOrEqual(1.05 * stored);
    expect(got.packs).toBe(layout.get('cloud')!.packSize.size);
  });

  it('a restore-test of two snapshots fetches the files and trees they share once', async () => {
    // A second snapshot: 10 files rewritten (same sizes), the rest shared with the first.
    for (let i = 0; i < 400; i += 40) {
      const rel = `src/d${String(i % 20).padStart(2, '0')}/f${String(i).padStart(3, '0')}.bin`;
      writeFileSync(join(work, rel), bytes(5000 + i, files.get(rel)!));
    }
    const b = triad(['backup', '-p', policy], { env });
    expect(b.code, b.stderr).toBe(0);
    layout.set('nas', await layoutOf('nas', await openLocalStorage(join(work, 'nas'), { create: false })));
    let out = '';
    const loads = counted((file) => {
      const r = triad(['restore-test', '-p', policy, '--target', 'nas', '--sample', '20%', '--snapshots', 'all', '--seed', '3', '--scratch', join(work, 'scratch'), '--json'], { env: { ...env, TRIAD_TEST_COUNT_LOADS: file } });
      expect(r.code, r.stderr).toBe(0);
      out = r.stdout;
    });
    const res = JSON.parse(out) as { sample: { bytes: number; snapshotList: { files: { path: string }[] }[] }; targets: { bytesFetched: number }[] };
    expect(res.sample.snapshotList).toHaveLength(2);
    const [a, b2] = res.sample.snapshotList.map((x) => new Set(x.files.map((f) => f.path)));
    expect([...a!].filter((f) => b2!.has(f)).length, 'files sampled in both snapshots').toBeGreaterThan(0);
    const got = packLoads(loads, 'nas');
    expect(got.dataBytes).toBeLessThanOrEqual(1.25 * res.sample.bytes);
    expect(res.targets[0]!.bytesFetched).toBe(got.dataBytes + got.treeBytes);
  });

  // Last: damages the nas copy.
  it('a damaged range is reported with its pack, blob, file and target, and the rest of the restore goes on', () => {
    const l = layout.get('nas')!;
    const [victim] = [...l.packSize].filter(([p]) => !l.treePacks.has(p)).sort((a, b) => b[1] - a[1])[0]!;
    const file = join(work, 'nas', 'data', victim.slice(0, 2), victim);
    const packBytes = readFileSync(file);
    packBytes[packBytes.length >> 1]! ^= 0xff;
    writeFileSync(file, packBytes);
    const to = join(work, 'restore-damaged');
    const r = triad(['restore', '-p', policy, 'latest', '--to', to, '--target', 'nas', '--json'], { env });
    expect(r.code, r.stderr).toBe(1);
    const res = JSON.parse(r.stdout) as { files: number; failures: { path: string; reason: string; pack?: string; blob?: string }[] };
    expect(res.failures.length).toBeGreaterThan(0);
    for (const f of res.failures) {
      expect(f.pack).toBe(victim);
      expect(f.blob).toMatch(/^[0-9a-f]{64}$/);
      expect(files.has(f.path), f.path).toBe(true);
      expect(f.reason).toContain("on target 'nas'");
    }
    const failed = new Set(res.failures.map((f) => f.path));
    expect(res.files).toBe(files.size - failed.size);
    for (const [p, size] of files) if (!failed.has(p)) expect(readFileSync(join(to, p)).length).toBe(size);
  });

  it('refuses a --read-concurrency that is not a whole number from 1 to 64 (exit 2)', () => {
    const r = triad(['restore', '-p', policy, 'latest', '--to', join(work, 'never'), '--read-concurrency', '0'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--read-concurrency 0: expected a whole number from 1 to 64');
  });
});
