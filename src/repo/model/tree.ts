import { TriadError } from '../../core/errors.js';
import { ID_RE } from '../format.js';
import { isNodeTime } from './times.js';
import { isCanonicalName } from '../../core/names.js';

export type NodeType = 'file' | 'dir' | 'symlink' | SpecialType;

/** Node types without content: a named pipe, and character and block devices (with `devMajor`/`devMinor`). */
export type SpecialType = 'fifo' | 'chardev' | 'blockdev';

export const SPECIAL_TYPES: readonly SpecialType[] = ['fifo', 'chardev', 'blockdev'];

export function isSpecialType(t: string): t is SpecialType {
  return (SPECIAL_TYPES as readonly string[]).includes(t);
}

export function isDeviceType(t: string): t is 'chardev' | 'blockdev' {
  return t === 'chardev' || t === 'blockdev';
}

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
  /** Extended attributes (POSIX ACLs included) by name, values base64, names sorted; absent when none. */
  xattrs?: Record<string, string>;
  links?: number; // files with more than one name: the link count at backup (a group is its dev and inode)
  devMajor?: number; // chardev, blockdev
  devMinor?: number;
}

/** The hard-link group of a file node (its device and inode), or undefined when it has one name. */
export function linkGroupOf(n: TreeNode): string | undefined {
  return n.type === 'file' && n.links !== undefined && n.links > 1 && n.inode !== undefined && n.dev !== undefined ? `${n.dev}:${n.inode}` : undefined;
}

/**
 * The first name met, in walk order, of each hard-link group: the name whose content a restore
 * or dump writes, the later names being links to it.
 */
export class LinkFirstNames {
  private readonly first = new Map<string, string>();

  /** The first name met of `node`'s group: `path` itself for the first, and for a file with one name. */
  of(path: string, node: TreeNode): string {
    const group = linkGroupOf(node);
    if (group === undefined) return path;
    const known = this.first.get(group);
    if (known !== undefined) return known;
    this.first.set(group, path);
    return path;
  }
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
  const what = `tree ${id.slice(0, 12)}`;
  let tree: unknown;
  try {
    tree = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new TriadError('E_INTEGRITY', `${what} is not valid JSON`);
  }
  if (typeof tree !== 'object' || tree === null || !Array.isArray((tree as Tree).nodes)) throw new TriadError('E_INTEGRITY', `${what} has no node list`);
  const seen = new Set<string>();
  for (const n of (tree as { nodes: unknown[] }).nodes) {
    if (typeof n !== 'object' || n === null) throw new TriadError('E_INTEGRITY', `${what} has an entry that is not a node`);
    const node = n as TreeNode;
    if (!isSafeName(node.name)) {
      throw new TriadError('E_UNSAFE_PATH', `${what} contains an unsafe entry name ${JSON.stringify(node.name)}`, {
        hint: 'the snapshot was crafted or damaged; nothing outside the restore directory is written',
      });
    }
    if (seen.has(node.name)) {
      throw new TriadError('E_UNSAFE_PATH', `${what} contains the name ${JSON.stringify(node.name)} twice`, {
        hint: 'the snapshot was crafted or damaged; restore another snapshot, or only other paths of this one',
      });
    }
    seen.add(node.name);
    checkNode(node, what);
  }
  return tree as Tree;
}

/** The fields restore and check rely on, of the right type for the node's kind. */
function checkNode(n: TreeNode, what: string): void {
  const name = JSON.stringify(n.name);
  if (n.type !== 'file' && n.type !== 'dir' && n.type !== 'symlink' && !isSpecialType(n.type)) throw new TriadError('E_INTEGRITY', `unknown node type in ${what}`);
  if (n.type === 'dir' && n.subtree !== undefined && (typeof n.subtree !== 'string' || !ID_RE.test(n.subtree))) throw new TriadError('E_INTEGRITY', `bad subtree id in ${what}`);
  if (n.type === 'file' && (!Array.isArray(n.content) || !n.content.every((c) => typeof c === 'string' && ID_RE.test(c)))) {
    throw new TriadError('E_INTEGRITY', `bad content list for ${name} in ${what}`);
  }
  if (n.type === 'symlink' && typeof n.target !== 'string') throw new TriadError('E_INTEGRITY', `bad link target for ${name} in ${what}`);
  if (n.hash !== undefined && typeof n.hash !== 'string') throw new TriadError('E_INTEGRITY', `bad content hash for ${name} in ${what}`);
  if (n.links !== undefined && !isWholeNumber(n.links)) throw new TriadError('E_INTEGRITY', `bad link count for ${name} in ${what}`);
  if (isDeviceType(n.type) && !(isWholeNumber(n.devMajor) && isWholeNumber(n.devMinor))) throw new TriadError('E_INTEGRITY', `bad device number for ${name} in ${what}`);
  if (!isNodeTime(n)) throw new TriadError('E_INTEGRITY', `bad modification time for ${name} in ${what}`);
  if (n.xattrs !== undefined && !isXattrMap(n.xattrs)) throw new TriadError('E_INTEGRITY', `bad extended attributes for ${name} in ${what}`);
  if (![n.mode, n.uid, n.gid, n.size].every(isWholeNumber)) throw new TriadError('E_INTEGRITY', `bad mode, owner or size for ${name} in ${what}`);
}

function isXattrMap(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

function isWholeNumber(v: unknown): boolean {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/** A single path component; names that are not UTF-8 are escaped bytes (core/names.ts), each name spelled one way only. */
export function isSafeName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0') && isCanonicalName(name);
}
