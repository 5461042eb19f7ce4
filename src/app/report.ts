import { discoverPolicyFiles } from './policy-files.js';
import { commitTime, foldHistoryBefore, runTargets, type FoldedSums } from './report-history.js';
import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { TriadError, errnoCode, ExitCode } from '../core/errors.js';
import { openCatalog, type Catalog } from '../catalog/catalog.js';
import type { RestoreTestRow, RunRow, SnapshotRecord, VerificationCoverage } from '../catalog/types.js';
import {
  buildPolicyReport,
  withFindings,
  type BackupRun,
  type CapacityInput,
  type Finding,
  type KeyProofRecord,
  type PolicyReport,
  type PolicyReportInput,
  type RestoreTestRecord,
  type SnapshotCopy,
  type TargetInfo,
  type VerificationCoverageInput,
  type VerificationRecord,
} from '../compliance/index.js';
import type { Policy, TargetSpec } from '../policy/types.js';
import { catalogPathFor, errorMessage, loadPolicyFile, type AppContext } from './session.js';
import {
  DEFAULT_COVERAGE_LIMITS,
  coveringSources,
  describeFigures,
  describeStop,
  describeUncovered,
  scanCoverage,
  uncoveredAction,
  type CoverageLimits,
  type CoverageScan,
  type CoveringSource,
} from './coverage.js';

/**
 * `triad report` and `triad status`: read each policy's history from its catalogue, map it
 * to the compliance inputs (DESIGN.md §3–§4) and evaluate it at one time. All I/O of the
 * compliance picture lives here (catalogue, file-system capacity); src/compliance stays pure.
 */
export interface ReportOptions {
  /** Policy files (-p), in the order given. */
  readonly policyFiles?: readonly string[];
  /** A directory whose *.yaml / *.yml files are policies (--policies). */
  readonly policiesDir?: string;
  /** Evaluation time; defaults to ctx.clock.now(). */
  readonly at?: Date;
  /** Overrides every policy's objectives.window. */
  readonly windowMs?: number;
  /** The zone of times in the reports' text instead of each policy's timezone (--utc). */
  readonly zone?: string;
  /** Bounds of each policy's coverage scan (DEFAULT_COVERAGE_LIMITS when unset). */
  readonly coverageLimits?: CoverageLimits;
}

/** One policy's outcome: a report, or the reason it could not be evaluated at all. */
export type PolicyOutcome =
  | { readonly file: string; readonly ok: true; readonly report: PolicyReport; readonly catalog: string; readonly hasHistory: boolean }
  | { readonly file: string; readonly ok: false; readonly policy?: string; readonly error: TriadError };

export interface ReportResult {
  readonly at: Date;
  readonly outcomes: readonly PolicyOutcome[];
  /** 0 when every evaluated policy is compliant, 4 when any has a finding. */
  readonly exitCode: typeof ExitCode.OK | typeof ExitCode.FINDING;
}

/** The policy files named by -p and --policies, de-duplicated, -p first. Throws E_USAGE when there are none. */
export function resolvePolicyFiles(ctx: AppContext, opts: Pick<ReportOptions, 'policyFiles' | 'policiesDir'>): Promise<string[]> {
  return discoverPolicyFiles(ctx.cwd, opts.policyFiles ?? [], opts.policiesDir, { requireSome: true });
}

/**
 * Evaluates every policy. A policy that cannot be loaded, or whose catalogue exists but cannot
 * be read, becomes an `ok: false` outcome; a policy without a catalogue or without history is
 * evaluated with no history (so it is in breach since its first scheduled backup).
 */
export async function buildReports(ctx: AppContext, opts: ReportOptions): Promise<ReportResult> {
  const at = opts.at ?? ctx.clock.now();
  const files = await resolvePolicyFiles(ctx, opts);
  const loaded: LoadedPolicy[] = [];
  for (const file of files) loaded.push(await loadForReport(ctx, file));
  // Data any policy of the report backs up is covered for every policy's coverage roots.
  const sources = coveringSources(loaded.flatMap((l) => (l.ok ? [l.policy] : [])));
  const outcomes: PolicyOutcome[] = [];
  for (const l of loaded) {
    if (ctx.signal?.aborted) throw new TriadError('E_INTERRUPTED', 'interrupted');
    outcomes.push(l.ok ? await evaluatePolicy(ctx, l.file, l.policy, at, opts, sources) : { file: l.file, ok: false, error: l.error });
  }
  const finding = outcomes.some((o) => o.ok && o.report.exitCode === ExitCode.FINDING);
  return { at, outcomes, exitCode: finding ? 4 : 0 };
}

type LoadedPolicy = { readonly file: string; readonly ok: true; readonly policy: Policy } | { readonly file: string; readonly ok: false; readonly error: TriadError };

async function loadForReport(ctx: AppContext, file: string): Promise<LoadedPolicy> {
  try {
    return { file, ok: true, policy: await loadPolicyFile(ctx, file) };
  } catch (err) {
    return { file, ok: false, error: asTriadError(err, `cannot load the policy ${file}`) };
  }
}

async function evaluatePolicy(
  ctx: AppContext,
  file: string,
  policy: Policy,
  at: Date,
  opts: Pick<ReportOptions, 'windowMs' | 'zone' | 'coverageLimits'>,
  sources: readonly CoveringSource[],
): Promise<PolicyOutcome> {
  const catalogFile = catalogPathFor(ctx, policy);
  let catalog: Catalog | undefined;
  if (existsSync(catalogFile)) {
    try {
      catalog = openCatalog(catalogFile, { readonly: true });
    } catch (err) {
      return { file, ok: false, policy: policy.name, error: asTriadError(err, `cannot read the catalogue ${catalogFile}`) };
    }
  }
  try {
    const since = new Date(at.getTime() - (opts.windowMs ?? policy.objectives.window));
    const ledger = { at, everyMs: policy.verify.every, targets: policy.targets.map((t) => t.name) };
    const history = catalog ? readHistory(catalog, policy.name, { since, at }, ledger) : emptyHistory();
    const input = reportInput({ policy, history, at, windowMs: opts.windowMs, zone: opts.zone, capacity: await capacityOf(policy, history, at) });
    let report = buildPolicyReport(input);
    const hasHistory = history.snapshots.length > 0 || history.runs.length > 0;
    // With no record at all, say where the report looked instead of the bare "not started".
    if (!hasHistory) report = withFindings(report, [noHistoryFinding(policy, catalogFile, catalog !== undefined)], ['not-started']);
    if (policy.coverage !== undefined) {
      const scan = scanCoverage(policy, sources, { clock: ctx.clock, limits: opts.coverageLimits ?? DEFAULT_COVERAGE_LIMITS, signal: ctx.signal });
      report = withFindings(report, coverageFindings(scan, opts.zone ?? policy.timezone));
    }
    return { file, ok: true, report, catalog: catalogFile, hasHistory };
  } catch (err) {
    if (err instanceof TriadError && err.code === 'E_INTERRUPTED') throw err;
    return { file, ok: false, policy: policy.name, error: asTriadError(err, `cannot evaluate policy ${policy.name}`) };
  } finally {
    catalog?.close();
  }
}

/** The same resolution as session.catalogFor, without creating the file: a report never writes. */
function asTriadError(err: unknown, what: string): TriadError {
  if (err instanceof TriadError) return err;
  return new TriadError('E_INTERNAL', `${what}: ${errorMessage(err)}`, { cause: err });
}

// ---- history -----------------------------------------------------------------------------

/** The catalogue rows of one policy that the report needs. */
export interface PolicyHistory {
  readonly snapshots: readonly SnapshotRecord[];
  readonly runs: readonly RunRow[];
  readonly restoreTests: readonly RestoreTestRow[];
  /** Stored bytes per target now (sum of its pack sizes). */
  readonly storedBytes: ReadonlyMap<string, number>;
  /** Per target, sums over the copies before the window that were folded away (readHistory's `window`). */
  readonly folded?: ReadonlyMap<string, FoldedSums>;
  /** The verification ledger of each of the policy's targets over verify.every (when asked for). */
  readonly verification?: readonly VerificationCoverageInput[];
}

function emptyHistory(): PolicyHistory {
  return { snapshots: [], runs: [], restoreTests: [], storedBytes: new Map() };
}

/**
 * The history a report evaluates. With `window` (the report's window start and time), what lies
 * before the window is folded into the few rows and sums the evaluation reads (report-history.ts),
 * so memory follows the window, not the length of the history; the report is the same. With
 * `ledger`: also what the verification ledger says of each target over the period before `at`.
 */
export function readHistory(
  catalog: Catalog,
  policy: string,
  window?: { readonly since: Date; readonly at: Date },
  ledger?: { at: Date; everyMs: number; targets: readonly string[] },
): PolicyHistory {
  const restoreTests = catalog.listRestoreTests(policy);
  const storedBytes = new Map<string, number>();
  for (const t of catalog.listTargets(policy)) storedBytes.set(t.name, catalog.storageStats(policy, t.name).pack_bytes);
  const base = { restoreTests, storedBytes, ...(window === undefined ? { snapshots: catalog.listSnapshots(policy), runs: catalog.listRuns(policy) } : windowed(catalog, policy, window)) };
  if (!ledger) return base;
  const since = new Date(ledger.at.getTime() - ledger.everyMs);
  const verification = ledger.targets.map((t) => verificationInput(t, catalog.verificationCoverage(policy, t, since)));
  return { ...base, verification };
}

/** The window's rows, after the rows and sums folded from before it. */
function windowed(catalog: Catalog, policy: string, window: { readonly since: Date; readonly at: Date }): Pick<PolicyHistory, 'snapshots' | 'runs' | 'folded'> {
  const older = foldHistoryBefore(catalog, policy, window.since, window.at);
  return {
    snapshots: [...older.snapshots, ...catalog.listSnapshots(policy, { since: window.since })],
    runs: [...older.runs, ...catalog.listRuns(policy, { since: window.since })],
    folded: older.sums,
  };
}

function verificationInput(target: string, c: VerificationCoverage): VerificationCoverageInput {
  const date = (s: string | null): Date | null => (s === null ? null : new Date(s));
  return {
    target,
    packs: c.packs,
    bytes: c.bytes,
    verifiedPacks: c.verifiedPacks,
    verifiedBytes: c.verifiedBytes,
    neverVerifiedPacks: c.neverVerifiedPacks,
    neverVerifiedBytes: c.neverVerifiedBytes,
    oldestVerifiedAt: date(c.oldestVerifiedAt),
    lastVerifiedAt: date(c.lastVerifiedAt),
    sampledPacks: c.sampledPacks,
    failedPacks: c.failed.map((f) => ({ pack: f.pack, size: f.size, failedAt: new Date(f.failedAt) })),
  };
}

// ---- mapping to the compliance inputs ---------------------------------------------------------

/** A target as the report reads it: from a policy file, or from the digest a backup's journal record keeps. */
export type ReportTarget = Pick<TargetSpec, 'name' | 'media' | 'offsite' | 'immutable'> & { readonly type: string; readonly offline?: boolean };

/** What a report reads of a policy: a loaded policy file, or one rebuilt from the repository (policy-digest.ts). */
export type ReportPolicy = PolicyReportInput['policy'] & Pick<Policy, 'timezone'> & { readonly targets: readonly ReportTarget[] };

export interface ReportInputArgs {
  readonly policy: ReportPolicy;
  readonly history: PolicyHistory;
  readonly at: Date;
  readonly windowMs?: number | undefined;
  readonly capacity?: readonly CapacityInput[];
  /** Overrides the policy's timezone for times in the findings' text. */
  readonly zone?: string | undefined;
}

/** Pure: catalogue rows → PolicyReportInput. */
export function reportInput(a: ReportInputArgs): PolicyReportInput {
  const { policy, history } = a;
  const obligationsStart = obligationsStartOf(policy, history.snapshots, a.at);
  const firstSeen = targetFirstSeen(history.runs);
  const targets: TargetInfo[] = policy.targets.map((t) => targetInfo(t, obligationsStart, firstSeen.get(t.name)));
  return {
    policy,
    targets,
    snapshots: snapshotCopies(history.snapshots),
    runs: backupRuns(history.runs),
    restoreTests: history.restoreTests.map(restoreTestRecord),
    verifications: verifications(history.runs),
    keyProofs: keyProofs(history.runs),
    ...(history.verification === undefined ? {} : { verificationCoverage: history.verification }),
    ...(a.capacity === undefined ? {} : { capacity: a.capacity }),
    obligationsStart,
    at: a.at,
    ...(a.windowMs === undefined ? {} : { windowMs: a.windowMs }),
    zone: a.zone ?? policy.timezone,
  };
}

/**
 * When the policy's obligations start (DESIGN.md §4): `objectives.since` when the contract
 * began before the first backup (the time until then is a breach); otherwise the end of the
 * backup that committed its first snapshot, so the minutes a correct first backup takes are
 * no breach. null while neither exists.
 */
export function obligationsStartOf(policy: Pick<Policy, 'objectives'>, snapshots: readonly SnapshotRecord[], at: Date): Date | null {
  if (policy.objectives.since !== undefined) return policy.objectives.since;
  let first: number | null = null;
  for (const s of snapshots) {
    const done = commitTime(s.finished_at, s.presence.map((p) => p.completed_at));
    // A report "as of" an earlier time does not see a backup that had not finished by then.
    if (done !== null && done <= at.getTime() && (first === null || done < first)) first = done;
  }
  return first === null ? null : new Date(first);
}

/**
 * A target added to the policy later is due from the end of the first backup run that included
 * it, not from the policy's start; a target no run ever included is due from the policy's start.
 */
function targetInfo(t: ReportTarget, policyStart: Date | null, firstSeen: number | undefined): TargetInfo {
  const due = firstSeen !== undefined && policyStart !== null && firstSeen > policyStart.getTime() ? new Date(firstSeen) : undefined;
  return {
    name: t.name,
    media: t.media,
    offsite: t.offsite,
    immutable: t.immutable,
    offline: t.offline ?? false,
    local: t.type === 'local',
    ...(due === undefined ? {} : { firstScheduledAt: due }),
  };
}

function targetFirstSeen(runs: readonly RunRow[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of runs) {
    if (r.kind !== 'backup' || r.finished_at === null) continue;
    const t = Date.parse(r.finished_at);
    for (const e of runTargets(r)) out.set(e.name, Math.min(t, out.get(e.name) ?? t));
  }
  return out;
}

/**
 * A snapshot counts on a target from its completion there. Forgotten copies count for their
 * history (a prune does not make the past unprotected); a copy found missing never counts.
 */
export function snapshotCopies(snapshots: readonly SnapshotRecord[]): SnapshotCopy[] {
  const out: SnapshotCopy[] = [];
  for (const s of snapshots) {
    for (const p of s.presence) {
      if (p.status === 'missing' || p.completed_at === null) continue;
      out.push({
        snapshotId: s.id,
        target: p.target,
        recoveryPoint: new Date(s.time),
        completedAt: new Date(p.completed_at),
        bytes: s.bytes,
        partial: s.partial,
      });
    }
  }
  return out;
}

/** The `key verify` runs: per target, the key the passphrase opened there (null where it opened none). */
export function keyProofs(runs: readonly RunRow[]): KeyProofRecord[] {
  const out: KeyProofRecord[] = [];
  for (const r of runs) {
    if (r.kind !== 'key-verify' || r.finished_at === null || !Array.isArray(r.details.targets)) continue;
    const targets: { target: string; key: string | null }[] = [];
    for (const e of r.details.targets as unknown[]) {
      if (e === null || typeof e !== 'object') continue;
      const o = e as { target?: unknown; key?: unknown };
      if (typeof o.target === 'string') targets.push({ target: o.target, key: typeof o.key === 'string' ? o.key : null });
    }
    out.push({ at: new Date(r.finished_at), targets });
  }
  return out;
}

/** One BackupRun per target of every finished backup run; runs still 'running' are left out. */
export function backupRuns(runs: readonly RunRow[]): BackupRun[] {
  const out: BackupRun[] = [];
  for (const r of runs) {
    if (r.kind !== 'backup' || r.status === 'running' || r.finished_at === null) continue;
    const startedAt = new Date(r.started_at);
    const finishedAt = new Date(r.finished_at);
    const runFailed = r.status === 'failed' || r.status === 'interrupted';
    for (const t of runTargets(r)) {
      // Per-target results when the run recorded them; otherwise the run's own status.
      const ok = t.ok ?? !runFailed;
      const error = ok ? undefined : (t.error ?? r.error ?? (r.status === 'interrupted' ? 'interrupted' : 'failed'));
      out.push({ target: t.name, startedAt, finishedAt, ok, ...(error === undefined ? {} : { error }), ...(r.status === 'partial' && ok ? { partial: true } : {}) });
    }
  }
  return out;
}

export function restoreTestRecord(r: RestoreTestRow): RestoreTestRecord {
  const snap = r.snapshots[0];
  return {
    at: new Date(r.at),
    target: r.target,
    ok: r.ok,
    files: r.files,
    bytes: r.bytes,
    overheadMs: r.overhead_ms,
    transferMs: r.transfer_ms,
    failures: r.failures.length,
    runId: r.run_id,
    durationMs: r.duration_ms,
    ...(snap === undefined ? {} : { snapshotId: snap }),
  };
}

/**
 * Finished `check` runs as verification records. A check that could not open its target
 * recorded no integrity figures and is not a verification.
 */
export function verifications(runs: readonly RunRow[]): VerificationRecord[] {
  const out: VerificationRecord[] = [];
  for (const r of runs) {
    if (r.kind !== 'check' || r.target === null || r.finished_at === null || r.status === 'running') continue;
    const errors = r.details.errors;
    if (typeof errors === 'number') out.push({ target: r.target, at: new Date(r.finished_at), errors });
    else if (r.status === 'ok') out.push({ target: r.target, at: new Date(r.finished_at), errors: 0 });
  }
  return out;
}

// ---- capacity ----------------------------------------------------------------------------------

/**
 * Per target: stored bytes over time (the running sum of what each snapshot added, ending at the
 * catalogue's current pack total), the restorable bytes kept, and for local targets the file
 * system's used and free space now.
 */
async function capacityOf(policy: Policy, history: PolicyHistory, at: Date): Promise<CapacityInput[]> {
  const out: CapacityInput[] = [];
  for (const t of policy.targets) {
    const fs = t.type === 'local' ? await fileSystemUsage(t.path) : undefined;
    out.push({ ...storedFigures(t.name, history, at), ...(fs ?? {}) });
  }
  return out;
}

export function storedFigures(target: string, history: PolicyHistory, at: Date): CapacityInput {
  const atMs = at.getTime();
  const all = history.snapshots
    .map((s) => ({ s, p: s.presence.find((p) => p.target === target) }))
    .filter((x) => x.p !== undefined && x.p.completed_at !== null && x.p.status !== 'missing')
    .map((x) => ({ s: x.s, status: x.p!.status, completed: Date.parse(x.p!.completed_at!) }))
    .sort((a, b) => a.completed - b.completed);
  const mine = all.filter((x) => x.completed <= atMs);
  const folded = history.folded?.get(target);
  let sum = folded?.storedBytes ?? 0;
  const storedHistory = mine.map((x) => ({ at: new Date(x.completed), bytes: (sum += x.s.bytes_added) }));
  const now = history.storedBytes.get(target);
  const last = storedHistory[storedHistory.length - 1];
  if (last && now !== undefined && now > 0 && mine.length === all.length) {
    // Evaluated after the latest snapshot: the catalogue's pack total (after prunes) is exact.
    storedHistory[storedHistory.length - 1] = { at: last.at, bytes: now };
  }
  const logicalBytes = mine.filter((x) => x.status === 'complete').reduce((n, x) => n + x.s.bytes, folded?.logicalBytes ?? 0);
  return { target, ...(storedHistory.length > 0 ? { storedHistory, logicalBytes } : {}) };
}

/** Used and free bytes of the file system holding `path` (or its nearest existing ancestor). */
export async function fileSystemUsage(path: string): Promise<{ usedBytes: number; freeBytes: number } | undefined> {
  let p = resolve(path);
  for (;;) {
    try {
      const s = await statfs(p);
      return { usedBytes: (s.blocks - s.bfree) * s.bsize, freeBytes: s.bavail * s.bsize };
    } catch (err) {
      const code = errnoCode(err);
      const parent = dirname(p);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === p) return undefined;
      p = parent;
    }
  }
}

// ---- extra findings ------------------------------------------------------------------------------

function noHistoryFinding(policy: Policy, catalogFile: string, catalogExists: boolean): Omit<Finding, 'affectsCompliance'> {
  return {
    severity: 'warning',
    code: 'no-history',
    message: catalogExists
      ? `the catalogue ${catalogFile} holds no backup of policy ${policy.name}`
      : `no catalogue at ${catalogFile}: no backup of policy ${policy.name} was ever recorded there`,
    action: catalogExists
      ? `run \`triad backup -p ${policy.file}\``
      : `run \`triad backup -p ${policy.file}\`, or point --catalog at the catalogue the backups use (it is per user unless the policy names one)`,
  };
}

/**
 * Each uncovered directory is out of contract, CRITICAL (the data it holds has no copy at all); a scan
 * stopped by a limit or blocked by unreadable directories is a warning that the list may be short.
 */
export function coverageFindings(scan: CoverageScan, zone: string): Finding[] {
  const out: Finding[] = scan.uncovered.map((e) => ({
    severity: 'critical',
    code: 'unprotected-data',
    message: `${describeUncovered(e)} (${describeFigures(e, zone)})`,
    action: uncoveredAction(e, scan.file),
    affectsCompliance: true,
  }));
  if (scan.stopped !== undefined) {
    out.push({
      severity: 'warning',
      code: 'coverage-incomplete',
      message: `${describeStop(scan.stopped)} (coverage roots ${scan.roots.join(', ')})`,
      action: `narrow coverage.roots, add coverage.ignore entries or set coverage.max_depth in ${scan.file}; \`triad coverage -p ${scan.file} --max-entries N --max-time D\` reads further`,
      affectsCompliance: false,
    });
  }
  if (scan.unreadable.length > 0) {
    const shown = scan.unreadable.slice(0, 3).map((u) => `${u.path} (${u.reason})`);
    const more = scan.unreadable.length > shown.length ? ` and ${scan.unreadable.length - shown.length} more` : '';
    out.push({
      severity: 'warning',
      code: 'coverage-unreadable',
      message: `the coverage scan could not read ${shown.join(', ')}${more}: data there may have no backup`,
      action: 'run the report as a user that can read every coverage root, or add those paths to coverage.ignore',
      affectsCompliance: false,
    });
  }
  return out;
}

