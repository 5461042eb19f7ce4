import { runReportedJob } from './job-run.js';
import { createHash } from 'node:crypto';
import { TriadError, ExitCode, exitCodeOf } from '../core/errors.js';
import { repairIndex } from '../repo/maintenance/index.js';
import { BlobReader, HeldTrees, walkTree } from '../repo/read/index.js';
import { packObjectName } from '../repo/format.js';
import { MasterIndex, writeIndexFiles } from '../repo/index/index.js';
import { writeJournal } from '../repo/model/index.js';
import { parsePackHeader, type PackEntry } from '../repo/blob/index.js';
import { loadSnapshots, resolveSnapshot, type Snapshot } from '../repo/model/index.js';
import type { Catalog } from '../catalog/index.js';
import type { Policy } from '../policy/types.js';
import type { Repository } from '../repo/repository.js';
import { withPolicyLocks } from './locking.js';
import { catalogFor, closeAll, errorMessage, hostName, loadPolicyFile, partialReads, openTargets, passphraseFor, selectTargets, warnDamagedSnapshot, type AppContext } from './session.js';

export interface CopyResult {
  policy: string;
  from: string;
  to: string;
  snapshots: string[];
  packsCopied: number;
  /** Packs found on the destination from an interrupted run, indexed and not sent again. */
  packsReused: number;
  bytesCopied: number;
  /** Bytes downloaded from the source (trees, then the packs copied) and the load requests made. */
  bytesFetched: number;
  requests: number;
  durationMs: number;
  /** 0, or 1 when an `after` hook failed (a failed copy throws). */
  exitCode: number;
  runId: number;
}

type CopyOptions = { policyFile: string; from: string; to: string; snapshots?: string[]; waitMs?: number };

/** A copy inside the job envelope (hooks, heartbeat, webhook). */
export async function runCopy(ctx: AppContext, opts: CopyOptions): Promise<CopyResult> {
  return runReportedJob(ctx, opts.policyFile, 'copy', {}, (c) => copyMissing(c, opts));
}

/**
 * Replicates snapshots missing on one target from another at the object level: the packs
 * holding blobs the destination lacks are copied verbatim (verified by their hash and header),
 * then an index naming them, then the snapshot manifests — the repository write order.
 */
async function copyMissing(ctx: AppContext, opts: CopyOptions): Promise<CopyResult> {
  if (opts.from === opts.to) throw new TriadError('E_USAGE', '--from and --to name the same target');
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const passphrase = await passphraseFor(ctx, policy);
  const started = ctx.clock.monotonic();
  const startedAt = ctx.clock.now();
  const opened = await openTargets(ctx, policy, selectTargets(policy, [opts.from, opts.to]), passphrase);
  const catalog = catalogFor(ctx, policy);
  const runId = catalog.startRun({ policy: policy.name, kind: 'copy', target: opts.to, started_at: startedAt, details: { from: opts.from } });
  try {
    for (const o of opened) if (!o.repo) throw o.error;
    const src = opened[0]!.repo!;
    const dst = opened[1]!.repo!;
    // Shared locks on both replicas, as a backup takes: a prune on the destination must not
    // remove packs this copy has written and not yet named in a snapshot, and one on the
    // source must not remove packs it is about to read.
    return await withPolicyLocks(ctx, policy, [src, dst], 'shared', { command: 'copy', wait: opts.waitMs }, (signal) =>
      copySnapshots({ ...ctx, signal }, policy, catalog, runId, src, dst, opts, started, startedAt),
    );
  } catch (err) {
    catalog.finishRun(runId, { finished_at: ctx.clock.now(), status: ctx.signal?.aborted ? 'interrupted' : 'failed', exit_code: exitCodeOf(err), error: errorMessage(err) });
    throw err;
  } finally {
    catalog.close();
    await closeAll(opened);
  }
}

async function copySnapshots(
  ctx: AppContext,
  policy: Policy,
  catalog: Catalog,
  runId: number,
  src: Repository,
  dst: Repository,
  opts: { from: string; to: string; snapshots?: string[] },
  started: number,
  startedAt: Date,
): Promise<CopyResult> {
  // Packs that reached the destination before an interruption are reused, not sent again.
  const [srcIndex, dstIndex] = await Promise.all([MasterIndex.load(src), MasterIndex.load(dst)]);
  const reused = await repairIndex(dst, { onlyUnindexed: true, signal: ctx.signal, index: dstIndex });
  const srcSnaps = (await loadSnapshots(src, { onDamaged: warnDamagedSnapshot(ctx, opts.from), signal: ctx.signal })).filter((s) => s.policy === policy.name);
  // A damaged snapshot object on the destination counts as missing: the copy replaces it.
  const have = new Set((await loadSnapshots(dst, { onDamaged: warnDamagedSnapshot(ctx, opts.to), signal: ctx.signal })).map((s) => s.id));
  const wanted: Snapshot[] = opts.snapshots?.length ? opts.snapshots.map((r) => resolveSnapshot(srcSnaps, r, `target '${opts.from}'`, { host: hostName(policy) })) : srcSnaps;
  const todo = wanted.filter((s) => !have.has(s.id));

  // Packs of the source that hold a blob the destination lacks.
  const reader = new BlobReader(src, srcIndex, partialReads(ctx));
  const packs = new Set<string>();
  const need = (id: string) => {
    if (dstIndex.has(id)) return;
    const loc = srcIndex.get(id);
    if (!loc) throw new TriadError('E_INTEGRITY', `blob ${id.slice(0, 12)} is not indexed on target '${opts.from}'`, { hint: `run 'triad check -p POLICY --target ${opts.from}'` });
    packs.add(loc.pack);
  };
  for (const s of todo) {
    need(s.tree);
    const trees = await new HeldTrees(reader).load(s.tree, () => true);
    for await (const { node } of walkTree(trees, s.tree)) {
      ctx.signal?.throwIfAborted();
      if (node.subtree) need(node.subtree);
      for (const c of node.content ?? []) need(c);
    }
  }

  let bytesCopied = 0;
  const copied: { id: string; size: number; entries: PackEntry[] }[] = [];
  let n = 0;
  for (const pack of [...packs].sort()) {
    ctx.signal?.throwIfAborted();
    const bytes = await src.storage.load(packObjectName(pack), undefined, { signal: ctx.signal });
    if (createHash('sha256').update(bytes).digest('hex') !== pack) {
      throw new TriadError('E_INTEGRITY', `pack ${pack.slice(0, 12)} on target '${opts.from}' does not match its name; not copied`, { hint: `run 'triad check -p POLICY --target ${opts.from} --read-data'` });
    }
    const entries = parsePackHeader(src.key.encrypt, bytes, bytes.length);
    await dst.storage.save(packObjectName(pack), bytes, { signal: ctx.signal });
    copied.push({ id: pack, size: bytes.length, entries });
    bytesCopied += bytes.length;
    ctx.emit?.({ type: 'progress', job: 'copy', from: opts.from, to: opts.to, files: ++n, totalFiles: packs.size, bytes: bytesCopied });
  }
  if (copied.length) await writeIndexFiles(dst, copied);
  for (const s of todo) await dst.storage.save(`snapshots/${s.id}`, await src.storage.load(`snapshots/${s.id}`));

  const finishedAt = ctx.clock.now();
  for (const s of todo) {
    catalog.upsertSnapshot({ id: s.id, policy: policy.name, host: s.host, paths: s.paths, time: s.time, finished_at: s.finished, tree: s.tree, parent: s.parent ?? null, partial: s.partial, tags: s.tags });
    catalog.setPresence(s.id, opts.to, { status: 'complete', at: finishedAt });
  }
  catalog.recordPacks(policy.name, opts.to, copied);
  await writeJournal([dst], {
    version: 1, kind: 'copy', policy: policy.name, host: hostName(policy), started: startedAt.toISOString(), finished: finishedAt.toISOString(),
    status: 'ok', exitCode: ExitCode.OK, targets: [{ name: opts.to, ok: true }], bytesWritten: bytesCopied,
    details: { from: opts.from, snapshots: todo.map((s) => s.id), packs: copied.length },
  });
  // Trees read by range, then each pack copied whole in one request.
  const fetched = { bytesFetched: reader.bytesFetched + bytesCopied, requests: reader.requests + copied.length };
  catalog.finishRun(runId, { finished_at: finishedAt, status: 'ok', exit_code: 0, bytes_read: fetched.bytesFetched, requests: fetched.requests, bytes_written: bytesCopied, details: { from: opts.from, snapshots: todo.map((s) => s.id), packs: copied.length } });
  return { policy: policy.name, from: opts.from, to: opts.to, snapshots: todo.map((s) => s.id), packsCopied: copied.length, packsReused: reused.packsAdded.length, bytesCopied, ...fetched, durationMs: ctx.clock.monotonic() - started, exitCode: ExitCode.OK, runId };
}
