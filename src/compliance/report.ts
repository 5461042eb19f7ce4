import type { Policy } from '../policy/types.js';
import { countOf, formatDuration, formatTime } from '../core/format.js';
import { shellWord } from '../core/describe.js';
import { evaluateRpo } from './rpo.js';
import { evaluateDataRule } from './rule-status.js';
import { evaluateRto, latestTest, measuredBytesPerMs } from './rto.js';
import { unrepairedFailures, verificationCoverage, verificationFindings } from './verification.js';
import type {
  KeyProofRecord,
  KeyProofStatus,
  BackupRun,
  CapacityInput,
  Finding,
  HistoryBasis,
  NagiosStatus,
  PerfDatum,
  PolicyReport,
  RestoreTestCopy,
  RestoreTestRecord,
  RestoreTestRun,
  RpoEvaluation,
  Severity,
  SnapshotCopy,
  TargetBackups,
  TargetCapacity,
  TargetInfo,
  TargetRestoreTests,
  VerificationCoverageInput,
  VerificationRecord,
} from './types.js';

/** Used-space thresholds of a local target's file system, in percent. */
export const CAPACITY_WARNING_PERCENT = 85;
export const CAPACITY_CRITICAL_PERCENT = 95;
/** A forecast of fewer days left than this is a warning. */
export const CAPACITY_WARNING_DAYS = 30;
/** objectives.warn_at when the policy sets none: exposure past this share of the RPO is a warning. */
export const DEFAULT_WARN_AT_PERCENT = 80;
/**
 * A trend (capacity growth, run-time slope) is drawn only from at least this many samples
 * spread over at least this long: two backups minutes apart say nothing about a day.
 */
export const FORECAST_MIN_POINTS = 3;
export const FORECAST_MIN_SPAN_MS = 3 * 86_400_000;
/** A restore test due within this time is a warning, so it can be run before it is overdue. */
export const RESTORE_TEST_DUE_SOON_MS = 3 * 86_400_000;

const DAY_MS = 86_400_000;
/** verify.every when the policy sets none. */
export const DEFAULT_VERIFY_EVERY_MS = 30 * DAY_MS;

export interface PolicyReportInput {
  readonly policy: Pick<Policy, 'name' | 'description' | 'rule' | 'objectives' | 'production' | 'keys'> & {
    /** The policy file, for commands that run as written. */
    readonly file?: string;
    readonly restore_test: { readonly every: number };
    /** verify.every: the period in which every stored byte must be verified (default 30 days). */
    readonly verify?: { readonly every: number };
  };
  readonly targets: readonly TargetInfo[];
  readonly snapshots: readonly SnapshotCopy[];
  readonly runs: readonly BackupRun[];
  readonly restoreTests: readonly RestoreTestRecord[];
  readonly verifications: readonly VerificationRecord[];
  readonly capacity?: readonly CapacityInput[];
  readonly keyProofs?: readonly KeyProofRecord[];
  /** The verification ledger per target; without it the report has no verification section. */
  readonly verificationCoverage?: readonly VerificationCoverageInput[];
  /**
   * When the policy's obligations start (DESIGN.md §4): `objectives.since`, or the moment its
   * first committed snapshot was complete. null: not yet (no snapshot and no `since`), so
   * nothing is judged but that fact.
   */
  readonly obligationsStart: Date | null;
  readonly at: Date;
  /** Defaults to policy.objectives.window. */
  readonly windowMs?: number;
  /** Let partial snapshots count as copies (default false). */
  readonly countPartial?: boolean;
  /** The time zone of times in findings' text (the policy's, or UTC under --utc); default UTC. */
  readonly zone?: string;
}

/**
 * The whole compliance picture of one policy at `at`: rule, RPO, RTO, restore tests, backups
 * and capacity, with findings ordered by severity and the exit codes a CLI should use.
 * A finding with affectsCompliance means "out of contract" and turns the exit code into 4;
 * warnings that are not (a failed run since recovered, a filling disk) only colour Nagios.
 */
export function buildPolicyReport(input: PolicyReportInput): PolicyReport {
  const { policy, at } = input;
  const atMs = at.getTime();
  const windowMs = input.windowMs ?? policy.objectives.window;
  const windowStart = atMs - windowMs;
  const rpoMs = policy.objectives.rpo ?? null;
  const rtoMs = policy.objectives.rto ?? null;
  const everyMs = policy.restore_test.every;
  const countPartial = input.countPartial ?? false;
  const started = input.obligationsStart !== null && input.obligationsStart.getTime() <= atMs;
  // Before the start nothing is due: the evaluators see obligations starting just after `at`.
  const start = started ? input.obligationsStart : new Date(atMs + 1);

  const verification = input.verificationCoverage === undefined ? undefined : verificationCoverage(input.verificationCoverage, at, policy.verify?.every ?? DEFAULT_VERIFY_EVERY_MS, started ? start : null);
  const rule = evaluateDataRule({
    rule: policy.rule,
    productionMedia: policy.production.media,
    targets: input.targets,
    snapshots: input.snapshots,
    verifications: input.verifications,
    ledgerFailures: unrepairedFailures(verification),
    rpoMs,
    at,
    countPartial,
  });
  const rpo = evaluateRpo({
    rule: policy.rule,
    productionMedia: policy.production.media,
    rpoMs,
    targets: input.targets,
    snapshots: input.snapshots,
    firstScheduledAt: start,
    at,
    windowMs,
    countPartial,
  });
  const rto = evaluateRto({
    rtoMs,
    restoreEveryMs: everyMs,
    targets: input.targets,
    snapshots: input.snapshots,
    restoreTests: input.restoreTests,
    at,
    countPartial,
  });
  const restoreTests = input.targets.map((t) => restoreTestStatus(input, t, started ? start : null, atMs, windowStart, everyMs));
  const testRuns = restoreTestRuns(input.restoreTests, atMs);
  const backups = input.targets.map((t) => backupStatus(input, t.name, atMs, windowStart));
  const capacity = (input.capacity ?? []).map((c) => capacityStatus(c, atMs, windowStart));
  const keyProofEveryMs = policy.keys.prove_every ?? null;
  const keys = keyProofStatus(input.keyProofs ?? [], input.targets.map((t) => t.name), atMs, keyProofEveryMs);

  const collected = collectFindings({ input, started, rule, rpo, rto, restoreTests, backups, capacity, keys, keyProofEveryMs, rpoMs, rtoMs, everyMs });
  const findings = verification === undefined ? collected : sortWorstFirst([...collected, ...verificationFindings(verification, shellWord(policy.file ?? policy.name)).map((f) => ({ ...f, affectsCompliance: f.severity === 'critical' }))]);
  const judgement = judge(findings, input.targets.length === 0);

  return {
    policy: policy.name,
    ...(policy.description === undefined ? {} : { description: policy.description }),
    zone: input.zone ?? 'UTC',
    at,
    windowMs,
    windowStart: new Date(windowStart),
    objectives: { rpoMs, rtoMs, restoreEveryMs: everyMs },
    obligationsStart: input.obligationsStart,
    obligationsFrom: input.obligationsStart === null ? null : policy.objectives.since !== undefined ? 'since' : 'first-backup',
    productionMedia: policy.production.media,
    targets: input.targets,
    rule,
    rpo,
    rto,
    restoreTests,
    restoreTestHistory: testRuns.filter((r) => r.at.getTime() > windowStart),
    lastRestoreTest: testRuns[0] ?? null,
    backups,
    capacity,
    keys,
    keyProofEveryMs,
    ...(verification === undefined ? {} : { verification }),
    findings,
    severity: judgement.severity,
    verdict: judgement.verdict,
    exitCode: judgement.exitCode,
    nagios: { status: judgement.nagiosStatus, perfdata: perfdata(rpo, rpoMs, (rpoMs ?? 0) * warnAtPercent(policy) / 100, rtoMs, rto, restoreTests, everyMs, capacity) },
  };
}

/**
 * Per key: proven on every target of the policy as of the oldest of its latest per-target
 * proofs (so `key verify --target` runs on different days add up), never when some target
 * was never opened by it.
 */
function keyProofStatus(proofs: readonly KeyProofRecord[], targets: readonly string[], at: number, everyMs: number | null): KeyProofStatus[] {
  const lastOpened = new Map<string, Map<string, number>>();
  for (const p of proofs) {
    const t = p.at.getTime();
    if (t > at) continue;
    for (const x of p.targets) {
      if (x.key === null) continue;
      const perTarget = lastOpened.get(x.key) ?? new Map<string, number>();
      perTarget.set(x.target, Math.max(t, perTarget.get(x.target) ?? t));
      lastOpened.set(x.key, perTarget);
    }
  }
  return [...lastOpened].map(([key, perTarget]) => {
    const times = targets.flatMap((t) => { const at = perTarget.get(t); return at === undefined ? [] : [at]; });
    const proved = times.length > 0 && times.length === targets.length ? Math.min(...times) : null;
    return {
      key,
      lastProvedAt: proved === null ? null : new Date(proved),
      ageMs: proved === null ? null : at - proved,
      targets: targets.filter((t) => perTarget.has(t)),
      overdue: everyMs !== null && (proved === null || at - proved > everyMs),
    };
  });
}

function restoreTestStatus(input: PolicyReportInput, t: TargetInfo, start: Date | null, at: number, windowStart: number, everyMs: number): TargetRestoreTests {
  const last = latestTest(input.restoreTests, t.name, at);
  const failuresInWindow = input.restoreTests
    .filter((r) => r.target === t.name && !r.ok && r.at.getTime() > windowStart && r.at.getTime() <= at)
    .sort((a, b) => a.at.getTime() - b.at.getTime())
    .map((r) => ({ at: r.at, failures: r.failures }));
  // Without any test, the first one was due one interval after the target's first backup.
  // Before obligations start nothing is due.
  const from = last ? last.at : start === null ? null : (t.firstScheduledAt ?? start);
  const dueAt = from === null ? null : from.getTime() + everyMs;
  const overdueByMs = dueAt === null ? 0 : Math.max(0, at - dueAt);
  const passed = input.restoreTests.filter((r) => r.target === t.name && r.ok && r.at.getTime() <= at);
  const lastSuccessAt = passed.reduce<Date | null>((m, r) => (m === null || r.at.getTime() > m.getTime() ? r.at : m), null);
  return {
    target: t.name,
    last: last ? { at: last.at, ok: last.ok, files: last.files, bytes: last.bytes, failures: last.failures } : null,
    ageMs: last ? at - last.at.getTime() : null,
    lastSuccessAt,
    dueAt: dueAt === null ? null : new Date(dueAt),
    overdue: overdueByMs > 0,
    overdueByMs,
    failuresInWindow,
  };
}

/**
 * The restore tests that finished by `at`, grouped into the runs that made them (one
 * `triad restore-test` tests every selected copy), newest first. Records without a run id
 * group by their finishing time.
 */
function restoreTestRuns(tests: readonly RestoreTestRecord[], at: number): RestoreTestRun[] {
  const runs = new Map<string, RestoreTestRecord[]>();
  for (const t of tests) {
    if (t.at.getTime() > at) continue;
    const key = t.runId === undefined ? `at ${t.at.getTime()}` : `run ${t.runId}`;
    const copies = runs.get(key);
    if (copies) copies.push(t);
    else runs.set(key, [t]);
  }
  return [...runs.values()].map((copies) => restoreTestRun(copies, at)).sort((a, b) => b.at.getTime() - a.at.getTime());
}

function restoreTestRun(records: readonly RestoreTestRecord[], at: number): RestoreTestRun {
  const copies: RestoreTestCopy[] = records.map((t) => {
    const bytesPerMs = measuredBytesPerMs(t);
    return {
      target: t.target, ok: t.ok, files: t.files, bytes: t.bytes, failures: t.failures,
      durationMs: t.durationMs ?? null,
      throughputBytesPerSec: bytesPerMs === null ? null : bytesPerMs * 1000,
    };
  });
  const finished = Math.max(...records.map((t) => t.at.getTime()));
  const durations = copies.map((c) => c.durationMs);
  return {
    at: new Date(finished),
    ageMs: at - finished,
    ok: copies.every((c) => c.ok),
    files: Math.max(...copies.map((c) => c.files)),
    bytes: Math.max(...copies.map((c) => c.bytes)),
    durationMs: durations.every((d): d is number => d !== null) ? durations.reduce((n, d) => n + d, 0) : null,
    copies,
  };
}

function backupStatus(input: PolicyReportInput, target: string, at: number, windowStart: number): TargetBackups {
  const runs = input.runs.filter((r) => r.target === target && r.finishedAt.getTime() <= at).sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
  let lastSuccess: TargetBackups['lastSuccess'] = null;
  let lastFailure: TargetBackups['lastFailure'] = null;
  for (const r of runs) {
    if (r.ok) lastSuccess = { at: r.finishedAt, durationMs: r.finishedAt.getTime() - r.startedAt.getTime() };
    else lastFailure = { at: r.finishedAt, error: r.error ?? 'unknown error' };
  }
  const inWindow = runs.filter((r) => r.startedAt.getTime() >= windowStart);
  const durations = inWindow.filter((r) => r.ok).map((r) => ({ at: r.startedAt, durationMs: r.finishedAt.getTime() - r.startedAt.getTime() }));
  const basis = historyBasis(durations.map((d) => d.at));
  const fit = basis.enough ? leastSquares(durations.map((d) => [(d.at.getTime() - windowStart) / DAY_MS, d.durationMs])) : null;
  const partialSnapshots = input.snapshots
    .filter((s) => s.target === target && s.partial && s.completedAt.getTime() > windowStart && s.completedAt.getTime() <= at)
    .sort((a, b) => a.completedAt.getTime() - b.completedAt.getTime())
    .map((s) => ({ snapshotId: s.snapshotId, recoveryPoint: s.recoveryPoint, completedAt: s.completedAt }));
  return {
    target,
    lastSuccess,
    lastFailure,
    failuresInWindow: inWindow.filter((r) => !r.ok).map((r) => ({ at: r.finishedAt, error: r.error ?? 'unknown error' })),
    partialSnapshots,
    durations,
    trend: {
      runs: durations.length,
      meanMs: durations.length > 0 ? durations.reduce((s, d) => s + d.durationMs, 0) / durations.length : null,
      slopeMsPerDay: fit,
      history: basis,
    },
  };
}

function capacityStatus(c: CapacityInput, at: number, windowStart: number): TargetCapacity {
  const history = (c.storedHistory ?? []).filter((h) => h.at.getTime() <= at).sort((a, b) => a.at.getTime() - b.at.getTime());
  const latest = history[history.length - 1];
  const inWindow = history.filter((h) => h.at.getTime() >= windowStart);
  const basis = historyBasis(inWindow.map((h) => h.at));
  const growth = basis.enough ? leastSquares(inWindow.map((h) => [(h.at.getTime() - windowStart) / DAY_MS, h.bytes])) : null;
  const used = c.usedBytes ?? null;
  const free = c.freeBytes ?? null;
  const usedPercent = used !== null && free !== null && used + free > 0 ? (used / (used + free)) * 100 : null;
  const daysLeft = free !== null && growth !== null && growth > 0 ? free / growth : null;
  let severity: Severity = 'ok';
  if (usedPercent !== null && usedPercent >= CAPACITY_CRITICAL_PERCENT) severity = 'critical';
  else if ((usedPercent !== null && usedPercent >= CAPACITY_WARNING_PERCENT) || (daysLeft !== null && daysLeft < CAPACITY_WARNING_DAYS)) severity = 'warning';
  return {
    target: c.target,
    usedBytes: used,
    freeBytes: free,
    usedPercent,
    storedBytes: latest ? latest.bytes : null,
    growthBytesPerDay: growth,
    history: basis,
    daysLeft,
    reductionRatio: c.logicalBytes !== undefined && latest && latest.bytes > 0 ? c.logicalBytes / latest.bytes : null,
    severity,
  };
}

/** Whether samples at these times are enough for a trend (FORECAST_MIN_POINTS over FORECAST_MIN_SPAN_MS). */
export function historyBasis(times: readonly Date[]): HistoryBasis {
  const ms = times.map((d) => d.getTime());
  const spanMs = ms.length === 0 ? 0 : Math.max(...ms) - Math.min(...ms);
  return { points: ms.length, spanMs, enough: ms.length >= FORECAST_MIN_POINTS && spanMs >= FORECAST_MIN_SPAN_MS };
}

/** Ordinary least-squares slope of y on x; null with fewer than 2 distinct x. */
export function leastSquares(points: readonly (readonly [number, number])[]): number | null {
  if (points.length < 2) return null;
  const mx = points.reduce((s, p) => s + p[0], 0) / points.length;
  const my = points.reduce((s, p) => s + p[1], 0) / points.length;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) * (x - mx);
  }
  return sxx === 0 ? null : sxy / sxx;
}

interface FindingContext {
  readonly input: PolicyReportInput;
  /** Whether obligations have started; before, only the configuration and the runs are judged. */
  readonly started: boolean;
  readonly rule: PolicyReport['rule'];
  readonly rpo: RpoEvaluation;
  readonly rto: PolicyReport['rto'];
  readonly restoreTests: readonly TargetRestoreTests[];
  readonly backups: readonly TargetBackups[];
  readonly capacity: readonly TargetCapacity[];
  readonly keys: readonly KeyProofStatus[];
  readonly keyProofEveryMs: number | null;
  readonly rpoMs: number | null;
  readonly rtoMs: number | null;
  readonly everyMs: number;
}

const SEVERITY_RANK: Record<Severity, number> = { critical: 0, warning: 1, ok: 2 };

function collectFindings(ctx: FindingContext): Finding[] {
  const { input, rule, rpo, rto } = ctx;
  const p = input.policy.name;
  const file = shellWord(input.policy.file ?? p);
  const when = (d: Date): string => formatTime(d, input.zone);
  const out: Finding[] = [];
  const add = (f: Omit<Finding, 'affectsCompliance'>): void => {
    out.push({ ...f, affectsCompliance: f.severity === 'critical' });
  };

  if (rule.configured === 'violated') {
    add({
      severity: 'critical',
      code: 'rule-config',
      message: `the targets of policy ${p} cannot satisfy ${rule.rule} even when every copy is fresh`,
      action: `run \`triad policy check ${file}\` to see the matrix, then add or change targets`,
    });
  } else if (!ctx.started) {
    add({
      severity: 'warning',
      code: 'not-started',
      message: `policy ${p} has no committed snapshot yet: its RPO is judged from the first one` +
        (input.obligationsStart ? ` (or from objectives.since, ${when(input.obligationsStart)})` : ' (set objectives.since when the contract began earlier)'),
      action: `run \`triad backup -p ${file}\``,
    });
  } else if (rule.data === 'violated') {
    add({
      severity: 'critical',
      code: 'rule-data',
      message: `the data does not meet ${rule.rule}: ${rule.shortfalls.join('; ')}`,
      action: 'bring the stale targets up to date (see the RPO findings)',
    });
  } else if (rule.data === 'off') {
    add({ severity: 'ok', code: 'rule-off', message: 'the 3-2-1 rule is turned off for this policy (rule: none)' });
  }

  if (rpo.rpoMs !== null) {
    const fresh = rpo.targets.filter((t) => t.within).sort((a, b) => (a.exposureMs ?? 0) - (b.exposureMs ?? 0))[0];
    if (rpo.overall.breachSince) {
      add({
        severity: 'critical',
        code: 'rpo-breach',
        message: `RPO ${formatDuration(rpo.rpoMs)} breached since ${when(rpo.overall.breachSince)}` +
          (rpo.overall.exposureMs === null ? ' (not enough targets hold a copy)' : ` (effective exposure ${formatDuration(rpo.overall.exposureMs)})`),
        action: `run \`triad backup -p ${file}\` and check the backup findings`,
      });
    }
    for (const t of rpo.targets) {
      if (!t.breachSince) continue;
      const lastFailure = ctx.backups.find((b) => b.target === t.target)?.lastFailure;
      const action = fresh && fresh.target !== t.target && t.hasSnapshot
        ? `run \`triad copy -p ${file} --from ${fresh.target} --to ${t.target}\``
        : `run \`triad backup -p ${file}\`` + (lastFailure ? ` (last failure: ${lastFailure.error})` : '');
      add({
        severity: rpo.overall.breachSince ? 'critical' : 'warning',
        code: 'rpo-target-breach',
        target: t.target,
        message: t.hasSnapshot
          ? `target ${t.target} is ${formatDuration(t.exposureMs ?? 0)} behind (RPO ${formatDuration(rpo.rpoMs)}) since ${when(t.breachSince)}`
          : `target ${t.target} has no complete snapshot, due since ${when(t.breachSince)}`,
        action,
      });
    }
    const warnAtMs = (rpo.rpoMs * warnAtPercent(input.policy)) / 100;
    if (!rpo.overall.breachSince && rpo.overall.exposureMs !== null && rpo.overall.exposureMs > warnAtMs) {
      add({
        severity: 'warning',
        code: 'rpo-near',
        message: `exposure ${formatDuration(rpo.overall.exposureMs)} is past ${warnAtPercent(input.policy)}% of the RPO ${formatDuration(rpo.rpoMs)}: a breach ${when(new Date(input.at.getTime() + rpo.rpoMs - rpo.overall.exposureMs))} unless a backup completes`,
        action: `run \`triad backup -p ${file}\``,
      });
    }
    const pct = rpo.overall.window.percentWithin;
    if (!rpo.overall.breachSince && pct !== null && pct < 100) {
      const n = rpo.breaches.filter((b) => b.scope === 'overall').length;
      add({
        severity: 'warning',
        code: 'rpo-window',
        message: `RPO met ${pct.toFixed(2)}% of the last ${formatDuration(rpo.windowMs)} (${n} breach${n === 1 ? '' : 'es'})`,
      });
    }
  }

  if (rto.verdict === 'exceeded' && rto.fastest && ctx.rtoMs !== null) {
    add({
      severity: 'critical',
      code: 'rto-exceeded',
      target: rto.fastest.target,
      message: `RTO ${formatDuration(ctx.rtoMs)} exceeded: the fastest full restore (${rto.fastest.target}) is estimated at ${formatDuration(rto.fastest.estimateMs)}`,
      action: 'add a faster target, raise throughput, or renegotiate the RTO',
    });
  } else if (rto.verdict === 'no-evidence' && ctx.started) {
    add({
      severity: 'warning',
      code: 'rto-no-evidence',
      message: 'no passing restore test: the RTO cannot be demonstrated',
      action: `run \`triad restore-test -p ${file}\``,
    });
  } else if (rto.stale && rto.fastest) {
    add({
      severity: 'warning',
      code: 'rto-stale',
      target: rto.fastest.target,
      message: `the RTO verdict rests on a restore test older than ${formatDuration(ctx.everyMs)}`,
      action: `run \`triad restore-test -p ${file}\``,
    });
  }

  for (const r of ctx.restoreTests) {
    if (r.last && !r.last.ok) {
      add({
        severity: 'critical',
        code: 'restore-test-failed',
        target: r.target,
        message: `the latest restore test on ${r.target} (${when(r.last.at)}) failed: ${countOf(r.last.failures, 'file', 'files')} did not restore or verify`,
        action: `run \`triad check -p ${file} --target ${r.target} --read-data\`, then \`triad repair packs -p ${file} --target ${r.target}\``,
      });
    } else if (r.failuresInWindow.length > 0) {
      add({
        severity: 'warning',
        code: 'restore-test-failed-earlier',
        target: r.target,
        message: `${countOf(r.failuresInWindow.length, 'restore test', 'restore tests')} on ${r.target} failed in the window; the latest passed`,
      });
    }
    if (!r.overdue && r.dueAt !== null && r.dueAt.getTime() - input.at.getTime() <= RESTORE_TEST_DUE_SOON_MS) {
      add({
        severity: 'warning',
        code: 'restore-test-due',
        target: r.target,
        message: `restore test on ${r.target} due ${when(r.dueAt)}`,
        action: `run \`triad restore-test -p ${file} --target ${r.target}\``,
      });
    }
    if (r.overdue) {
      add({
        severity: 'critical',
        code: 'restore-test-overdue',
        target: r.target,
        message: r.last
          ? `restore test on ${r.target} overdue by ${formatDuration(r.overdueByMs)}`
          : `no restore test on ${r.target} yet, due for ${formatDuration(r.overdueByMs)}`,
        action: `run \`triad restore-test -p ${file}\``,
      });
    }
  }

  const latestCheck = new Map<string, VerificationRecord>();
  for (const v of input.verifications) {
    if (v.at.getTime() > input.at.getTime()) continue;
    const prev = latestCheck.get(v.target);
    if (!prev || prev.at.getTime() < v.at.getTime()) latestCheck.set(v.target, v);
  }
  for (const [target, v] of latestCheck) {
    if (v.errors === 0) continue;
    add({
      severity: 'critical',
      code: 'verification-errors',
      target,
      message: `the latest check of ${target} (${when(v.at)}) found ${countOf(v.errors, 'error', 'errors')}`,
      action: `run \`triad repair packs -p ${file} --target ${target}\` to replace the damaged packs from another target`,
    });
  }

  for (const b of ctx.backups) {
    if (b.lastFailure && (!b.lastSuccess || b.lastFailure.at.getTime() > b.lastSuccess.at.getTime())) {
      add({
        severity: 'warning',
        code: 'backup-failed',
        target: b.target,
        message: `the last backup to ${b.target} failed at ${when(b.lastFailure.at)}: ${b.lastFailure.error}`,
        action: `fix the cause, then run \`triad backup -p ${file}\``,
      });
    }
    const lastPartial = b.partialSnapshots[b.partialSnapshots.length - 1];
    if (lastPartial) {
      add({
        severity: 'warning',
        code: 'partial-snapshot',
        target: b.target,
        message: `${countOf(b.partialSnapshots.length, 'partial snapshot', 'partial snapshots')} on ${b.target} in the window, the latest ${lastPartial.snapshotId}: some source files could not be read`,
        action: 'check the backup log for unreadable files (permissions, files locked by other programs)',
      });
    }
    if (ctx.rpoMs !== null && b.lastSuccess && b.lastSuccess.durationMs > ctx.rpoMs) {
      add({
        severity: 'warning',
        code: 'backup-slower-than-rpo',
        target: b.target,
        message: `the last backup to ${b.target} took ${formatDuration(b.lastSuccess.durationMs)}, longer than the RPO`,
      });
    }
  }

  if (ctx.keyProofEveryMs !== null) {
    const every = formatDuration(ctx.keyProofEveryMs);
    if (ctx.keys.length === 0) {
      add({
        severity: 'critical',
        code: 'key-never-proven',
        message: `no passphrase of policy ${p} has been proven to open its targets (keys.prove_every ${every})`,
        action: `run \`triad key verify -p ${file} --passphrase-file FILE\` with the passphrase kept for recovery`,
      });
    }
    for (const k of ctx.keys.filter((x) => x.overdue)) {
      add({
        severity: 'critical',
        code: 'key-proof-overdue',
        message: k.lastProvedAt === null
          ? `key ${k.key.slice(0, 16)} was never proven on every target (only ${k.targets.join(', ') || 'none'})`
          : `key ${k.key.slice(0, 16)} was last proven ${formatDuration(k.ageMs ?? 0)} ago, more than keys.prove_every ${every}`,
        action: `run \`triad key verify -p ${file}\` and give that key's passphrase`,
      });
    }
  }

  for (const c of ctx.capacity) {
    if (c.severity === 'ok') continue;
    const parts: string[] = [];
    if (c.usedPercent !== null) parts.push(`${c.usedPercent.toFixed(1)}% used`);
    if (c.daysLeft !== null) parts.push(`about ${countOf(Math.floor(c.daysLeft), 'day', 'days')} left at the current growth`);
    add({
      severity: c.severity,
      code: 'capacity',
      target: c.target,
      message: `${c.target}: ${parts.join(', ')}`,
      action: `free space or extend the file system; \`triad prune -p ${file}\` applies the retention`,
    });
  }

  return sortWorstFirst(out);
}

function worstSeverity(findings: readonly Finding[]): Severity {
  if (findings.some((f) => f.severity === 'critical')) return 'critical';
  if (findings.some((f) => f.severity === 'warning')) return 'warning';
  return 'ok';
}

export interface Judgement {
  readonly severity: Severity;
  readonly verdict: PolicyReport['verdict'];
  readonly exitCode: PolicyReport['exitCode'];
  readonly nagiosStatus: NagiosStatus;
}

/**
 * The one level every output shows (report, status, status --nagios): the worst finding.
 * CRITICAL is out of contract (exit 4, Nagios 2); WARNING is within contract but heading for
 * a breach (exit 0, Nagios 1); OK is exit 0, Nagios 0. A policy without targets is UNKNOWN to Nagios.
 */
export function judge(findings: readonly Finding[], noTargets = false): Judgement {
  const severity = worstSeverity(findings);
  const critical = severity === 'critical';
  return {
    severity,
    verdict: critical ? 'finding' : 'compliant',
    exitCode: critical ? 4 : 0,
    nagiosStatus: noTargets ? 3 : critical ? 2 : severity === 'warning' ? 1 : 0,
  };
}

/** Adds findings to a report, keeping them worst first (stable within a level), and judges it again. */
export function withFindings(r: PolicyReport, extra: readonly Omit<Finding, 'affectsCompliance'>[], dropCodes: readonly string[] = []): PolicyReport {
  const findings = sortWorstFirst([
    ...r.findings.filter((f) => !dropCodes.includes(f.code)),
    ...extra.map((f) => ({ ...f, affectsCompliance: f.severity === 'critical' })),
  ]);
  const j = judge(findings, r.nagios.status === 3);
  return { ...r, findings, severity: j.severity, verdict: j.verdict, exitCode: j.exitCode, nagios: { ...r.nagios, status: j.nagiosStatus } };
}

function sortWorstFirst(findings: readonly Finding[]): Finding[] {
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => SEVERITY_RANK[a.f.severity] - SEVERITY_RANK[b.f.severity] || a.i - b.i)
    .map((x) => x.f);
}

function warnAtPercent(policy: PolicyReportInput['policy']): number {
  return policy.objectives.warn_at ?? DEFAULT_WARN_AT_PERCENT;
}

function perfdata(
  rpo: RpoEvaluation,
  rpoMs: number | null,
  warnAtMs: number,
  rtoMs: number | null,
  rto: PolicyReport['rto'],
  tests: readonly TargetRestoreTests[],
  everyMs: number,
  capacity: readonly TargetCapacity[],
): PerfDatum[] {
  const sec = (ms: number): number => Math.round(ms) / 1000;
  const crit = (ms: number | null): { crit?: number } => (ms === null ? {} : { crit: sec(ms) });
  const exposureLimits = rpoMs === null ? {} : { warn: sec(warnAtMs), crit: sec(rpoMs) };
  const out: PerfDatum[] = [];
  if (rpo.overall.exposureMs !== null) out.push({ label: 'exposure', value: sec(rpo.overall.exposureMs), uom: 's', ...exposureLimits, min: 0 });
  for (const t of rpo.targets) {
    if (t.exposureMs !== null) out.push({ label: `exposure_${t.target}`, value: sec(t.exposureMs), uom: 's', ...exposureLimits, min: 0 });
  }
  if (rpo.overall.window.percentWithin !== null) {
    out.push({ label: 'rpo_within', value: Math.round(rpo.overall.window.percentWithin * 100) / 100, uom: '%', min: 0, max: 100 });
  }
  if (rto.fastest) out.push({ label: 'rto_estimate', value: sec(rto.fastest.estimateMs), uom: 's', ...crit(rtoMs), min: 0 });
  for (const t of tests) {
    if (t.ageMs !== null) out.push({ label: `restore_test_age_${t.target}`, value: sec(t.ageMs), uom: 's', warn: sec(Math.max(0, everyMs - RESTORE_TEST_DUE_SOON_MS)), crit: sec(everyMs), min: 0 });
  }
  for (const c of capacity) {
    if (c.usedPercent !== null) {
      out.push({ label: `used_${c.target}`, value: Math.round(c.usedPercent * 100) / 100, uom: '%', warn: CAPACITY_WARNING_PERCENT, crit: CAPACITY_CRITICAL_PERCENT, min: 0, max: 100 });
    }
  }
  return out;
}
