import type { BlobReader } from './blob-reader.js';
import type { Tree, TreeNode } from '../model/index.js';

/** What reads trees: a BlobReader, or the trees a walk holds. */
export interface TreeSource {
  tree(id: string): Promise<Tree>;
}

export interface WalkEntry {
  /** '/'-separated path inside the snapshot, e.g. `demo-data/docs/a.txt`. */
  path: string;
  node: TreeNode;
}

/** Depth-first, in name order; a directory is yielded before its children. */
export async function* walkTree(reader: TreeSource, treeId: string, prefix = ''): AsyncGenerator<WalkEntry> {
  const tree = await reader.tree(treeId);
  for (const node of tree.nodes) {
    const path = prefix ? `${prefix}/${node.name}` : node.name;
    yield { path, node };
    if (node.type === 'dir' && node.subtree) yield* walkTree(reader, node.subtree, path);
  }
}

/** The content blob ids of the files below `treeId`, in walk order, from trees already held (others are left out). */
export function* heldContent(trees: HeldTrees, treeId: string, keep: (path: string, node: TreeNode) => boolean = () => true, prefix = ''): Generator<string> {
  for (const node of trees.peek(treeId)?.nodes ?? []) {
    const path = prefix ? `${prefix}/${node.name}` : node.name;
    if (!keep(path, node)) continue;
    if (node.type === 'dir' && node.subtree) yield* heldContent(trees, node.subtree, keep, path);
    else if (node.type === 'file') yield* node.content ?? [];
  }
}

/** Finds the node at `path` (or the root when path is empty/'/'); undefined when absent. */
export async function findNode(reader: TreeSource, rootTree: string, path: string): Promise<{ node?: TreeNode; tree: string; path: string } | undefined> {
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

/**
 * Trees a walk has loaded, by id: a walk that must not fetch a tree twice reads them from here.
 * They are held as stored (compressed and sealed) and decoded each time they are asked for:
 * decoded, the bench corpus's trees held 42 MiB through a restore (bench/RESULTS.md, "Peak memory").
 */
export class HeldTrees implements TreeSource {
  /** Stored bytes of prefetched trees; a tree read on its own (packs mode, a failed range) is held decoded. */
  private readonly held = new Map<string, Buffer | Tree>();

  constructor(private readonly reader: BlobReader) {}

  /** The tree, from those held, else read (a tree that failed to load fails here with its error). */
  async tree(id: string): Promise<Tree> {
    return this.peek(id) ?? this.reader.tree(id);
  }

  /** The tree if held and whole, decoded afresh. */
  peek(id: string): Tree | undefined {
    const sealed = this.held.get(id);
    if (!sealed || !Buffer.isBuffer(sealed)) return sealed;
    try {
      return this.reader.sealedTree(id, sealed);
    } catch {
      // Read again by `tree`, which reports the failure.
      this.held.delete(id);
      return undefined;
    }
  }

  /**
   * Loads the trees below `root` (the root included) whose directories `enter` admits, level
   * by level, each level's trees fetched ahead together. A tree that fails to load is left
   * out; `tree` reports its error. Holds them, and the other trees the fetched ranges held,
   * until this object is dropped: memory grows with the directories walked (their stored size).
   */
  async load(root: string, enter: (path: string, node: TreeNode) => boolean, prefix = ''): Promise<this> {
    let level: { id: string; path: string }[] = [{ id: root, path: prefix }];
    while (level.length > 0) {
      const next: { id: string; path: string }[] = [];
      for (let i = 0; i < level.length; i += PREFETCH_BATCH) {
        const batch = level.slice(i, i + PREFETCH_BATCH);
        const fetched = await this.reader.prefetchTrees(batch.map((t) => t.id), (id) => this.held.has(id));
        for (const [id, sealed] of fetched) this.held.set(id, sealed);
        for (const { id, path } of batch) {
          let tree = this.peek(id);
          if (!tree) {
            tree = await this.reader.tree(id).catch(() => undefined);
            if (!tree) continue;
            this.held.set(id, tree);
          }
          for (const node of tree.nodes) {
            const sub = path ? `${path}/${node.name}` : node.name;
            if (node.type === 'dir' && node.subtree && enter(sub, node)) next.push({ id: node.subtree, path: sub });
          }
        }
      }
      level = next;
    }
    return this;
  }
}

/** Trees asked for at once: bounds the requests a level queues, not what is held. */
const PREFETCH_BATCH = 1024;
