import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PASS, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';
import { openRepo } from '../prune/helpers.js';
import { BlobReader } from '../../src/repo/read/blob-reader.js';
import { MasterIndex } from '../../src/repo/index/index-store.js';
import { loadSnapshots } from '../../src/repo/model/snapshot.js';

// A tree's id is the keyed hash of its JSON, so the order in which a backup writes a node's
// fields decides whether an unchanged directory dedupes against the trees of earlier
// versions. docs/FORMAT.md gives the order; the archiver builds nodes field by field.
describe('tree nodes as a backup writes them', () => {
  it('have their fields in the order docs/FORMAT.md gives, for files, directories and symlinks', async () => {
    const work = tempDir();
    const src = join(work, 'src');
    mkdirSync(join(src, 'dir'), { recursive: true });
    writeFileSync(join(src, 'file.txt'), 'some content\n');
    symlinkSync('file.txt', join(src, 'link'));
    // Times to the nanosecond, which Linux file systems keep: each node then has mtimeNs too.
    for (const name of ['dir', 'file.txt', 'link']) expect(spawnSync('touch', ['-h', '-d', '2024-05-06 07:08:09.123456789 UTC', join(src, name)]).status).toBe(0);
    const policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas'), media: 'nas', offsite: false } }, rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    // Twice: the second backup builds the unchanged file's node from its parent snapshot's.
    for (let i = 0; i < 2; i++) expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    const repo = await openRepo(join(work, 'nas'));
    try {
      const reader = new BlobReader(repo, await MasterIndex.load(repo));
      const snaps = await loadSnapshots(repo);
      expect(snaps).toHaveLength(2);
      const keysOf = async (tree: string) => (JSON.parse((await reader.blob(tree, 'tree')).toString('utf8')) as { nodes: Record<string, unknown>[] }).nodes.map((n) => Object.keys(n));
      const root = (await reader.tree(snaps[1]!.tree)).nodes;
      expect(root.map((n) => n.name)).toEqual(['src']);
      for (const snap of snaps) {
        const srcTree = (await reader.tree(snap.tree)).nodes[0]!.subtree!;
        expect(await keysOf(srcTree)).toEqual([
          ['name', 'mode', 'uid', 'gid', 'mtime', 'mtimeNs', 'type', 'size', 'subtree'],
          ['name', 'mode', 'uid', 'gid', 'mtime', 'mtimeNs', 'type', 'size', 'ctime', 'inode', 'dev', 'content', 'hash'],
          ['name', 'mode', 'uid', 'gid', 'mtime', 'mtimeNs', 'type', 'size', 'target'],
        ]);
      }
      // Nothing changed: the second snapshot is the same tree.
      expect(snaps[1]!.tree).toBe(snaps[0]!.tree);
    } finally {
      await repo.storage.close();
    }
  });
});
