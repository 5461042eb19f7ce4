import type { BlobReader } from './blob-reader.js';
import type { TreeNode } from '../model/index.js';

export interface WalkEntry {
  /** '/'-separated path inside the snapshot, e.g. `demo-data/docs/a.txt`. */
  path: string;
  node: TreeNode;
}

/** Depth-first, in name order; a directory is yielded before its children. */
export async function* walkTree(reader: BlobReader, treeId: string, prefix = ''): AsyncGenerator<WalkEntry> {
  const tree = await reader.tree(treeId);
  for (const node of tree.nodes) {
    const path = prefix ? `${prefix}/${node.name}` : node.name;
    yield { path, node };
    if (node.type === 'dir' && node.subtree) yield* walkTree(reader, node.subtree, path);
  }
}

/** Finds the node at `path` (or the root when path is empty/'/'); undefined when absent. */
export async function findNode(reader: BlobReader, rootTree: string, path: string): Promise<{ node?: TreeNode; tree: string; path: string } | undefined> {
  const parts = path.split('/').filter((p) => p && p !== '.');
  if (parts.length === 0) return { tree: rootTree, path: '' };
  let tree = rootTree;
  let node: TreeNode | undefined;
  for (let i = 0; i < parts.length; i++) {
    node = (await reader.tree(tree)).nodes.find((n) => n.name === parts[i]);
    if (!node) return undefined;
    if (i < parts.length - 1) {
      if (node.type !== 'dir' || !node.subtree) return undefined;
      tree = node.subtree;
    }
  }
  return { node, tree: node!.type === 'dir' && node!.subtree ? node!.subtree : tree, path: parts.join('/') };
}
