import type { Evidence, RestoreTestRecord, RtoEvaluation, RtoVerdict, SnapshotCopy, TargetInfo, TargetRto } from './types.js';

export interface RtoInput {
  /** null: the policy sets no RTO; estimates are still given, the verdict is 'off'. */
  readonly rtoMs: number | null;
  /** restore_test.every: evidence older than this is stale. */
  readonly restoreEveryMs: number;
  readonly targets: readonly TargetInfo[];
  readonly snapshots: readonly SnapshotCopy[];
  readonly restoreTests: readonly RestoreTestRecord[];
  readonly at: Date;
  readonly countPartial?: boolean;
}

/**
 * RTO from measured restore tests (DESIGN.md §4).
 *
 * Per target the estimate for a full restore of the newest complete snapshot there is
 * overhead + size ÷ throughput, both taken from the latest restore test on that target
 * (throughput = bytes ÷ transferMs). A target whose latest test failed is not a restorable
 * copy ('failed-test') whatever its speed. The policy meets its RTO when at least one
 * target with a passing latest test restores within it; that fastest target decides the
 * verdict, and the verdict is flagged stale when its test is older than restore_test.every.
 */
export function evaluateRto(input: RtoInput): RtoEvaluation {
  const at = input.at.getTime();
  const targets = input.targets.map((t) => evaluateTarget(input, t, at));

  let fastest: RtoEvaluation['fastest'] = null;
  for (const t of targets) {
    if (t.estimateMs === null || t.verdict === 'failed-test') continue;
    if (!fastest || t.estimateMs < fastest.estimateMs) fastest = { target: t.target, estimateMs: t.estimateMs, evidence: t.evidence };
  }
  let verdict: RtoEvaluation['verdict'];
  if (input.rtoMs === null) verdict = 'off';
  else if (!fastest) verdict = 'no-evidence';
  else verdict = fastest.estimateMs <= input.rtoMs ? 'met' : 'exceeded';
  return { at: input.at, rtoMs: input.rtoMs, targets, fastest, verdict, stale: fastest?.evidence === 'stale' };
}

function evaluateTarget(input: RtoInput, target: TargetInfo, at: number): TargetRto {
  let snap: SnapshotCopy | undefined;
  for (const s of input.snapshots) {
    if (s.target !== target.name || s.completedAt.getTime() > at || (s.partial && !input.countPartial)) continue;
    if (!snap || snap.recoveryPoint.getTime() < s.recoveryPoint.getTime()) snap = s;
  }
  const test = latestTest(input.restoreTests, target.name, at);
  const base = { target: target.name, snapshotId: snap?.snapshotId ?? null, snapshotBytes: snap?.bytes ?? null };
  if (!test) return { ...base, evidence: 'none', lastTest: null, estimateMs: null, verdict: snap ? 'no-evidence' : 'no-snapshot' };

  const ageMs = at - test.at.getTime();
  const evidence: Evidence = ageMs > input.restoreEveryMs ? 'stale' : 'fresh';
  const bytesPerMs = measuredBytesPerMs(test);
  const lastTest = {
    at: test.at,
    ok: test.ok,
    ageMs,
    overheadMs: test.overheadMs,
    throughputBytesPerSec: bytesPerMs === null ? null : bytesPerMs * 1000,
  };
  const estimateMs = snap && bytesPerMs !== null ? test.overheadMs + (bytesPerMs === Infinity ? 0 : snap.bytes / bytesPerMs) : null;
  let verdict: RtoVerdict;
  if (!snap) verdict = 'no-snapshot';
  else if (!test.ok) verdict = 'failed-test';
  else if (estimateMs === null) verdict = 'no-evidence';
  else if (input.rtoMs === null || estimateMs <= input.rtoMs) verdict = 'met';
  else verdict = 'exceeded';
  return { ...base, evidence, lastTest, estimateMs, verdict };
}

/**
 * What a restore test measured, in bytes per millisecond. A test that moved no bytes
 * measured no throughput (null); one with zero transfer time is limited by its overhead alone.
 */
export function measuredBytesPerMs(test: Pick<RestoreTestRecord, 'bytes' | 'transferMs'>): number | null {
  if (test.bytes <= 0) return null;
  return test.transferMs > 0 ? test.bytes / test.transferMs : Infinity;
}

/** The latest restore test on a target that finished by `at`. */
export function latestTest(tests: readonly RestoreTestRecord[], target: string, at: number): RestoreTestRecord | undefined {
  let best: RestoreTestRecord | undefined;
  for (const r of tests) {
    if (r.target !== target || r.at.getTime() > at) continue;
    if (!best || best.at.getTime() < r.at.getTime()) best = r;
  }
  return best;
}
