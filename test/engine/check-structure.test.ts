import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytes } from '../helpers/tree.js';
import { craftSnapshot } from '../helpers/craft.js';
import { PASS, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';
import { openRepo } from '../prune/helpers.js';
import { AAD } from '../../src/repo/format.js';
import { encodeIndex, MasterIndex } from '../../src/repo/index/index-store.js';
import { readPackHeader } from '../../src/repo/index/index-files.js';
import { keyedHash } from '../../src/repo/crypto/crypto.js';

// check walks each tree once even when many snapshots share it: a tree is skipped only after
// it was found whole, so a blob missing below a shared directory is reported for every snapshot.
describe('check of the snapshots\' structure', () => {
  it('reports a blob missing under a directory two snapshots share, in both', async () => {
    const work = tempDir();
    const src = join(work, 'src');
    mkdirSync(join(src, 'a'), { recursive: true });
    mkdirSync(join(src, 'b'), { recursive: true });
    // Every file is below the minimum chunk size: one blob each, whose id is the keyed hash of the file.
    const lost = bytes(1, 300 * 1024);
    writeFileSync(join(src, 'a', 'lost.bin'), lost);
    writeFileSync(join(src, 'a', 'kept.txt'), bytes(2, 3000, true));
    writeFileSync(join(src, 'b', 'other.txt'), bytes(3, 3000, true));
    const policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas'), media: 'nas', offsite: false } }, rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    writeFileSync(join(src, 'new.txt'), 'second snapshot\n');
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    const clean = triad(['check', '-p', policy, '--json'], { env: PASS });
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);

    // Rewrite the index without the pack that holds lost.bin's blob: the blob is then in no index.
    const repo = await openRepo(join(work, 'nas'));
    const index = await MasterIndex.load(repo);
    const lostBlob = keyedHash(repo.key.mac, lost).toString('hex');
    const lostPack = index.get(lostBlob)!.pack;
    const kept = [];
    for (const [id, size] of index.packs) if (id !== lostPack) kept.push({ id, size, entries: await readPackHeader(repo, id, size) });
    const { sealed } = repo.sealObject(AAD.index, encodeIndex(kept));
    await repo.saveHashed('index', sealed);
    for (const name of index.files) await repo.storage.remove(name);
    await repo.storage.close();

    const bad = triad(['check', '-p', policy, '--json'], { env: PASS });
    expect(bad.code).toBe(4);
    const rep = JSON.parse(bad.stdout).targets[0];
    expect(rep.snapshots).toBe(2);
    expect(rep.unindexedPacks).toEqual([lostPack]);
    // The pack may hold other files' blobs too (workers fill packs in parallel): those are missing as well.
    const inLostPack = ['a/kept.txt', 'a/lost.bin', 'b/other.txt'].filter((f) => index.get(keyedHash(repo.key.mac, readFileSync(join(src, f))).toString('hex'))!.pack === lostPack);
    expect(inLostPack).toContain('a/lost.bin');
    const missing = (rep.errors as { kind: string; snapshot?: string; path?: string }[]).filter((e) => e.kind === 'missing-blob');
    const bySnapshot = new Map<string, string[]>();
    for (const e of missing) bySnapshot.set(e.snapshot!, [...(bySnapshot.get(e.snapshot!) ?? []), e.path!]);
    expect(bySnapshot.size).toBe(2);
    for (const paths of bySnapshot.values()) expect(paths).toEqual(inLostPack.map((f) => `src/${f}`));
  });

  it('reports a file whose blobs do not add up to the size its node records, naming the snapshot, the path and both sizes', async () => {
    const work = tempDir();
    const src = join(work, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'f.txt'), 'real file\n');
    const policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas'), media: 'nas', offsite: false } }, rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    const base = { mode: 0o644, uid: 0, gid: 0, mtime: 0 };
    const id = await craftSnapshot(join(work, 'nas'), [
      { ...base, name: 'short', type: 'file', size: 0, data: 'twelve bytes', recordedSize: 25 },
      { ...base, name: 'right', type: 'file', size: 0, data: 'fine' },
    ]);

    const bad = triad(['check', '-p', policy, '--json'], { env: PASS });
    expect(bad.code).toBe(4);
    const errors = JSON.parse(bad.stdout).targets[0].errors as { kind: string; snapshot?: string; path?: string; message: string }[];
    expect(errors).toEqual([{ kind: 'size-mismatch', snapshot: id, path: 'short', message: `snapshot ${id.slice(0, 8)}: short: its blobs add up to 12 bytes, the snapshot records 25` }]);
    const human = triad(['check', '-p', policy], { env: PASS });
    expect(human.code).toBe(4);
    expect(human.stdout + human.stderr).toContain(`snapshot ${id.slice(0, 8)}: short: its blobs add up to 12 bytes, the snapshot records 25`);
  });
});
