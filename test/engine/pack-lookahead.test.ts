/**
 * The restore loads packs ahead of need (PackLookahead): on a real repository with one pack
 * per file, pack reads overlap, stay within the lookahead's bound, load each pack once, and
 * follow the restore's include rules.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/app/backup.js';
import { initRepositories } from '../../src/app/init.js';
import { openForRead, pickSnapshot } from '../../src/app/read.js';
import { systemClock } from '../../src/core/clock.js';
import { restoreTree } from '../../src/repo/restorer.js';
import { bytes } from '../helpers/tree.js';
import { PASS, scratchDir, writeLocalPolicy } from '../helpers/triad.js';

const FILES = 8;
const SIZE = 300 * 1024;

describe('packs loaded ahead of the restore', () => {
  const work = scratchDir();
  const src = join(work, 'src');
  const ctx = { env: PASS, cwd: work, clock: systemClock, lowSecurityKdf: true };
  let policy: string;

  beforeAll(async () => {
    mkdirSync(join(src, 'a'), { recursive: true });
    mkdirSync(join(src, 'b'));
    // Random content, one blob per file; packs of at most 256 KiB hold one file each.
    for (let i = 0; i < FILES; i++) writeFileSync(join(src, i < FILES / 2 ? 'a' : 'b', `f${i}.bin`), bytes(100 + i, SIZE));
    policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas') } }, rule: 'none' });
    await initRepositories(ctx, { policyFile: policy });
    const r = await runBackup(ctx, { policyFile: policy, packSize: 256 * 1024 });
    expect(r.exitCode).toBe(0);
  });

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** Restores `latest` with each pack load recorded as it starts and ends. */
  async function restoreRecording(to: string, include?: string[]) {
    const s = await openForRead(ctx, policy);
    try {
      const events: string[] = [];
      let inFlight = 0;
      let maxInFlight = 0;
      const storage = s.reader.repo.storage;
      const load = storage.load.bind(storage);
      storage.load = async (name, range, opts) => {
        if (!name.startsWith('data/')) return load(name, range, opts);
        events.push(`start ${name}`);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        try {
          return await load(name, range, opts);
        } finally {
          inFlight--;
          events.push(`end ${name}`);
        }
      };
      const snap = pickSnapshot(s, 'latest');
      const result = await restoreTree(s.reader, snap.tree, '', { to, include, owner: false, overwrite: false });
      return { events, maxInFlight, result, index: s.reader.index };
    } finally {
      await s.close();
    }
  }

  it('overlaps pack reads, at most three at once, each pack read once, and restores every byte', async () => {
    const to = join(work, 'r1');
    const { events, maxInFlight, result } = await restoreRecording(to);
    expect(result.failures).toEqual([]);
    expect(result.files).toBe(FILES);
    for (let i = 0; i < FILES; i++) expect(readFileSync(join(to, 'src', i < FILES / 2 ? 'a' : 'b', `f${i}.bin`)).equals(bytes(100 + i, SIZE))).toBe(true);
    const starts = events.filter((e) => e.startsWith('start'));
    // Every data pack once (one per file, and the tree pack), however many times it was asked for.
    expect(new Set(starts).size).toBe(starts.length);
    expect(starts.length).toBeGreaterThanOrEqual(FILES);
    // Some pack began to load before the previous one had arrived: the reads overlap.
    const overlapped = events.some((e, i) => e.startsWith('start') && i > 0 && events.slice(0, i).filter((x) => x.startsWith('start')).length > events.slice(0, i).filter((x) => x.startsWith('end')).length);
    expect(overlapped, events.join('\n')).toBe(true);
    // Two packs ahead at most, plus the one the restore is waiting for.
    expect(maxInFlight).toBeLessThanOrEqual(3);
  });

  it('loads no pack that only files left out by --include need', async () => {
    const to = join(work, 'r2');
    const { events, result, index } = await restoreRecording(to, ['src/b/f5.bin']);
    expect(result.failures).toEqual([]);
    expect(result.files).toBe(1);
    const loaded = new Set(events.filter((e) => e.startsWith('start')).map((e) => e.slice('start data/xx/'.length)));
    // The data packs of every file but f5 (found by their blob ids in the index).
    const s = await openForRead(ctx, policy);
    try {
      const root = await s.reader.tree(pickSnapshot(s, 'latest').tree);
      const srcTree = await s.reader.tree(root.nodes.find((n) => n.name === 'src')!.subtree!);
      const packsOf = async (dir: string) => (await s.reader.tree(srcTree.nodes.find((n) => n.name === dir)!.subtree!)).nodes.map((n) => ({ name: n.name, pack: index.get(n.content![0]!)!.pack }));
      const all = [...(await packsOf('a')), ...(await packsOf('b'))];
      const f5 = all.find((f) => f.name === 'f5.bin')!;
      expect(loaded.has(f5.pack)).toBe(true);
      for (const f of all) if (f.pack !== f5.pack) expect(loaded.has(f.pack), f.name).toBe(false);
    } finally {
      await s.close();
    }
  });
});
