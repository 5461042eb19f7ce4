import { displayPath, fsPath } from '../core/names.js';
import { runReportedJob } from './job-run.js';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TriadError, ExitCode, exitCodeOf } from '../core/errors.js';
import { seededRandom, type Random } from '../core/random.js';
import type { Catalog } from '../catalog/catalog.js';
import type { Policy, SampleSpec, TargetSpec } from '../policy/types.js';
import { walkTree } from '../repo/read/index.js';
import { LEDGER_DETAIL, sourceTopNames, writeJournal, type JournalRecord, type Snapshot } from '../repo/model/index.js';
import type { Repository } from '../repo/repository.js';
import { FileSampler, selectSnapshots, type SnapshotSelector } from '../repo/maintenance/index.js';
import { keyedFileHash, openTestReplica, testReplica, type FileTestResult, type ReplicaTestResult, type SampleSnapshot, type SourceComparison, type TestReplica } from '../repo/restore/index.js';
import { withPolicyLocks } from './locking.js';
import { catalogFor, closeAll, partialReads, errorMessage, hostName, loadPolicyFile, openTargets, passphraseFor, selectTargets, isDamageError, warnDamagedIndex, warnDamagedSnapshot, type AppContext, type OpenedTarget } from './session.js';

export type { FailureKind, FileTestResult, SnapshotStructureResult, SourceComparison } from '../repo/restore/index.js';
export type { SnapshotSelector } from '../repo/maintenance/index.js';

/** Scratch space a sample may use when neither the policy nor --max-bytes says. */
export const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;
/** Failures kept per target in the catalogue and the journal record (the full list is in the result). */
const RECORDED_FAILURES = 100;

export interface RestoreTestOptions {
  policyFile: string;
  targets?: string[];
  /** Overrides the policy's restore_test sample. */
  sample?: SampleSpec;
  snapshots?: SnapshotSelector;
  /** Seed of the sample; the CLI draws a fresh one when the user gives none. */
  seed: number;
  /** Directory under which the scratch directory is created (and always removed). */
  scratch: string;
  /** Bytes the sample may occupy in scratch (per target; default: policy, else the sample's bytes, else 1 GiB). */
  maxBytes?: number;
  /** Also compare restored files with the live source where size and mtime show it unchanged. */
  compareSource?: boolean;
}

/** A target's part in the test: the replica's own result, or why it could not be reached. */
export interface TargetTestResult extends ReplicaTestResult {
  target: string;
  location?: string;
  reachable: boolean;
  /** Wall time spent on this target: opening it, loading its index, restoring and verifying the sample. */
  durationMs: number;
  /** Why it was not tested: unreachable, or (reachable) too damaged to open, e.g. its key files or config. */
  error?: string;
  errorCode?: string;
}

export interface SampledSnapshot {
  id: string;
  time: string;
  /** Where the file listing came from. */
  listing: 'catalogue' | 'tree' | 'unavailable';
  candidates: number;
  files: { path: string; size: number }[];
  bytes: number;
  note?: string;
}

export interface RestoreTestResult {
  policy: string;
  /** The host whose snapshot was tested, when one repository serves many (restore-test --repo). */
  host?: string;
  /** The policy's timezone: human output shows times in it (JSON stays ISO 8601 UTC). */
  timezone: string;
  seed: number;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  sample: { spec: SampleSpec; snapshots: string; maxBytes: number; files: number; bytes: number; snapshotList: SampledSnapshot[] };
  /** The newest earlier test of the selected targets, from the catalogue. */
  previous: { at: string; ageMs: number } | null;
  everyMs: number;
  /** The previous test was older than restore_test.every. */
  overdue: boolean;
  targets: TargetTestResult[];
  ok: boolean;
  /** 0 all passed, 4 a file or structure check failed, 1 a target could not be reached (DESIGN.md §7). */
  exitCode: number;
  runId: number;
  journal: { id: string; failed: string[] };
}

interface Candidate {
  path: string;
  size: number;
  mode?: number;
  hash?: string | null;
}

interface PlannedSnapshot {
  snapshot: Snapshot;
  listing: SampledSnapshot['listing'];
  candidates: number;
  files: Candidate[];
  /** Targets the catalogue records the snapshot complete on (undefined: not in the catalogue). */
  completeOn?: Set<string>;
  note?: string;
}

interface Session {
  spec: TargetSpec;
  opened?: OpenedTarget;
  repo?: Repository;
  /** Set once the replica's index, snapshots and pack listing are loaded: the target can be tested. */
  replica?: TestReplica;
  overheadMs: number;
  error?: unknown;
}

/** A restore test inside the job envelope (hooks, heartbeat, webhook): damage found is a failure to report. */
export async function runRestoreTest(ctx: AppContext, opts: RestoreTestOptions): Promise<RestoreTestResult> {
  return runReportedJob(ctx, opts.policyFile, 'restore-test', {}, (c) => restoreTest(c, opts), (r) => ({
    files: r.sample.files,
    targets: r.targets.map((t) => ({ name: t.target, ok: t.ok, ...(t.error !== undefined ? { error: t.error } : {}) })),
  }));
}

/**
 * Restores a seeded random sample of files from every selected target into a scratch
 * directory and verifies each byte (DESIGN.md §5). Never writes to the repository except
 * its journal record; the scratch directory is removed whatever happens.
 */
async function restoreTest(ctx: AppContext, opts: RestoreTestOptions): Promise<RestoreTestResult> {
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const passphrase = await passphraseFor(ctx, policy);
  const specs = selectTargets(policy, opts.targets);
  const random = seededRandom(opts.seed);
  const startedAt = ctx.clock.now();
  const t0 = ctx.clock.monotonic();
  const catalog = catalogFor(ctx, policy);
  const sessions: Session[] = [];
  let scratchRoot: string | undefined;
  let runId: number | undefined;
  try {
    const previous = previousTest(catalog, policy, specs, startedAt);
    const run = catalog.startRun({ policy: policy.name, kind: 'restore-test', started_at: startedAt, details: { seed: opts.seed, targets: specs.map((s) => s.name) } });
    runId = run;
    for (const spec of specs) sessions.push(await openSession(ctx, policy, spec, passphrase));
    requireOneRepository(sessions);
    const locked = sessions.filter((s) => s.repo).map((s) => s.repo!);
    // Shared locks: a prune (exclusive) cannot remove packs under the test, and the test never blocks backups.
    return await withPolicyLocks(ctx, policy, locked, 'shared', { command: 'restore-test' }, async (signal) => {
      const lctx: AppContext = { ...ctx, signal };
      for (const s of sessions) if (s.repo) await loadSession(lctx, policy, s);
      const reached = sessions.filter((s) => s.replica);
      const sample = await drawSample(lctx, policy, opts, catalog, reached, random);
      scratchRoot = makeScratch(resolve(ctx.cwd, opts.scratch), sample.bytes);
      const targets = await testTargets(lctx, policy, sessions, sample.plan, { scratchRoot, compareSource: !!opts.compareSource });
      const finishedAt = ctx.clock.now();
      const result: RestoreTestResult = {
        policy: policy.name,
        timezone: policy.timezone,
        seed: opts.seed,
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        durationMs: ctx.clock.monotonic() - t0,
        sample: sampleSummary(sample),
        previous,
        everyMs: policy.restore_test.every,
        overdue: previous !== null && previous.ageMs > policy.restore_test.every,
        targets,
        ok: targets.every((t) => t.ok),
        exitCode: exitCodeFor(sessions, targets),
        runId: run,
        journal: { id: '', failed: [] },
      };
      result.journal = await writeJournal(
        reached.map((s) => s.repo!),
        restoreTestJournal(policy.name, hostName(policy), result, startedAt, finishedAt),
      );
      recordInCatalogue(catalog, policy, result, sample.plan, reached, finishedAt);
      return result;
    });
  } catch (err) {
    if (runId !== undefined) {
      catalog.finishRun(runId, { finished_at: ctx.clock.now(), status: ctx.signal?.aborted ? 'interrupted' : 'failed', exit_code: exitCodeOf(err), error: errorMessage(err) });
    }
    throw err;
  } finally {
    if (scratchRoot) rmSync(scratchRoot, { recursive: true, force: true });
    catalog.close();
    await closeAll(sessions.flatMap((s) => (s.opened ? [s.opened] : [])));
  }
}

interface Sample {
  spec: SampleSpec;
  selector: SnapshotSelector;
  maxBytes: number;
  plan: PlannedSnapshot[];
  /** Bytes of every sampled file. */
  bytes: number;
}

/** The sample's size limit, spec and snapshots, then the files drawn from the reached targets. */
async function drawSample(ctx: AppContext, policy: Policy, opts: RestoreTestOptions, catalog: Catalog, reached: Session[], random: Random): Promise<Sample> {
  const maxBytes = opts.maxBytes ?? policy.restore_test.max_bytes ?? (opts.sample?.kind === 'bytes' ? opts.sample.value : policy.restore_test.sample.kind === 'bytes' ? policy.restore_test.sample.value : DEFAULT_MAX_BYTES);
  const spec = opts.sample ?? policy.restore_test.sample;
  const selector = opts.snapshots ?? { kind: 'default' };
  const plan = reached.length ? await planSample(ctx, { catalog, policy: policy.name, sessions: reached, spec, selector, maxBytes, random }) : [];
  if (reached.length && plan.length === 0) {
    throw new TriadError('E_SNAPSHOT_NOT_FOUND', `no snapshot of policy ${policy.name} on ${reached.map((s) => `'${s.spec.name}'`).join(', ')}`, { hint: "run 'triad backup -p POLICY' first" });
  }
  return { spec, selector, maxBytes, plan, bytes: plan.reduce((n, p) => n + p.files.reduce((m, f) => m + f.size, 0), 0) };
}

/** A fresh scratch directory under `parent`, once the sample is known to fit there. */
export function makeScratch(parent: string, bytes: number): string {
  mkdirSync(parent, { recursive: true });
  requireSpace(parent, bytes);
  return mkdtempSync(join(parent, 'triad-restore-test-'));
}

/** Each target in turn, in its own scratch directory (removed after it). */
async function testTargets(
  ctx: AppContext,
  policy: Policy,
  sessions: Session[],
  plan: PlannedSnapshot[],
  o: { scratchRoot: string; compareSource: boolean },
): Promise<TargetTestResult[]> {
  const sample: SampleSnapshot[] = plan.map((p) => ({
    snapshot: p.snapshot,
    files: p.files,
    ...(p.completeOn ? { completeOn: p.completeOn } : {}),
    ...(p.listing === 'unavailable' && p.note ? { listingProblem: p.note } : {}),
  }));
  const sourceHashes = new Map<string, Promise<string | undefined>>();
  const targets: TargetTestResult[] = [];
  for (const [i, s] of sessions.entries()) {
    if (!s.replica) {
      targets.push(unreachableResult(s, plan));
      continue;
    }
    const dir = join(o.scratchRoot, `t${i}`);
    const started = ctx.clock.monotonic();
    try {
      const tested = await testReplica(s.replica, sample, {
        dir,
        overheadMs: s.overheadMs,
        monotonic: () => ctx.clock.monotonic(),
        signal: ctx.signal,
        compareSource: o.compareSource ? (snap, path, node, hash, mac) => compareWithSource(ctx, policy, snap, path, node, hash, sourceHashes, mac) : undefined,
        onProgress: (p) => ctx.emit?.({ type: 'progress', job: 'restore-test', target: s.spec.name, ...p }),
        onReRead: (r) => ctx.emit?.({ type: 'pack-reread', target: s.spec.name, pack: r.pack, reason: r.reason }),
      });
      targets.push({ ...emptyResult(s, []), ...tested, durationMs: s.overheadMs + ctx.clock.monotonic() - started });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return targets;
}

function sampleSummary(sample: Sample): RestoreTestResult['sample'] {
  const { plan } = sample;
  return {
    spec: sample.spec,
    snapshots: selectorText(sample.selector),
    maxBytes: sample.maxBytes,
    files: plan.reduce((n, p) => n + p.files.length, 0),
    bytes: sample.bytes,
    snapshotList: plan.map((p) => ({
      id: p.snapshot.id,
      time: p.snapshot.time,
      listing: p.listing,
      candidates: p.candidates,
      files: p.files.map((f) => ({ path: displayPath(f.path), size: f.size })),
      bytes: p.files.reduce((n, f) => n + f.size, 0),
      ...(p.note ? { note: p.note } : {}),
    })),
  };
}

/** One restore-test row per target, the journal record seen where it was saved, the run finished. */
function recordInCatalogue(catalog: Catalog, policy: Policy, result: RestoreTestResult, plan: PlannedSnapshot[], reached: Session[], finishedAt: Date): void {
  const { targets, ok, runId: run, seed } = result;
  const reachable = targets.filter((t) => t.reachable);
  for (const t of targets) {
    catalog.addRestoreTest({
      run_id: run,
      policy: policy.name,
      target: t.target,
      at: finishedAt,
      seed,
      ok: t.ok,
      files: t.files,
      bytes: t.bytes,
      overhead_ms: t.overheadMs,
      transfer_ms: t.transferMs,
      duration_ms: t.durationMs,
      snapshots: t.structure.filter((x) => x.present).map((x) => x.snapshot),
      failures: recordedFailures(t),
    });
  }
  for (const t of reachable) catalog.recordVerification(policy.name, t.target, { scope: 'blobs', at: finishedAt, runId: run, verified: t.intactPacks, failed: t.failedPacks });
  for (const s of reached) if (result.journal.id && !result.journal.failed.includes(s.spec.name)) catalog.markJournalSeen(policy.name, s.spec.name, result.journal.id);
  catalog.finishRun(run, {
    finished_at: finishedAt,
    status: ok ? 'ok' : 'failed',
    exit_code: result.exitCode,
    bytes_read: reachable.reduce((n, t) => n + t.bytesFetched, 0),
    requests: reachable.reduce((n, t) => n + t.requests, 0),
    bytes_written: reachable.reduce((n, t) => n + t.bytes, 0),
    files: result.sample.files,
    error: ok ? null : targets.filter((t) => !t.ok).map((t) => `${t.target}: ${t.error ?? `${t.failed} file(s) failed`}`).join('; '),
    details: { seed, snapshots: plan.map((p) => p.snapshot.id), journal: result.journal.id, targets: targets.map((t) => ({ target: t.target, ok: t.ok, files: t.files, failed: t.failed })) },
  });
}

/** Opens one target (key derivation included), timing it as part of the target's fixed overhead. */
async function openSession(ctx: AppContext, policy: Policy, spec: TargetSpec, passphrase: string): Promise<Session> {
  const t = ctx.clock.monotonic();
  const [opened] = await openTargets(ctx, policy, [spec], passphrase);
  const s: Session = { spec, opened, overheadMs: 0 };
  if (opened?.repo) s.repo = opened.repo;
  else s.error = opened?.error ?? new TriadError('E_TARGET_FAILED', `target '${spec.name}' could not be opened`);
  s.overheadMs = ctx.clock.monotonic() - t;
  return s;
}

/** Loads the index, the snapshot list and the pack listing of an opened target (more fixed overhead). */
async function loadSession(ctx: AppContext, policy: Policy, s: Session): Promise<void> {
  const t = ctx.clock.monotonic();
  try {
    s.replica = await openTestReplica(s.spec.name, s.repo!, policy.name, {
      onDamaged: warnDamagedSnapshot(ctx, s.spec.name),
      onIndexRouted: (routed) => warnDamagedIndex(ctx, s.spec.name, routed),
      signal: ctx.signal,
      readMode: partialReads(ctx),
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    s.error = err;
  }
  s.overheadMs += ctx.clock.monotonic() - t;
}

/** Every target of a policy must hold a replica of the same repository. */
function requireOneRepository(sessions: Session[]): void {
  const first = sessions.find((s) => s.repo);
  for (const s of sessions) {
    if (s.repo && first?.repo && s.repo.id !== first.repo.id) {
      s.error = new TriadError('E_REPO_MISMATCH', `target '${s.spec.name}' holds another repository (id ${s.repo.id.slice(0, 8)}) than target '${first.spec.name}' (id ${first.repo.id.slice(0, 8)})`);
      s.repo = undefined;
      s.replica = undefined;
    }
  }
}

function previousTest(catalog: Catalog, policy: Policy, specs: TargetSpec[], now: Date): RestoreTestResult['previous'] {
  const names = new Set(specs.map((s) => s.name));
  let at: string | undefined;
  for (const r of catalog.listRestoreTests(policy.name)) if (names.has(r.target) && (at === undefined || r.at > at)) at = r.at;
  return at === undefined ? null : { at, ageMs: now.getTime() - new Date(at).getTime() };
}

/**
 * Picks the snapshots (from the union of what the reached targets hold, oldest first by
 * recovery point) and then the files of each. Files come from the catalogue's rows, which
 * carry the content hashes recorded at backup time; a snapshot the catalogue does not know
 * is listed from its tree instead.
 */
async function planSample(
  ctx: AppContext,
  p: { catalog: Catalog; policy: string; sessions: Session[]; spec: SampleSpec; selector: SnapshotSelector; maxBytes: number; random: Random },
): Promise<PlannedSnapshot[]> {
  const union = new Map<string, Snapshot>();
  for (const s of p.sessions) for (const snap of s.replica!.snapshots.values()) union.set(snap.id, snap);
  const sorted = [...union.values()].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const chosen = selectSnapshots(sorted, p.selector, p.random);
  const plan: PlannedSnapshot[] = [];
  let bytesLeft = p.maxBytes;
  for (const snap of chosen) {
    const sampler = new FileSampler<Candidate>(p.random);
    const record = p.catalog.snapshotById(snap.id, p.policy);
    let listing: PlannedSnapshot['listing'] = 'unavailable';
    let note: string | undefined;
    if (record && p.catalog.countFiles(snap.id, { type: 'file' }) > 0) {
      for (const f of p.catalog.iterateFiles(snap.id, { type: 'file' })) sampler.offer({ path: f.path, size: f.size, mode: f.mode, hash: f.hash });
      listing = 'catalogue';
    } else {
      for (const s of p.sessions.filter((x) => x.replica!.snapshots.has(snap.id))) {
        try {
          for await (const { path, node } of walkTree(s.replica!.reader, snap.tree)) {
            ctx.signal?.throwIfAborted();
            if (node.type === 'file') sampler.offer({ path, size: node.size, mode: node.mode, hash: node.hash ?? null });
          }
          listing = 'tree';
          break;
        } catch (err) {
          if ((err as Error).name === 'AbortError') throw err;
          note = `the snapshot's tree cannot be listed on target '${s.spec.name}': ${errorMessage(err)}`;
        }
      }
      if (listing === 'tree') note = undefined;
    }
    const files = listing === 'unavailable' ? [] : sampler.pick(sampleLimit(p.spec, sampler.offered, chosen.length, bytesLeft));
    bytesLeft -= files.reduce((m, f) => m + f.size, 0);
    plan.push({
      snapshot: snap,
      listing,
      candidates: sampler.offered,
      files,
      ...(record ? { completeOn: new Set(record.presence.filter((x) => x.status === 'complete').map((x) => x.target)) } : {}),
      ...(note ? { note } : {}),
    });
  }
  return plan;
}

/** How many files (or bytes) of one of `n` sampled snapshots the sample takes, of `offered` candidates. */
export function sampleLimit(spec: SampleSpec, offered: number, n: number, bytesLeft: number): { maxFiles: number; maxBytes: number } {
  if (spec.kind === 'percent') return { maxFiles: offered ? Math.max(1, Math.ceil((offered * spec.value) / 100)) : 0, maxBytes: bytesLeft };
  if (spec.kind === 'files') return { maxFiles: Math.ceil(spec.value / n), maxBytes: bytesLeft };
  return { maxFiles: Infinity, maxBytes: Math.min(bytesLeft, Math.ceil(spec.value / n)) };
}

/**
 * Compares a restored file with the live source, only where the source looks unchanged
 * (same size and mtime) and only on the host the snapshot was taken on.
 */
async function compareWithSource(
  ctx: AppContext,
  policy: Policy,
  snap: Snapshot,
  path: string,
  node: { size: number; mtime: number },
  restoredHash: string,
  cache: Map<string, Promise<string | undefined>>,
  mac: Buffer,
): Promise<SourceComparison> {
  if (snap.host !== hostName(policy)) return 'other-host';
  const [top, ...rest] = path.split('/');
  const root = [...sourceTopNames(snap.paths)].find(([, name]) => name === top)?.[0];
  if (!root) return 'not-a-source';
  const live = join(root, ...rest);
  const st = lstatSync(fsPath(live), { throwIfNoEntry: false });
  if (!st) return 'missing';
  if (!st.isFile() || st.size !== node.size || Math.abs(st.mtimeMs - node.mtime) >= 1) return 'changed';
  let h = cache.get(live);
  if (!h) {
    h = keyedFileHash(mac, live, ctx.signal).catch((err: unknown) => {
      if ((err as Error).name === 'AbortError') throw err;
      ctx.emit?.({ type: 'source-unreadable', path: displayPath(live), error: errorMessage(err) });
      return undefined;
    });
    cache.set(live, h);
  }
  const hash = await h;
  if (hash === undefined) return 'changed';
  return hash === restoredHash ? 'identical' : 'mismatch';
}

/** A target that could not be tested: unreachable, or reached but too damaged to open (damage found). */
function unreachableResult(s: Session, plan: PlannedSnapshot[]): TargetTestResult {
  const reason = errorMessage(s.error);
  const damaged = isDamageError(s.error);
  const kind = damaged ? ('damaged-repository' as const) : ('target-unreachable' as const);
  const results = plan.flatMap((p) => p.files.map((f) => ({ snapshot: p.snapshot.id, path: displayPath(f.path), size: f.size, status: 'failed' as const, kind, reason, transferMs: 0 })));
  return {
    ...emptyResult(s, results),
    reachable: damaged,
    error: reason,
    ...(s.error instanceof TriadError ? { errorCode: s.error.code } : {}),
    ok: false,
    files: results.length,
    failed: results.length,
  };
}

/** A target's result before any file is counted. */
function emptyResult(s: Session, results: FileTestResult[]): TargetTestResult {
  return {
    target: s.spec.name,
    ...(s.opened?.storage?.location ? { location: s.opened.storage.location } : {}),
    reachable: true,
    durationMs: s.overheadMs,
    ok: true,
    files: 0,
    passed: 0,
    failed: 0,
    skipped: 0,
    bytes: 0,
    bytesFetched: 0,
    reReads: [],
    requests: 0,
    overheadMs: s.overheadMs,
    transferMs: 0,
    verifyMs: 0,
    throughputBytesPerSec: null,
    estimatedFullRestoreMs: null,
    structure: [],
    results,
    damagedObjects: [],
    intactPacks: [],
    failedPacks: [],
  };
}

/** 1 when a target could not be reached (or the error of every target when none could), 4 on any damage, else 0. */
function exitCodeFor(sessions: Session[], targets: TargetTestResult[]): number {
  const down = sessions.filter((s) => !s.replica && !isDamageError(s.error));
  if (down.length > 0 && down.length === sessions.length) {
    const codes = new Set(down.map((s) => exitCodeOf(s.error)));
    return codes.size === 1 ? [...codes][0]! : ExitCode.FAILED;
  }
  if (down.length > 0) return 1;
  return targets.every((t) => t.ok) ? ExitCode.OK : ExitCode.FINDING;
}

function requireSpace(dir: string, bytes: number): void {
  let free: number;
  try {
    const st = statfsSync(dir);
    free = st.bavail * st.bsize;
  } catch {
    return; // File systems without statfs: the restore itself reports a full disk.
  }
  // Restored files sit beside their temporary names only briefly; leave a little slack.
  if (bytes > 0 && free < bytes + 16 * 1024 * 1024) {
    throw new TriadError('E_NO_SPACE', `the sample needs ${bytes} bytes of scratch space in ${dir}, which has ${free} free`, {
      hint: 'choose another directory with --scratch, or a smaller sample with --max-bytes / --files',
    });
  }
}

function recordedFailures(t: TargetTestResult): unknown[] {
  const out: unknown[] = [];
  if (t.error !== undefined) out.push({ kind: t.reachable ? 'damaged-repository' : 'target-unreachable', reason: t.error });
  for (const d of t.damagedObjects) out.push({ kind: `damaged-${d.kind}`, object: d.object, reason: d.reason });
  for (const x of t.structure) for (const p of x.problems.slice(0, 10)) out.push({ snapshot: x.snapshot, structure: true, kind: p.kind, path: p.path, reason: p.message });
  for (const f of t.results) if (f.status === 'failed' && f.kind !== 'target-unreachable' && f.kind !== 'damaged-repository') out.push({ snapshot: f.snapshot, path: f.path, kind: f.kind, reason: f.reason, pack: f.pack });
  return out.slice(0, RECORDED_FAILURES);
}

/** The journal record of a restore test: what `catalog rebuild` and `fleet report` read back as evidence. */
export function restoreTestJournal(policy: string, host: string, r: RestoreTestResult, started: Date, finished: Date): JournalRecord {
  return {
    version: 1,
    kind: 'restore-test',
    policy,
    host,
    started: started.toISOString(),
    finished: finished.toISOString(),
    status: r.ok ? 'ok' : 'failed',
    exitCode: r.exitCode,
    targets: r.targets.map((t) => ({ name: t.target, ok: t.ok, ...(t.error ? { error: t.error } : !t.ok ? { error: `${t.failed} file(s) failed verification` } : {}) })),
    bytesRead: r.targets.reduce((n, t) => n + t.bytesFetched, 0),
    files: r.sample.files,
    details: {
      seed: r.seed,
      sample: { spec: r.sample.spec, snapshots: r.sample.snapshots, maxBytes: r.sample.maxBytes, files: r.sample.files, bytes: r.sample.bytes },
      snapshots: r.sample.snapshotList.map((s) => ({ id: s.id, files: s.files.length, bytes: s.bytes })),
      results: r.targets.map((t) => ({
        target: t.target,
        ok: t.ok,
        reachable: t.reachable,
        snapshots: t.structure.filter((x) => x.present).map((x) => x.snapshot),
        files: t.files,
        passed: t.passed,
        failed: t.failed,
        bytes: t.bytes,
        overheadMs: Math.round(t.overheadMs),
        transferMs: Math.round(t.transferMs),
        durationMs: Math.round(t.durationMs),
        estimatedFullRestoreMs: t.estimatedFullRestoreMs === null ? null : Math.round(t.estimatedFullRestoreMs),
        failures: recordedFailures(t),
        [LEDGER_DETAIL]: { verified: [], intact: t.intactPacks, failed: t.failedPacks },
      })),
    },
  };
}

export function selectorText(s: SnapshotSelector): string {
  return s.kind === 'random' ? `random:${s.count}` : s.kind === 'default' ? 'latest+random' : s.kind;
}

/** Parses --snapshots: latest | random:N | all. */
export function parseSnapshotSelector(text: string): SnapshotSelector {
  if (text === 'latest' || text === 'all') return { kind: text };
  const m = /^random:(\d+)$/.exec(text);
  if (m && Number(m[1]) >= 1) return { kind: 'random', count: Number(m[1]) };
  throw new TriadError('E_USAGE', `--snapshots ${text} is not one of latest, random:N (N ≥ 1) or all`);
}
