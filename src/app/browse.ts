import { TriadError } from '../core/errors.js';
import { displayPath } from '../core/names.js';
import type { TreeNode } from '../repo/model/index.js';
import { HeldTrees, walkTree } from '../repo/read/index.js';
import { findShownPath, openForRead, pathInSnapshot, pickSnapshot } from './read.js';
import type { AppContext, HostSelection } from './session.js';

export interface LsEntry {
  path: string;
  type: TreeNode['type'];
  size: number;
  mode: number;
  mtime: string;
  uid: number;
  gid: number;
  /** Names the file had (hard links); 1 for every other entry. */
  links: number;
  target?: string;
  /** Device nodes: their major and minor numbers. */
  device?: { major: number; minor: number };
}

/** Paths and link targets shown escaped (displayPath): a name that is not UTF-8 stays unambiguous in text and JSON. */
function entry(path: string, n: TreeNode): LsEntry {
  const device = n.devMajor !== undefined && n.devMinor !== undefined ? { major: n.devMajor, minor: n.devMinor } : undefined;
  return { path: displayPath(path), type: n.type, size: n.size, mode: n.mode, mtime: new Date(n.mtime).toISOString(), uid: n.uid, gid: n.gid, links: n.links ?? 1, target: n.target === undefined ? undefined : displayPath(n.target), device };
}

export async function listTree(ctx: AppContext, opts: { policyFile: string; snapshot: string; path?: string; target?: string; recursive?: boolean; hosts?: HostSelection }): Promise<{ snapshot: string; target: string; timezone: string; entries: LsEntry[]; bytesFetched: number; requests: number }> {
  const s = await openForRead(ctx, opts.policyFile, opts.target, 'ls', opts.hosts);
  try {
    const snap = pickSnapshot(s, opts.snapshot);
    const found = await findShownPath(s.reader, snap.tree, pathInSnapshot(snap, opts.path ?? ''));
    if (!found) throw new TriadError('E_USAGE', `no path '${opts.path}' in snapshot ${snap.id.slice(0, 8)}`, { hint: `list the snapshot's top level with 'triad ls -p POLICY ${snap.id.slice(0, 8)}'` });
    const entries: LsEntry[] = [];
    if (found.node && found.node.type !== 'dir') {
      entries.push(entry(found.path, found.node));
    } else {
      const recursive = opts.recursive ?? true;
      if (recursive) {
        const trees = await new HeldTrees(s.reader).load(found.tree, () => true, found.path);
        for await (const { path, node } of walkTree(trees, found.tree, found.path)) entries.push(entry(path, node));
      } else {
        for (const n of (await s.reader.tree(found.tree)).nodes) entries.push(entry(found.path ? `${found.path}/${n.name}` : n.name, n));
      }
    }
    return { snapshot: snap.id, target: s.target, timezone: s.policy.timezone, entries, bytesFetched: s.reader.bytesFetched, requests: s.reader.requests };
  } finally {
    await s.close();
  }
}

export interface DiffResult {
  a: string;
  b: string;
  added: string[];
  removed: string[];
  modified: string[];
}

/** Compares two snapshots path by path; a file is modified when its content or metadata differ. */
export async function diffSnapshots(ctx: AppContext, opts: { policyFile: string; a: string; b: string; target?: string; hosts?: HostSelection }): Promise<DiffResult> {
  const s = await openForRead(ctx, opts.policyFile, opts.target, 'ls', opts.hosts);
  try {
    const a = pickSnapshot(s, opts.a);
    const b = pickSnapshot(s, opts.b);
    const result: DiffResult = { a: a.id, b: b.id, added: [], removed: [], modified: [] };
    await diffTrees(s.reader, a.tree, b.tree, '', result);
    return { ...result, added: result.added.map(displayPath), removed: result.removed.map(displayPath), modified: result.modified.map(displayPath) };
  } finally {
    await s.close();
  }
}

/** Extended attributes are kept with names sorted, so equal attributes serialise equally. */
function sameXattrs(a: TreeNode, b: TreeNode): boolean {
  return JSON.stringify(a.xattrs ?? {}) === JSON.stringify(b.xattrs ?? {});
}

async function diffTrees(reader: Parameters<typeof walkTree>[0], ta: string | undefined, tb: string | undefined, prefix: string, out: DiffResult): Promise<void> {
  if (ta === tb) return;
  const na = ta ? (await reader.tree(ta)).nodes : [];
  const nb = tb ? (await reader.tree(tb)).nodes : [];
  const mb = new Map(nb.map((n) => [n.name, n]));
  const ma = new Map(na.map((n) => [n.name, n]));
  const join = (n: string) => (prefix ? `${prefix}/${n}` : n);
  const all = async (tree: string | undefined, p: string, list: string[]) => {
    if (!tree) return;
    for await (const e of walkTree(reader, tree, p)) list.push(e.path);
  };
  for (const n of na) {
    const other = mb.get(n.name);
    const p = join(n.name);
    if (!other) {
      out.removed.push(p);
      if (n.type === 'dir') await all(n.subtree, p, out.removed);
    } else if (n.type !== other.type) {
      out.modified.push(p);
    } else if (n.type === 'dir') {
      if (n.mode !== other.mode || !sameXattrs(n, other)) out.modified.push(p);
      await diffTrees(reader, n.subtree, other.subtree, p, out);
    } else if (n.type === 'symlink' ? n.target !== other.target : n.hash !== other.hash || n.size !== other.size || n.mode !== other.mode || n.devMajor !== other.devMajor || n.devMinor !== other.devMinor || !sameXattrs(n, other)) {
      out.modified.push(p);
    }
  }
  for (const n of nb) {
    if (ma.has(n.name)) continue;
    const p = join(n.name);
    out.added.push(p);
    if (n.type === 'dir') await all(n.subtree, p, out.added);
  }
}
