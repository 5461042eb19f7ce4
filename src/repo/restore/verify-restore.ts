import { fsPath } from '../../core/names.js';
import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TriadError, fsError } from '../../core/errors.js';
import { StorageError } from '../../backends/storage.js';
import { BlobError, type BlobReader } from '../read/index.js';
import { emptyResult, restoreFile } from './restorer.js';
import { keyedFileHash } from './file-hash.js';
import { isSafeName, type TreeNode } from '../model/index.js';
import { findNode, type TreeSource } from '../read/index.js';

/** Why a sampled file failed a restore test; stable names, used in JSON and JUnit output. */
export type FailureKind =
  | 'target-unreachable'
  | 'damaged-repository'
  | 'missing-snapshot'
  | 'missing-file'
  | 'missing-pack'
  | 'missing-blob'
  | 'truncated-pack'
  | 'decryption-failure'
  | 'damaged-tree'
  | 'hash-mismatch'
  | 'size-mismatch'
  | 'mode-mismatch'
  | 'source-mismatch'
  | 'error';

export interface Failure {
  kind: FailureKind;
  reason: string;
  pack?: string;
  blob?: string;
}

/** What the catalogue (or the snapshot listing) recorded for a file at backup time. */
export interface ExpectedFile {
  path: string;
  size: number;
  mode?: number;
  /** Whole-content keyed hash (HMAC-SHA-256 with the repository's MAC key), 64 hex. */
  hash?: string | null;
}

export interface FileVerification {
  ok: boolean;
  failure?: Failure;
  /** Plaintext bytes written to the scratch directory. */
  bytes: number;
  /** Time to fetch, decrypt and write the file. */
  transferMs: number;
  /** Time to read the restored copy back and hash it. */
  verifyMs: number;
  node?: TreeNode;
  /** Keyed hash of the restored copy, when it was restored. */
  hash?: string;
}

export interface VerifyOptions {
  /** Scratch directory; the file is written below it at its snapshot path. */
  scratch: string;
  /** Pack sizes the replica stores (listStoredPacks), to catch truncated packs the file does not reach into. */
  stored: ReadonlyMap<string, number>;
  monotonic(): number;
  signal?: AbortSignal;
}

/** A sampled file's node in the snapshot, or why it cannot be restored (then nothing of it is read). */
export type Located = { node: TreeNode } | { failure: Failure; node?: TreeNode };

/** Finds a sampled file in the snapshot's tree and checks it against what the catalogue recorded. */
export async function locateSampled(reader: TreeSource, rootTree: string, expected: ExpectedFile): Promise<Located> {
  const parts = expected.path.split('/');
  if (!parts.every(isSafeName)) return { failure: { kind: 'error', reason: `unsafe path ${JSON.stringify(expected.path)} in the listing` } };
  let node: TreeNode | undefined;
  try {
    node = (await findNode(reader, rootTree, expected.path))?.node;
  } catch (err) {
    rethrowFatal(err);
    return { failure: classifyFailure(err) };
  }
  if (!node) return { failure: { kind: 'missing-file', reason: `${expected.path} is not in the snapshot's tree on this target` } };
  if (node.type !== 'file') return { node, failure: { kind: 'missing-file', reason: `${expected.path} is a ${node.type} in the snapshot, not a file` } };
  if (node.size !== expected.size) return { node, failure: { kind: 'size-mismatch', reason: `the catalogue records ${expected.size} bytes, the snapshot ${node.size}` } };
  if (expected.hash && node.hash && expected.hash !== node.hash) return { node, failure: { kind: 'hash-mismatch', reason: "the snapshot's content hash differs from the catalogue's" } };
  return { node };
}

/**
 * Restores one file of a snapshot from one replica into `scratch` and verifies the copy on
 * disk: size and mode against the snapshot, whole-content keyed hash against `expected`
 * (the catalogue's record, else the snapshot's). Problems are returned, never thrown;
 * only an abort or a full scratch disk throws.
 */
export async function restoreAndVerify(reader: BlobReader, rootTree: string, expected: ExpectedFile, opts: VerifyOptions, located?: Located): Promise<FileVerification> {
  const res: FileVerification = { ok: false, bytes: 0, transferMs: 0, verifyMs: 0 };
  const fail = (f: Failure): FileVerification => ({ ...res, ok: false, failure: f });
  const found = located ?? (await locateSampled(reader, rootTree, expected));
  if ('failure' in found) return { ...res, ...(found.node ? { node: found.node } : {}), ok: false, failure: found.failure };
  const { node } = found;
  res.node = node;
  const parts = expected.path.split('/');

  const out = join(opts.scratch, ...parts);
  try {
    mkdirSync(fsPath(join(opts.scratch, ...parts.slice(0, -1))), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fsError(err, out);
  }
  const acc = emptyResult();
  const t0 = opts.monotonic();
  try {
    await restoreFile(reader, node, out, expected.path, { to: opts.scratch, owner: false, overwrite: false, signal: opts.signal }, acc);
  } catch (err) {
    rethrowFatal(err);
    res.transferMs = opts.monotonic() - t0;
    return fail(classifyFailure(err));
  }
  res.transferMs = opts.monotonic() - t0;
  res.bytes = acc.bytes;

  const t1 = opts.monotonic();
  const st = lstatSync(fsPath(out));
  res.hash = await keyedFileHash(reader.repo.key.mac, out, opts.signal);
  res.verifyMs = opts.monotonic() - t1;
  if (st.size !== node.size) return fail({ kind: 'size-mismatch', reason: `restored ${st.size} bytes, the snapshot says ${node.size}` });
  if ((st.mode & 0o7777) !== (node.mode & 0o7777)) return fail({ kind: 'mode-mismatch', reason: `restored mode ${octal(st.mode)}, the snapshot says ${octal(node.mode)}` });
  if (expected.mode !== undefined && (expected.mode & 0o7777) !== (node.mode & 0o7777)) {
    return fail({ kind: 'mode-mismatch', reason: `the catalogue records mode ${octal(expected.mode)}, the snapshot ${octal(node.mode)}` });
  }
  const want = expected.hash ?? node.hash;
  if (want && res.hash !== want) return fail({ kind: 'hash-mismatch', reason: `the restored content's hash ${res.hash.slice(0, 12)} differs from the recorded ${want.slice(0, 12)}` });

  // Every byte of this file came back intact, but a pack it lives in may still be short or
  // gone from the listing (its tail truncated beyond this file's blobs): the copy is damaged.
  for (const c of node.content ?? []) {
    const loc = reader.index.get(c);
    if (!loc) continue;
    const actual = opts.stored.get(loc.pack);
    const recorded = reader.index.packs.get(loc.pack);
    if (actual === undefined) return fail({ kind: 'missing-pack', pack: loc.pack, blob: c, reason: `pack ${loc.pack.slice(0, 12)} is no longer listed on the target` });
    if (recorded !== undefined && actual !== recorded) {
      return fail({ kind: 'truncated-pack', pack: loc.pack, blob: c, reason: `pack ${loc.pack.slice(0, 12)} has ${actual} bytes, the index says ${recorded} (truncated or damaged)` });
    }
  }
  return { ...res, ok: true };
}

/** Names the cause of a failed file restore in the vocabulary of FailureKind. */
export function classifyFailure(err: unknown): Failure {
  const reason = err instanceof Error ? err.message : String(err);
  if (err instanceof BlobError) {
    const base = { reason, blob: err.blobId, ...(err.pack ? { pack: err.pack } : {}) };
    if (/pack file is missing/.test(reason)) return { kind: 'missing-pack', ...base };
    if (/not in any index/.test(reason)) return { kind: 'missing-blob', ...base };
    if (/pack is truncated|ciphertext too short/.test(reason)) return { kind: 'truncated-pack', ...base };
    // Authentication failures and content that does not match its id: the bytes changed.
    return { kind: 'decryption-failure', ...base };
  }
  if (err instanceof TriadError) {
    if (/^size mismatch/.test(reason)) return { kind: 'size-mismatch', reason };
    if (/^content hash mismatch/.test(reason)) return { kind: 'hash-mismatch', reason };
    if (/^(tree|bad (subtree|content list|link target|content hash|modification time|mode)|unknown node type)/.test(reason) || err.code === 'E_UNSAFE_PATH') return { kind: 'damaged-tree', reason };
    if (err.code === 'E_BACKEND_UNREACHABLE') return { kind: 'target-unreachable', reason };
    return { kind: 'error', reason };
  }
  if (err instanceof StorageError) {
    if (err.kind === 'unreachable' || err.kind === 'auth') return { kind: 'target-unreachable', reason };
    if (err.kind === 'not-found') return { kind: 'missing-pack', reason };
  }
  return { kind: 'error', reason };
}

function rethrowFatal(err: unknown): void {
  if ((err as Error | undefined)?.name === 'AbortError') throw err;
  if (err instanceof TriadError && err.code === 'E_NO_SPACE') throw err;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}
