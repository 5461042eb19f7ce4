import tar, { type Header } from 'tar-stream';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { asError, TriadError } from '../../core/errors.js';
import { hasEscapedBytes, nameBytes } from '../../core/names.js';
import type { BlobReader } from '../read/index.js';
import { contentSizeMismatch } from '../check/index.js';
import { decimalSeconds, nodeMtimeNs } from '../model/index.js';
import { HeldTrees, heldContent, walkTree } from '../read/index.js';
import { LinkFirstNames, isSpecialType, type TreeNode } from '../model/index.js';

/**
 * Streams a (sub)tree as a POSIX (ustar/pax) tar archive; file contents are fetched as the
 * planned byte ranges of their packs, a bounded distance ahead, so memory grows only with the
 * trees of the subtree (held for the walk), not with its data. On an error the
 * stream stops where it is, without the end-of-archive blocks, and the error is thrown.
 */
export async function dumpTar(reader: BlobReader, tree: string, prefix: string, single: TreeNode | undefined, out: Writable, signal?: AbortSignal): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, out);
  // Settled below in every case; awaited only on success (its rejection then is a write error).
  done.catch(() => undefined);
  // Waits for the output (drain, end of an entry) also end when the reader went away or the
  // run was cancelled; otherwise a closed pipe would leave them pending for ever.
  const stopped = new Promise<never>((_, reject) => {
    done.catch(reject);
    if (signal) signal.addEventListener('abort', () => reject(asError(signal.reason)), { once: true });
  });
  stopped.catch(() => undefined);
  const unlessStopped = <T>(p: Promise<T>): Promise<T> => {
    // Once stopped, the entry's own promise may still reject (destroyed stream): that is no news.
    p.catch(() => undefined);
    return Promise.race([p, stopped]);
  };
  // An entry still open when the archive is destroyed emits that error: it is ours, thrown below.
  const entry = (header: Partial<Header> & Pick<Header, 'name'>) => pack.entry(header).on('error', () => undefined);
  // A file's later names are tar hard-link entries to the first one written.
  const firstNames = new LinkFirstNames();
  const put = async (name: string, node: TreeNode) => {
    signal?.throwIfAborted();
    const first = node.type === 'file' ? firstNames.of(name, node) : name;
    // What a symlink points to, or the first name of a hard link's group.
    const link = node.type === 'symlink' ? node.target ?? '' : first !== name ? first : undefined;
    const header = bytesHeader(name, link, node, pack) ?? { name, mode: node.mode, uid: node.uid, gid: node.gid, ...tarTime(node) };
    if (node.type === 'dir') {
      entry({ ...header, type: 'directory' });
    } else if (node.type === 'symlink') {
      entry({ ...header, type: 'symlink', linkname: header.linkname ?? link ?? '' });
    } else if (isSpecialType(node.type)) {
      entry({ ...header, type: SPECIAL_TAR_TYPE[node.type], devmajor: node.devMajor ?? 0, devminor: node.devMinor ?? 0 });
    } else if (link !== undefined) {
      entry({ ...header, type: 'link', linkname: header.linkname ?? link });
    } else {
      const wrongSize = contentSizeMismatch(reader.index, node);
      if (wrongSize) throw sizeError(reader, name, wrongSize);
      const body = entry({ ...header, type: 'file', size: node.size });
      let written = 0;
      for (const id of node.content ?? []) {
        const data = await reader.blob(id);
        written += data.length;
        // The index's lengths agreed, the blobs (authenticated) do not: the header's size would be a lie.
        if (written > node.size) throw sizeError(reader, name, `its blobs hold more than the ${node.size} bytes the snapshot records`);
        if (!body.write(data)) await unlessStopped(new Promise<void>((r) => body.once('drain', () => r())));
      }
      if (written !== node.size) throw sizeError(reader, name, `its blobs hold ${written} bytes, the snapshot records ${node.size}`);
      await unlessStopped(new Promise<void>((resolve, reject) => body.end((err?: Error | null) => (err ? reject(err) : resolve()))));
    }
  };
  try {
    if (single && single.type !== 'dir') {
      reader.plan(single.content ?? []);
      await put(prefix, single);
    } else {
      // The trees first, then every file's content planned in the order the walk writes it.
      const trees = await new HeldTrees(reader).load(tree, () => true, prefix);
      const planNames = new LinkFirstNames();
      reader.plan(heldContent(trees, tree, (path, node) => planNames.of(path, node) === path, prefix));
      if (single) await put(prefix, single);
      for await (const { path, node } of walkTree(trees, tree, prefix)) await put(path, node);
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    throw err;
  }
  await done;
}

const SPECIAL_TAR_TYPE = { fifo: 'fifo', chardev: 'character-device', blockdev: 'block-device' } as const;

type EntryHeader = Partial<Header> & Pick<Header, 'name' | 'mode' | 'uid' | 'gid' | 'mtime'>;

/**
 * For an entry whose name or link target (a symlink's, or a hard link's first name) holds bytes that are not UTF-8: writes a PAX header
 * of its own with the path (and link path) as their bytes, which GNU tar and bsdtar extract
 * as they are, and returns the entry's header with ASCII stand-ins that those records
 * override. tar-stream's own PAX headers encode strings as UTF-8, turning each such byte
 * into U+FFFD. Undefined for every other entry.
 */
function bytesHeader(name: string, link: string | undefined, node: TreeNode, pack: tar.Pack): EntryHeader | undefined {
  const target = link ?? '';
  if (!hasEscapedBytes(name) && !hasEscapedBytes(target)) return undefined;
  const time = tarTime(node);
  const records = [paxRecord('path', nameBytes(name))];
  if (link !== undefined) records.push(paxRecord('linkpath', nameBytes(target)));
  if (time.pax) records.push(paxRecord('mtime', Buffer.from(time.pax.mtime!)));
  const body = Buffer.concat(records);
  // tar-stream refuses a body for any type but a file, so the entry is opened as a file and
  // its type set before the header is encoded (when the entry's turn comes, never at once).
  const header: Partial<Header> & Pick<Header, 'name'> = { name: 'PaxHeader', type: 'file', size: body.length, mode: 0o644, mtime: time.mtime };
  const sink = pack.entry(header);
  header.type = PAX_HEADER;
  sink.on('error', () => undefined).end(body);
  return { name: asciiStandIn(name), mode: node.mode, uid: node.uid, gid: node.gid, mtime: time.mtime, linkname: link !== undefined ? asciiStandIn(target) : undefined };
}

/** tar-stream writes this type (typeflag 'x') but its type declarations do not list it. */
const PAX_HEADER = 'pax-header' as unknown as Header['type'];

/** A PAX record: its own length in decimal (counting those digits), a space, key=value and a newline. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}

/** A ustar name of printable ASCII that fits the 100-byte field (a directory's '/' included). */
function asciiStandIn(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '_').slice(-99);
}

function sizeError(reader: BlobReader, path: string, why: string): TriadError {
  return new TriadError('E_INTEGRITY', `${path}: ${why}; the tar stream stops here`, {
    hint: `run 'triad check -p POLICY --target ${reader.repo.target}'; restore this file from another target or snapshot`,
  });
}

/** Largest time tar-stream writes into the ustar field correctly (it truncates seconds to 32 bits). */
const USTAR_MAX_SECONDS = 2 ** 31 - 1;

/**
 * The header's time: whole seconds in the ustar field where they fit, and a PAX `mtime`
 * record with the exact value where they do not (before 1970, after 2038, or a fraction).
 */
function tarTime(node: TreeNode): { mtime: Date; pax?: Record<string, string> } {
  const ns = nodeMtimeNs(node);
  const seconds = Math.min(Math.max(Number(ns / 1_000_000_000n), 0), USTAR_MAX_SECONDS);
  const mtime = new Date(seconds * 1000);
  return BigInt(seconds) * 1_000_000_000n === ns ? { mtime } : { mtime, pax: { mtime: decimalSeconds(ns) } };
}
