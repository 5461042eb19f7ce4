import { TriadError } from '../../core/errors.js';
import { ID_RE } from '../format.js';
import { isNodeTime } from './times.js';

export type NodeType = 'file' | 'dir' | 'symlink';

/** One directory entry of a tree blob. Field names are part of the format (docs/FORMAT.md). */
export interface TreeNode {
  name: string;
  type: NodeType;
  mode: number; // permission bits (& 0o7777)
  uid: number;
  gid: number;
  mtime: number; // ms since epoch, fractional
  mtimeNs?: string; // exact ns since epoch (decimal), only where mtime does not give it (times.ts)
  ctime?: number;
  inode?: number;
  dev?: number;
  size: number; // files: content length; others 0
  content?: string[]; // files: data blob ids in order
  hash?: string; // files: keyed hash of the whole content (restore tests verify it)
  subtree?: string; // dirs: tree blob id
  target?: string; // symlinks
}

export interface Tree {
  nodes: TreeNode[];
}

export function encodeTree(nodes: TreeNode[]): Buffer {
  nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return Buffer.from(JSON.stringify({ nodes }));
}

/**
 * A snapshot is untrusted input when restoring (it may have been crafted): names must be
 * single path components, unique, and ids well-formed, or the tree is rejected.
 */
export function decodeTree(bytes: Buffer, id: string): Tree {
  let tree: Tree;
  try {
    tree = JSON.parse(bytes.toString('utf8')) as Tree;
  } catch {
    throw new TriadError('E_INTEGRITY', `tree ${id.slice(0, 12)} is not valid JSON`);
  }
  if (!tree || !Array.isArray(tree.nodes)) throw new TriadError('E_INTEGRITY', `tree ${id.slice(0, 12)} has no node list`);
  const seen = new Set<string>();
  for (const n of tree.nodes) {
    if (!isSafeName(n.name)) {
      throw new TriadError('E_UNSAFE_PATH', `tree ${id.slice(0, 12)} contains an unsafe entry name ${JSON.stringify(n.name)}`, {
        hint: 'the snapshot was crafted or damaged; nothing outside the restore directory is written',
      });
    }
    if (seen.has(n.name)) {
      throw new TriadError('E_UNSAFE_PATH', `tree ${id.slice(0, 12)} contains the name ${JSON.stringify(n.name)} twice`, {
        hint: 'the snapshot was crafted or damaged; restore another snapshot, or only other paths of this one',
      });
    }
    seen.add(n.name);
    if (n.type === 'dir' && n.subtree !== undefined && !ID_RE.test(n.subtree)) throw new TriadError('E_INTEGRITY', `bad subtree id in tree ${id.slice(0, 12)}`);
    if (n.type === 'file' && (!Array.isArray(n.content) || !n.content.every((c) => ID_RE.test(c)))) {
      throw new TriadError('E_INTEGRITY', `bad content list for ${JSON.stringify(n.name)} in tree ${id.slice(0, 12)}`);
    }
    if (!isNodeTime(n)) throw new TriadError('E_INTEGRITY', `bad modification time for ${JSON.stringify(n.name)} in tree ${id.slice(0, 12)}`);
    if (n.type !== 'file' && n.type !== 'dir' && n.type !== 'symlink') throw new TriadError('E_INTEGRITY', `unknown node type in tree ${id.slice(0, 12)}`);
  }
  return tree;
}

export function isSafeName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}
