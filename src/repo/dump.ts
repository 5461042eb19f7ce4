import tar from 'tar-stream';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobReader } from './blob-reader.js';
import { walkTree } from './walk.js';
import type { TreeNode } from './tree.js';

/**
 * Streams a (sub)tree as a POSIX (ustar/pax) tar archive; file contents are fetched blob by
 * blob, so memory stays bounded by the pack cache whatever the snapshot size.
 */
export async function dumpTar(reader: BlobReader, tree: string, prefix: string, single: TreeNode | undefined, out: Writable, signal?: AbortSignal): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, out);
  const put = async (name: string, node: TreeNode) => {
    signal?.throwIfAborted();
    const header = { name, mode: node.mode, uid: node.uid, gid: node.gid, mtime: new Date(node.mtime) };
    if (node.type === 'dir') {
      pack.entry({ ...header, type: 'directory' });
    } else if (node.type === 'symlink') {
      pack.entry({ ...header, type: 'symlink', linkname: node.target ?? '' });
    } else {
      const entry = pack.entry({ ...header, type: 'file', size: node.size });
      for (const id of node.content ?? []) {
        const data = await reader.blob(id);
        if (!entry.write(data)) await new Promise<void>((r) => entry.once('drain', () => r()));
      }
      await new Promise<void>((resolve, reject) => entry.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
  };
  try {
    if (single && single.type !== 'dir') {
      await put(prefix, single);
    } else {
      if (single) await put(prefix, single);
      for await (const { path, node } of walkTree(reader, tree, prefix)) await put(path, node);
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    throw err;
  }
  await done;
}
