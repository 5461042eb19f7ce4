import { lstatSync, mkdirSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { TriadError } from '../core/errors.js';
import { seededRandom, type Random } from '../core/random.js';
import type { Catalog } from '../catalog/catalog.js';
import type { Policy, SampleSpec, TargetSpec } from '../policy/types.js';
import { BlobReader } from '../repo/read/index.js';
import { MasterIndex } from '../repo/index/index.js';
import { writeJournal, type JournalRecord } from '../repo/model/index.js';
import type { Repository } from '../repo/repository.js';
import { FileSampler, selectSnapshots, type SnapshotSelector } from '../repo/maintenance/index.js';
import { checkSnapshotStructure, listStoredPacks, type StructureProblem } from '../repo/check/index.js';
import { loadSnapshots, type Snapshot } from '../repo/model/index.js';
import { keyedFileHash, restoreAndVerify, type FailureKind } from '../repo/restore/index.js';
import { walkTree } from '../repo/read/index.js';
import { withPolicyLocks } from './locking.js';
import { catalogFor, closeAll, errorMessage, hostName, loadPolicyFile, openTargets, passphraseFor, selectTargets, warnDamagedSnapshot, type AppContext, type OpenedTarget } from './session.js';

export type { FailureKind } from '../repo/restore/index.js';
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

export type SourceComparison = 'identical' | 'changed' | 'missing' | 'mismatch' | 'other-host' | 'not-a-source';

export interface FileTestResult {
  snapshot: string;
  path: string;
  size: number;
  status: 'passed' | 'failed' | 'skipped';
  kind?: FailureKind;
  reason?: string;
  pack?: string;
  blob?: string;
  source?: SourceComparison;
  transferMs: number;
}

export interface SnapshotStructureResult {
  snapshot: string;
  present: boolean;
  ok: boolean;
  trees: number;
  files: number;
  problems: StructureProblem[];
  omitted: number;
  note?: string;
}

export interface TargetTestResult {
  target: string;
  location?: string;
  reachable: boolean;
  error?: string;
  errorCode?: string;
  ok: boolean;
  files: number;
  passed: number;
  failed: number;
  skipped: number;
  /** Plaintext bytes restored and verified. */
  bytes: number;
  /** Bytes downloaded (whole packs). */
  bytesFetched: number;
  /** Open, key derivation, index loading, listings and tree walks. */
  overheadMs: number;
  /** Fetching, decrypting and writing file contents. */
  transferMs: number;
  /** Reading restored copies back to hash them (test-only cost, not in the estimate). */
  verifyMs: number;
  throughputBytesPerSec: number | null;
  /** overhead + size of the newest sampled snapshot ÷ throughput. */
  estimatedFullRestoreMs: number | null;
  estimateFor?: { snapshot: string; bytes: number };
  structure: SnapshotStructureResult[];
  results: FileTestResult[];
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
  reader?: BlobReader;
  snapshots: Map<string, Snapshot>;
  stored: Map<string, number>;
  overheadMs: number;
  error?: unknown;
}

/**
 * Restores a seeded random sample of files from every selected target into a scratch
 * directory and verifies each byte (DESIGN.md §5). Never writes to the repository except
 * its journal record; the scratch directory is removed whatever happens.
 */
export async function runRestoreTest(ctx: AppContext, opts: RestoreTestOptions): Promise<RestoreTestResult> {
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
      const reached = sessions.filter((s) => s.reader);

      const maxBytes = opts.maxBytes ?? policy.restore_test.max_bytes ?? (opts.sample?.kind === 'bytes' ? opts.sample.value : policy.restore_test.sample.kind === 'bytes' ? policy.restore_test.sample.value : DEFAULT_MAX_BYTES);
      const spec = opts.sample ?? policy.restore_test.sample;
      const selector = opts.snapshots ?? { kind: 'default' };
      const plan = reached.length ? await planSample(lctx, { catalog, policy: policy.name, sessions: reached, spec, selector, maxBytes, random }) : [];
      if (reached.length && plan.length === 0) {
        throw new TriadError('E_SNAPSHOT_NOT_FOUND', `no snapshot of policy ${policy.name} on ${reached.map((s) => `'${s.spec.name}'`).join(', ')}`, { hint: "run 'triad backup -p POLICY' first" });
      }
      const plannedBytes = plan.reduce((n, p) => n + p.files.reduce((m, f) => m + f.size, 0), 0);

      const scratchParent = resolve(ctx.cwd, opts.scratch);
      mkdirSync(scratchParent, { recursive: true });
      requireSpace(scratchParent, plannedBytes);
      scratchRoot = mkdtempSync(join(scratchParent, 'triad-restore-test-'));

      const targets: TargetTestResult[] = [];
      const sourceHashes = new Map<string, Promise<string | undefined>>();
      for (const [i, s] of sessions.entries()) {
        if (!s.reader) {
          targets.push(unreachableResult(s, plan));
          continue;
        }
        const dir = join(scratchRoot, `t${i}`);
        try {
          targets.push(await testTarget(lctx, policy, s, plan, { dir, compareSource: !!opts.compareSource, sourceHashes }));
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }

      const reachable = targets.filter((t) => t.reachable);
      const ok = targets.every((t) => t.ok);
      const exitCode = exitCodeFor(sessions, targets);
      const finishedAt = ctx.clock.now();
      const result: RestoreTestResult = {
        policy: policy.name,
        seed: opts.seed,
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        durationMs: ctx.clock.monotonic() - t0,
        sample: {
          spec,
          snapshots: selectorText(selector),
          maxBytes,
          files: plan.reduce((n, p) => n + p.files.length, 0),
          bytes: plannedBytes,
          snapshotList: plan.map((p) => ({
            id: p.snapshot.id,
            time: p.snapshot.time,
            listing: p.listing,
            candidates: p.candidates,
            files: p.files.map((f) => ({ path: f.path, size: f.size })),
            bytes: p.files.reduce((n, f) => n + f.size, 0),
            ...(p.note ? { note: p.note } : {}),
          })),
        },
        previous,
        everyMs: policy.restore_test.every,
        overdue: previous !== null && previous.ageMs > policy.restore_test.every,
        targets,
        ok,
        exitCode,
        runId: run,
        journal: { id: '', failed: [] },
      };

      result.journal = await writeJournal(
        reached.map((s) => s.repo!),
        journalRecord(policy, result, startedAt, finishedAt),
      );
      for (const t of targets) {
        catalog.addRestoreTest({
          run_id: run,
          policy: policy.name,
          target: t.target,
          at: finishedAt,
          seed: opts.seed,
          ok: t.ok,
          files: t.files,
          bytes: t.bytes,
          overhead_ms: t.overheadMs,
          transfer_ms: t.transferMs,
          snapshots: t.structure.filter((x) => x.present).map((x) => x.snapshot),
          failures: recordedFailures(t),
        });
      }
      for (const s of reached) if (result.journal.id && !result.journal.failed.includes(s.spec.name)) catalog.markJournalSeen(policy.name, s.spec.name, result.journal.id);
      catalog.finishRun(run, {
        finished_at: finishedAt,
        status: ok ? 'ok' : 'failed',
        exit_code: exitCode,
        bytes_read: reachable.reduce((n, t) => n + t.bytesFetched, 0),
        bytes_written: reachable.reduce((n, t) => n + t.bytes, 0),
        files: result.sample.files,
        error: ok ? null : targets.filter((t) => !t.ok).map((t) => `${t.target}: ${t.error ?? `${t.failed} file(s) failed`}`).join('; '),
        details: { seed: opts.seed, snapshots: plan.map((p) => p.snapshot.id), journal: result.journal.id, targets: targets.map((t) => ({ target: t.target, ok: t.ok, files: t.files, failed: t.failed })) },
      });
      return result;
    });
  } catch (err) {
    if (runId !== undefined) {
      catalog.finishRun(runId, { finished_at: ctx.clock.now(), status: ctx.signal?.aborted ? 'interrupted' : 'failed', exit_code: err instanceof TriadError ? err.exitCode : 1, error: errorMessage(err) });
    }
    throw err;
  } finally {
    if (scratchRoot) rmSync(scratchRoot, { recursive: true, force: true });
    catalog.close();
    await closeAll(sessions.flatMap((s) => (s.opened ? [s.opened] : [])));
  }
}

/** Opens one target (key derivation included), timing it as part of the target's fixed overhead. */
async function openSession(ctx: AppContext, policy: Policy, spec: TargetSpec, passphrase: string): Promise<Session> {
  const t = ctx.clock.monotonic();
  const [opened] = await openTargets(ctx, policy, [spec], passphrase);
  const s: Session = { spec, opened, snapshots: new Map(), stored: new Map(), overheadMs: 0 };
  if (opened?.repo) s.repo = opened.repo;
  else s.error = opened?.error ?? new TriadError('E_TARGET_FAILED', `target '${spec.name}' could not be opened`);
  s.overheadMs = ctx.clock.monotonic() - t;
  return s;
}

/** Loads the index, the snapshot list and the pack listing of an opened target (more fixed overhead). */
async function loadSession(ctx: AppContext, policy: Policy, s: Session): Promise<void> {
  const t = ctx.clock.monotonic();
  const repo = s.repo!;
  try {
    const index = await MasterIndex.load(repo);
    for (const snap of await loadSnapshots(repo, { onDamaged: warnDamagedSnapshot(ctx, s.spec.name), signal: ctx.signal })) if (snap.policy === policy.name) s.snapshots.set(snap.id, snap);
    s.stored = await listStoredPacks(repo, ctx.signal);
    s.reader = new BlobReader(repo, index);
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
      s.reader = undefined;
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
  for (const s of p.sessions) for (const snap of s.snapshots.values()) union.set(snap.id, snap);
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
      for (const s of p.sessions.filter((x) => x.snapshots.has(snap.id))) {
        try {
          for await (const { path, node } of walkTree(s.reader!, snap.tree)) {
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
    const n = chosen.length;
    const limit = { maxFiles: Infinity, maxBytes: bytesLeft };
    if (p.spec.kind === 'percent') limit.maxFiles = sampler.offered ? Math.max(1, Math.ceil((sampler.offered * p.spec.value) / 100)) : 0;
    else if (p.spec.kind === 'files') limit.maxFiles = Math.ceil(p.spec.value / n);
    else limit.maxBytes = Math.min(bytesLeft, Math.ceil(p.spec.value / n));
    const files = listing === 'unavailable' ? [] : sampler.pick(limit);
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

async function testTarget(
  ctx: AppContext,
  policy: Policy,
  s: Session,
  plan: PlannedSnapshot[],
  o: { dir: string; compareSource: boolean; sourceHashes: Map<string, Promise<string | undefined>> },
): Promise<TargetTestResult> {
  const reader = s.reader!;
  const name = s.spec.name;
  const r = emptyResult(s, []);
  const totalFiles = plan.reduce((n, p) => n + p.files.length, 0);
  const totalBytes = plan.reduce((n, p) => n + p.files.reduce((m, f) => m + f.size, 0), 0);
  const add = (f: FileTestResult): void => {
    r.results.push(f);
    if (f.status === 'passed') r.passed++;
    else if (f.status === 'failed') r.failed++;
    else r.skipped++;
    if (f.status !== 'skipped') r.files++;
  };
  for (const [k, p] of plan.entries()) {
    const snap = s.snapshots.get(p.snapshot.id);
    if (!snap) {
      const expected = p.completeOn?.has(name) ?? false;
      r.structure.push({
        snapshot: p.snapshot.id, present: false, ok: !expected, trees: 0, files: 0, problems: [], omitted: 0,
        note: expected ? 'missing on this target, although the catalogue records it complete here' : 'not on this target',
      });
      for (const f of p.files) {
        add(expected
          ? { snapshot: p.snapshot.id, path: f.path, size: f.size, status: 'failed', kind: 'missing-snapshot', reason: `snapshot ${p.snapshot.id.slice(0, 8)} is missing on target '${name}'`, transferMs: 0 }
          : { snapshot: p.snapshot.id, path: f.path, size: f.size, status: 'skipped', reason: `snapshot ${p.snapshot.id.slice(0, 8)} is not on target '${name}'`, transferMs: 0 });
      }
      continue;
    }
    const ts = ctx.clock.monotonic();
    const st = await checkSnapshotStructure(reader, snap.tree, s.stored, ctx.signal);
    r.overheadMs += ctx.clock.monotonic() - ts;
    const listingProblem = p.listing === 'unavailable' && p.note ? p.note : undefined;
    r.structure.push({
      snapshot: snap.id, present: true, ok: st.problems.length === 0 && !listingProblem, trees: st.trees, files: st.files, problems: st.problems, omitted: st.omitted,
      ...(listingProblem ? { note: listingProblem } : {}),
    });
    if (r.estimateFor === undefined) r.estimateFor = { snapshot: snap.id, bytes: snap.summary.bytes };
    const scratch = join(o.dir, String(k));
    for (const f of p.files) {
      ctx.signal?.throwIfAborted();
      const tf = ctx.clock.monotonic();
      const v = await restoreAndVerify(reader, snap.tree, f, { scratch, stored: s.stored, monotonic: () => ctx.clock.monotonic(), signal: ctx.signal });
      r.transferMs += v.transferMs;
      r.verifyMs += v.verifyMs;
      r.overheadMs += Math.max(0, ctx.clock.monotonic() - tf - v.transferMs - v.verifyMs);
      r.bytes += v.bytes;
      const base = { snapshot: snap.id, path: f.path, size: f.size, transferMs: v.transferMs };
      if (!v.ok) {
        add({ ...base, status: 'failed', kind: v.failure!.kind, reason: v.failure!.reason, ...(v.failure!.pack ? { pack: v.failure!.pack } : {}), ...(v.failure!.blob ? { blob: v.failure!.blob } : {}) });
      } else if (o.compareSource) {
        const cmp = await compareWithSource(ctx, policy, snap, f.path, v.node!, v.hash!, o.sourceHashes, reader.repo.key.mac);
        if (cmp === 'mismatch') add({ ...base, status: 'failed', kind: 'source-mismatch', reason: 'the live source file has the same size and mtime but different content (changed in place or damaged)', source: cmp });
        else add({ ...base, status: 'passed', source: cmp });
      } else {
        add({ ...base, status: 'passed' });
      }
      ctx.events?.progress?.({ phase: `restore-test ${name}`, files: r.results.length, totalFiles, bytes: r.bytes, totalBytes, path: f.path });
    }
    rmSync(scratch, { recursive: true, force: true });
  }
  r.bytesFetched = reader.bytesFetched;
  if (r.bytes > 0 && r.transferMs > 0) r.throughputBytesPerSec = (r.bytes / r.transferMs) * 1000;
  r.ok = r.failed === 0 && r.structure.every((x) => x.ok);
  // A damaged copy is no restorable copy: no estimate from it (compliance reads it as a failed test).
  if (r.estimateFor && r.ok) {
    r.estimatedFullRestoreMs = r.estimateFor.bytes === 0 ? r.overheadMs : r.throughputBytesPerSec ? r.overheadMs + (r.estimateFor.bytes / r.throughputBytesPerSec) * 1000 : null;
  }
  return r;
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
  const root = snap.paths.find((p) => (basename(p) || 'root') === top);
  if (!root) return 'not-a-source';
  const live = join(root, ...rest);
  const st = lstatSync(live, { throwIfNoEntry: false });
  if (!st) return 'missing';
  if (!st.isFile() || st.size !== node.size || Math.abs(st.mtimeMs - node.mtime) >= 1) return 'changed';
  let h = cache.get(live);
  if (!h) {
    h = keyedFileHash(mac, live, ctx.signal).catch((err: unknown) => {
      if ((err as Error).name === 'AbortError') throw err;
      ctx.events?.warning?.(`cannot read source ${live}: ${errorMessage(err)}`, live);
      return undefined;
    });
    cache.set(live, h);
  }
  const hash = await h;
  if (hash === undefined) return 'changed';
  return hash === restoredHash ? 'identical' : 'mismatch';
}

function unreachableResult(s: Session, plan: PlannedSnapshot[]): TargetTestResult {
  const reason = errorMessage(s.error);
  const results = plan.flatMap((p) => p.files.map((f) => ({ snapshot: p.snapshot.id, path: f.path, size: f.size, status: 'failed' as const, kind: 'target-unreachable' as const, reason, transferMs: 0 })));
  return {
    ...emptyResult(s, results),
    reachable: false,
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
    ok: true,
    files: 0,
    passed: 0,
    failed: 0,
    skipped: 0,
    bytes: 0,
    bytesFetched: 0,
    overheadMs: s.overheadMs,
    transferMs: 0,
    verifyMs: 0,
    throughputBytesPerSec: null,
    estimatedFullRestoreMs: null,
    structure: [],
    results,
  };
}

/** 1 when a target could not be tested (or the error of every target when none could), 4 on any damage, else 0. */
function exitCodeFor(sessions: Session[], targets: TargetTestResult[]): number {
  const down = sessions.filter((s) => !s.reader);
  if (down.length > 0 && down.length === sessions.length) {
    const codes = new Set(down.map((s) => (s.error instanceof TriadError ? s.error.exitCode : 1)));
    return codes.size === 1 ? [...codes][0]! : 1;
  }
  if (down.length > 0) return 1;
  return targets.every((t) => t.ok) ? 0 : 4;
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
  if (!t.reachable) out.push({ kind: 'target-unreachable', reason: t.error });
  for (const x of t.structure) for (const p of x.problems.slice(0, 10)) out.push({ snapshot: x.snapshot, structure: true, kind: p.kind, path: p.path, reason: p.message });
  for (const f of t.results) if (f.status === 'failed' && f.kind !== 'target-unreachable') out.push({ snapshot: f.snapshot, path: f.path, kind: f.kind, reason: f.reason, pack: f.pack });
  return out.slice(0, RECORDED_FAILURES);
}

function journalRecord(policy: Policy, r: RestoreTestResult, started: Date, finished: Date): JournalRecord {
  return {
    version: 1,
    kind: 'restore-test',
    policy: policy.name,
    host: hostName(policy),
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
        estimatedFullRestoreMs: t.estimatedFullRestoreMs === null ? null : Math.round(t.estimatedFullRestoreMs),
        failures: recordedFailures(t),
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
