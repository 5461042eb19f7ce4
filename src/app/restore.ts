import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { TriadError, errnoCode, exitCodeOf } from '../core/errors.js';
import { displayPath } from '../core/names.js';
import { dumpTar } from '../repo/restore/index.js';
import { restoreTree, type RestoreResult } from '../repo/restore/index.js';
import { findShownPath, openForRead, pathInSnapshot, patternsInSnapshot, pickSnapshot } from './read.js';
import { catalogFor, errorMessage, type AppContext, type HostSelection } from './session.js';

export interface RestoreOptions {
  policyFile: string;
  snapshot: string;
  to: string;
  target?: string;
  include?: string[];
  exclude?: string[];
  overwrite?: boolean;
  /** Remove what the snapshot does not have under the restored paths (requires `overwrite`). */
  delete?: boolean;
  /** False: write files' zeros (default: leave them as holes, so sparse files stay sparse). */
  sparse?: boolean;
  /** Whose `latest` (default this host's). */
  hosts?: HostSelection;
}

export interface RestoreSummary extends RestoreResult {
  snapshot: string;
  target: string;
  to: string;
  /** Bytes downloaded from the target (trees and the byte ranges of packs the restore needs). */
  bytesFetched: number;
  /** Load requests made for them. */
  requests: number;
  durationMs: number;
  exitCode: number;
}

export async function runRestore(ctx: AppContext, opts: RestoreOptions): Promise<RestoreSummary> {
  const to = resolve(ctx.cwd, opts.to);
  if (opts.delete && !opts.overwrite) {
    throw new TriadError('E_USAGE', '--delete removes files from the restore directory and needs --overwrite', { hint: `add --overwrite to make ${to} match the snapshot` });
  }
  if (!opts.overwrite && !isEmptyOrMissing(to)) {
    throw new TriadError('E_RESTORE_TARGET', `${to} is not empty`, { hint: 'restore into an empty or new directory, or pass --overwrite to replace files there' });
  }
  const started = ctx.clock.monotonic();
  const s = await openForRead(ctx, opts.policyFile, opts.target, 'restore', opts.hosts);
  const catalog = catalogFor(ctx, s.policy);
  const runId = catalog.startRun({ policy: s.policy.name, kind: 'restore', target: s.target, started_at: ctx.clock.now() });
  try {
    const snap = pickSnapshot(s, opts.snapshot);
    const user = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    const result = await restoreTree(s.reader, snap.tree, '', {
      to,
      include: patternsInSnapshot(snap, opts.include),
      exclude: patternsInSnapshot(snap, opts.exclude),
      owner: user.uid === 0,
      user,
      overwrite: !!opts.overwrite,
      delete: !!opts.delete,
      sparse: opts.sparse !== false,
      signal: ctx.signal,
      onProgress: (p) => ctx.emit?.({ type: 'progress', job: 'restore', files: p.files, bytes: p.bytes, totalBytes: snap.summary.bytes, totalFiles: snap.summary.files, path: p.path }),
      onFileError: (path, err) => ctx.emit?.({ type: 'file-restore-failed', path, error: errorMessage(err) }),
      onLossyTimes: (reason) => ctx.emit?.({ type: 'mtime-precision-reduced', reason }),
      onXattrNotSet: (path, attribute, error) => ctx.emit?.({ type: 'xattr-not-restored', path, attribute, error }),
      writers: ctx.threads?.restoreWriters,
    });
    if (result.devicesSkipped > 0) ctx.emit?.({ type: 'devices-not-restored', count: result.devicesSkipped, first: displayPath(result.deviceSkipped ?? '') });
    if (result.ownershipSkipped > 0) ctx.emit?.({ type: 'ownership-not-restored', count: result.ownershipSkipped, uid: user.uid });
    const nothing = result.files + result.dirs + result.symlinks + result.specials + result.unchanged === 0 && result.failures.length === 0;
    if (opts.include?.length && nothing) ctx.emit?.({ type: 'patterns-matched-nothing', option: 'include', patterns: opts.include, snapshot: snap.id });
    if (opts.exclude?.length && result.excluded === 0) ctx.emit?.({ type: 'patterns-matched-nothing', option: 'exclude', patterns: opts.exclude, snapshot: snap.id });
    // A restore that restored nothing it was asked for has failed, whatever the reason.
    const exitCode = result.failures.length || (opts.include?.length && nothing) ? 1 : 0;
    catalog.finishRun(runId, { finished_at: ctx.clock.now(), status: exitCode ? 'failed' : 'ok', exit_code: exitCode, bytes_read: s.reader.bytesFetched, requests: s.reader.requests, bytes_written: result.bytes, files: result.files, details: { snapshot: snap.id, failures: result.failures.length } });
    return { ...result, snapshot: snap.id, target: s.target, to, bytesFetched: s.reader.bytesFetched, requests: s.reader.requests, durationMs: ctx.clock.monotonic() - started, exitCode };
  } catch (err) {
    catalog.finishRun(runId, { finished_at: ctx.clock.now(), status: ctx.signal?.aborted ? 'interrupted' : 'failed', exit_code: exitCodeOf(err), error: errorMessage(err) });
    throw err;
  } finally {
    catalog.close();
    await s.close();
  }
}

function isEmptyOrMissing(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return true;
    if (errnoCode(err) === 'ENOTDIR') throw new TriadError('E_RESTORE_TARGET', `${dir} is not a directory`);
    throw err;
  }
}

export async function runDump(ctx: AppContext, opts: { policyFile: string; snapshot: string; path?: string; target?: string; out: Writable; hosts?: HostSelection }): Promise<{ snapshot: string; target: string; bytesFetched: number; requests: number }> {
  const s = await openForRead(ctx, opts.policyFile, opts.target, 'dump', opts.hosts);
  try {
    const snap = pickSnapshot(s, opts.snapshot);
    const found = await findShownPath(s.reader, snap.tree, pathInSnapshot(snap, opts.path ?? ''));
    if (!found) throw new TriadError('E_USAGE', `no path '${opts.path}' in snapshot ${snap.id.slice(0, 8)}`);
    await dumpTar(s.reader, found.tree, found.path, found.node, opts.out, ctx.signal);
    return { snapshot: snap.id, target: s.target, bytesFetched: s.reader.bytesFetched, requests: s.reader.requests };
  } finally {
    await s.close();
  }
}
