import { ID_RE } from '../format.js';
import type { BlobReader, TreeSource } from '../read/index.js';
import type { Repository } from '../repository.js';
import type { MasterIndex } from '../index/index.js';
import type { TreeNode } from '../model/index.js';

/** What the structural check of one snapshot on one replica can find. */
export interface StructureProblem {
  kind: 'missing-tree' | 'damaged-tree' | 'missing-blob' | 'missing-pack' | 'truncated-pack' | 'size-mismatch';
  /** Path inside the snapshot ('' for the root). */
  path: string;
  message: string;
  blob?: string;
  pack?: string;
}

export interface SnapshotStructure {
  trees: number;
  files: number;
  /** The first MAX_PROBLEMS problems found; `omitted` counts the rest. */
  problems: StructureProblem[];
  omitted: number;
}

export const MAX_PROBLEMS = 1000;

/** Sizes of the pack files a replica stores (one listing of `data/`). */
export async function listStoredPacks(repo: Repository, signal?: AbortSignal): Promise<Map<string, number>> {
  const stored = new Map<string, number>();
  for await (const o of repo.storage.list('data/', { signal })) {
    const id = o.name.slice(o.name.lastIndexOf('/') + 1);
    if (ID_RE.test(id)) stored.set(id, o.size);
  }
  return stored;
}

/**
 * Why a file node's blobs cannot give back its recorded size (their plaintext lengths as the
 * index records them: no pack is read), or undefined when they add up. A blob no index holds
 * is reported as missing instead.
 */
export function contentSizeMismatch(index: MasterIndex, node: TreeNode): string | undefined {
  let total = 0;
  for (const c of node.content ?? []) {
    const loc = index.get(c);
    if (!loc) return undefined;
    total += loc.rawLength;
  }
  return total === node.size ? undefined : `its blobs add up to ${total} bytes, the snapshot records ${node.size}`;
}

/**
 * Structure of one snapshot on one replica, without reading file data: every tree can be
 * read and decoded, every blob a file needs is in the index, and every pack holding one
 * exists with the size the index records. A subtree that cannot be read is reported and
 * its contents skipped, so one damaged directory does not hide the rest.
 */
export async function checkSnapshotStructure(reader: BlobReader, rootTree: string, stored: ReadonlyMap<string, number>, signal?: AbortSignal, trees: TreeSource = reader): Promise<SnapshotStructure> {
  const index = reader.index;
  const out: SnapshotStructure = { trees: 0, files: 0, problems: [], omitted: 0 };
  const report = (p: StructureProblem): void => {
    if (out.problems.length < MAX_PROBLEMS) out.problems.push(p);
    else out.omitted++;
  };
  const packProblem = (pack: string, path: string, blob: string): StructureProblem | undefined => {
    const actual = stored.get(pack);
    const expected = index.packs.get(pack);
    if (actual === undefined) return { kind: 'missing-pack', path, blob, pack, message: `${path || '/'}: pack ${pack.slice(0, 12)} is missing` };
    if (expected !== undefined && actual !== expected) {
      return { kind: 'truncated-pack', path, blob, pack, message: `${path || '/'}: pack ${pack.slice(0, 12)} has ${actual} bytes, the index says ${expected} (truncated or damaged)` };
    }
    return undefined;
  };
  const visit = async (treeId: string, prefix: string): Promise<void> => {
    signal?.throwIfAborted();
    const loc = index.get(treeId);
    if (!loc) {
      report({ kind: 'missing-tree', path: prefix, blob: treeId, message: `tree ${treeId.slice(0, 12)} of ${prefix || '/'} is not in any index` });
      return;
    }
    let nodes;
    try {
      nodes = (await trees.tree(treeId)).nodes;
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const p = packProblem(loc.pack, prefix, treeId);
      report({ kind: 'damaged-tree', path: prefix, blob: treeId, pack: loc.pack, message: `tree of ${prefix || '/'} cannot be read: ${(err as Error).message}${p ? ` (${p.message})` : ''}` });
      return;
    }
    out.trees++;
    for (const node of nodes) {
      const path = prefix ? `${prefix}/${node.name}` : node.name;
      if (node.type === 'dir' && node.subtree) await visit(node.subtree, path);
      if (node.type !== 'file') continue;
      out.files++;
      const wrongSize = contentSizeMismatch(index, node);
      if (wrongSize) report({ kind: 'size-mismatch', path, message: `${path}: ${wrongSize}` });
      for (const c of node.content ?? []) {
        const cl = index.get(c);
        if (!cl) {
          report({ kind: 'missing-blob', path, blob: c, message: `${path} needs blob ${c.slice(0, 12)}, which no index holds` });
          break;
        }
        const p = packProblem(cl.pack, path, c);
        if (p) {
          report(p);
          break;
        }
      }
    }
  };
  await visit(rootTree, '');
  return out;
}
