import { openLocalStorage } from '../../src/backends/local.js';
import { fixedClock } from '../../src/core/clock.js';
import { MasterIndex } from '../../src/repo/index/index-store.js';
import { Repository } from '../../src/repo/repository.js';
import { sealSnapshot, type SnapshotManifest } from '../../src/repo/model/snapshot.js';
import { MultiTargetWriter } from '../../src/repo/backup/writer.js';
import type { TreeNode } from '../../src/repo/model/tree.js';
import { PASS } from './triad.js';

/**
 * A node of a crafted root tree. `data`: a file's content, stored as one blob (under the id
 * of `storedAs` when given); its node then records the content's length, or `recordedSize`.
 */
export type CraftedNode = Omit<TreeNode, 'content'> & { data?: string; storedAs?: string; recordedSize?: number };

/** Writes a snapshot whose root tree is exactly `nodes` (as an attacker with the key could); returns its id. */
export async function craftSnapshot(repoDir: string, nodes: CraftedNode[]): Promise<string> {
  const storage = await openLocalStorage(repoDir);
  const repo = await Repository.open('nas', storage, PASS.TEST_PASSPHRASE);
  const session = { name: 'nas', repo, index: await MasterIndex.load(repo), bytesWritten: 0, packsWritten: 0 };
  const writer = new MultiTargetWriter([session], 'auto');
  const real: TreeNode[] = [];
  for (const n of nodes) {
    const { data, storedAs, recordedSize, ...rest } = n;
    if (data !== undefined) {
      const buf = Buffer.from(data);
      const id = repo.blobId(storedAs === undefined ? buf : Buffer.from(storedAs));
      await writer.add('data', id, buf);
      real.push({ ...rest, size: recordedSize ?? buf.length, content: [id.toString('hex')], hash: id.toString('hex') });
    } else real.push(rest as TreeNode);
  }
  // Bypass encodeTree's sorting/validation: the attacker writes raw JSON.
  const treeBytes = Buffer.from(JSON.stringify({ nodes: real }));
  const treeId = repo.blobId(treeBytes);
  await writer.add('tree', treeId, treeBytes);
  await writer.finishData();
  const clock = fixedClock('2030-01-01T00:00:00Z');
  const manifest: SnapshotManifest = {
    version: 1, time: clock.now().toISOString(), finished: clock.now().toISOString(), policy: 'test', host: 'evil', paths: ['/x'],
    tree: treeId.toString('hex'), partial: false, tags: [],
    summary: { files: 1, dirs: 0, bytes: 0, filesNew: 0, filesChanged: 0, filesUnchanged: 0, bytesRead: 0, dataAdded: 0, dataAddedPacked: 0, blobsNew: 0, warnings: 0 },
  };
  const { id, sealed } = sealSnapshot(repo, manifest);
  await storage.save(`snapshots/${id}`, sealed);
  await storage.close();
  return id;
}
