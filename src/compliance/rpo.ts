import type { RuleSubject } from '../policy/rule.js';
import type { RuleName } from '../policy/types.js';
import { copiesSatisfyRule } from './rule-status.js';
import type {
  BreachInterval,
  ExposurePoint,
  OverallRpo,
  RpoEvaluation,
  SnapshotCopy,
  TargetInfo,
  TargetRpo,
  WindowStats,
} from './types.js';

/**
 * RPO evaluation (DESIGN.md §4), computed exactly from the event times, never sampled.
 *
 * Definitions used throughout:
 * - RP_x(t), the recovery point of target x at t, is the largest `recoveryPoint` among the
 *   snapshots on x whose `completedAt` ≤ t. It is a non-decreasing step function that
 *   changes only at completion times; a snapshot that started early but completed late counts
 *   only from its completion, and never lowers RP (it is "newest" by recovery point).
 * - Exposure E_x(t) = t − RP_x(t). With no snapshot yet, E_x(t) = t − due_x, where due_x is
 *   the target's firstScheduledAt: the time the data has been unprotected on x.
 * - x is within the RPO at t when it has a snapshot and E_x(t) ≤ RPO. A target with no
 *   snapshot is in breach from due_x on; before due_x it is not evaluated at all.
 * - The policy is within the RPO at t when the targets within the RPO at t satisfy the rule
 *   as copies (copiesSatisfyRule: for 3-2-1, ≥ 2 targets + production = 3 copies, ≥ 2 media
 *   with production counted as one, ≥ 1 off-site; 3-2-1-1-0 also ≥ 1 immutable/offline;
 *   `none`: ≥ 1 target).
 *   The verification "0" of 3-2-1-1-0 is a point-in-time fact and is judged by
 *   evaluateDataRule, not over time. The policy is evaluated from its own firstScheduledAt.
 * - The overall exposure is the smallest E such that the targets with a snapshot and
 *   E_x ≤ E satisfy the rule; so the policy is within iff overall exposure ≤ RPO.
 *
 * Between two consecutive event times (completions, RP + RPO crossings, due times, window
 * bounds) every target's state is constant, so the state on each elementary interval is that
 * of its midpoint and every total is exact to the millisecond.
 */
export interface RpoInput {
  readonly rule: RuleName;
  /** The production data's medium: one of the rule's media. */
  readonly productionMedia: string;
  /** null: the policy sets no RPO; everything is reported within and no breach exists. */
  readonly rpoMs: number | null;
  readonly targets: readonly TargetInfo[];
  readonly snapshots: readonly SnapshotCopy[];
  /** The policy's first scheduled backup (or its creation time). */
  readonly firstScheduledAt: Date;
  readonly at: Date;
  readonly windowMs: number;
  /** Let partial snapshots reset the exposure (default false: their unread files are unprotected). */
  readonly countPartial?: boolean;
}

/** Recovery-point step function of one target. */
interface Timeline {
  readonly target: TargetInfo;
  readonly due: number;
  /** Completion times where RP rises, ascending. */
  readonly at: number[];
  /** RP from at[k] on. */
  readonly rp: number[];
  readonly snapshotIds: string[];
}

export function buildTimeline(target: TargetInfo, snapshots: readonly SnapshotCopy[], policyDue: Date, countPartial = false): Timeline {
  const mine = snapshots
    .filter((s) => s.target === target.name && (countPartial || !s.partial))
    .sort((a, b) => a.completedAt.getTime() - b.completedAt.getTime() || a.recoveryPoint.getTime() - b.recoveryPoint.getTime());
  const tl: Timeline = { target, due: (target.firstScheduledAt ?? policyDue).getTime(), at: [], rp: [], snapshotIds: [] };
  for (const s of mine) {
    const c = s.completedAt.getTime();
    const r = s.recoveryPoint.getTime();
    const last = tl.rp.length - 1;
    if (last >= 0 && r <= tl.rp[last]!) continue;
    if (last >= 0 && tl.at[last] === c) {
      tl.rp[last] = r;
      tl.snapshotIds[last] = s.snapshotId;
      continue;
    }
    tl.at.push(c);
    tl.rp.push(r);
    tl.snapshotIds.push(s.snapshotId);
  }
  return tl;
}

/** Index of the last completion ≤ t (or < t when strict), −1 if none. */
function indexAt(tl: Timeline, t: number, strict: boolean): number {
  let lo = 0;
  let hi = tl.at.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = tl.at[mid]!;
    if (strict ? c < t : c <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

interface PointState {
  readonly exposure: number | null;
  readonly hasSnapshot: boolean;
}

/** State at t; `leftLimit` gives the value just before t (before a completion at t counts). */
function stateAt(tl: Timeline, t: number, leftLimit = false): PointState {
  const k = indexAt(tl, t, leftLimit);
  if (k >= 0) return { exposure: t - tl.rp[k]!, hasSnapshot: true };
  return { exposure: t >= tl.due ? t - tl.due : null, hasSnapshot: false };
}

function isWithin(s: PointState, rpoMs: number | null): boolean {
  return s.hasSnapshot && (rpoMs === null || (s.exposure !== null && s.exposure <= rpoMs));
}

/** Overall exposure from per-target states: see the module comment. */
function overallExposure(subject: RuleSubject, states: readonly { target: TargetInfo; s: PointState }[]): number | null {
  const copies = states.filter((x) => x.s.hasSnapshot && x.s.exposure !== null);
  const thresholds = [...new Set(copies.map((x) => x.s.exposure!))].sort((a, b) => a - b);
  for (const e of thresholds) {
    if (copiesSatisfyRule(subject, copies.filter((x) => x.s.exposure! <= e).map((x) => x.target))) return e;
  }
  return null;
}

/** Exposure of one target at t (see the module comment). */
export function exposureAt(input: Pick<RpoInput, 'snapshots' | 'firstScheduledAt' | 'countPartial'>, target: TargetInfo, t: Date): { exposureMs: number | null; hasSnapshot: boolean } {
  const s = stateAt(buildTimeline(target, input.snapshots, input.firstScheduledAt, input.countPartial), t.getTime());
  return { exposureMs: s.exposure, hasSnapshot: s.hasSnapshot };
}

/** Whether the policy meets its RPO at t (enough targets within the RPO to keep the rule). */
export function meetsRpoAt(input: Omit<RpoInput, 'at' | 'windowMs'>, t: Date): boolean {
  const tls = input.targets.map((x) => buildTimeline(x, input.snapshots, input.firstScheduledAt, input.countPartial));
  return copiesSatisfyRule(
    input,
    tls.filter((tl) => isWithin(stateAt(tl, t.getTime()), input.rpoMs)).map((tl) => tl.target),
  );
}

interface ScopeResult {
  readonly breaches: { start: number; end: number }[];
  readonly withinInWindowMs: number;
  readonly evaluatedMs: number;
  readonly windowStart: number;
}

/**
 * Breach intervals of one scope over [due, at] given its event times and state function.
 * The state is constant on every elementary interval between consecutive events, so it is
 * read at each midpoint.
 */
function scanScope(due: number, at: number, windowStart: number, events: readonly number[], within: (t: number) => boolean): ScopeResult {
  const ws = Math.max(windowStart, due);
  if (at <= due) return { breaches: [], withinInWindowMs: 0, evaluatedMs: 0, windowStart: ws };
  const cuts = [...new Set([due, at, ...(ws < at ? [ws] : []), ...events.filter((e) => e > due && e < at)])].sort((a, b) => a - b);
  const breaches: { start: number; end: number }[] = [];
  let withinMs = 0;
  for (let i = 0; i + 1 < cuts.length; i++) {
    const a = cuts[i]!;
    const b = cuts[i + 1]!;
    const ok = within((a + b) / 2);
    if (ok) {
      withinMs += Math.max(0, b - Math.max(a, ws));
      continue;
    }
    const last = breaches[breaches.length - 1];
    if (last && last.end === a) last.end = b;
    else breaches.push({ start: a, end: b });
  }
  return { breaches, withinInWindowMs: withinMs, evaluatedMs: Math.max(0, at - ws), windowStart: ws };
}

function toBreaches(scope: string, r: ScopeResult, at: number, withinAtEnd: boolean): BreachInterval[] {
  return r.breaches
    .filter((b) => b.end > r.windowStart || (b.end === at && !withinAtEnd))
    .map((b) => {
      const ongoing = b.end === at && !withinAtEnd;
      return {
        scope,
        start: new Date(b.start),
        end: ongoing ? null : new Date(b.end),
        durationMs: b.end - b.start,
        startedBeforeWindow: b.start < r.windowStart,
      };
    });
}

function windowStats(r: ScopeResult, at: number, worst: number | null): WindowStats {
  return {
    start: new Date(r.windowStart),
    end: new Date(at),
    evaluatedMs: r.evaluatedMs,
    withinMs: r.withinInWindowMs,
    percentWithin: r.evaluatedMs > 0 ? (r.withinInWindowMs / r.evaluatedMs) * 100 : null,
    worstExposureMs: worst,
  };
}

/** Times at which a target's within/breach state can change. */
function targetEvents(tl: Timeline, rpoMs: number | null): number[] {
  const ev = [tl.due, ...tl.at];
  if (rpoMs !== null) for (const r of tl.rp) ev.push(r + rpoMs);
  return ev;
}

export function evaluateRpo(input: RpoInput): RpoEvaluation {
  const at = input.at.getTime();
  const windowStart = at - input.windowMs;
  const policyDue = input.firstScheduledAt.getTime();
  const rpo = input.rpoMs;
  const tls = input.targets.map((x) => buildTimeline(x, input.snapshots, input.firstScheduledAt, input.countPartial));
  const breaches: BreachInterval[] = [];

  const targets: TargetRpo[] = tls.map((tl) => {
    const within = (t: number): boolean => isWithin(stateAt(tl, t), rpo);
    const scan = scanScope(tl.due, at, windowStart, targetEvents(tl, rpo), within);
    const now = stateAt(tl, at);
    const withinNow = within(at);
    breaches.push(...toBreaches(tl.target.name, scan, at, withinNow));

    // The exposure rises with slope 1 between completions, so its maximum over the window is
    // the value just before a completion, or the value at the end.
    const drops = tl.at.filter((c) => c > scan.windowStart && c <= at);
    let worst: number | null = now.exposure;
    for (const c of drops) {
      const e = stateAt(tl, c, true).exposure;
      if (e !== null && (worst === null || e > worst)) worst = e;
    }
    if (scan.evaluatedMs === 0) worst = null;

    const series: ExposurePoint[] = [];
    if (scan.evaluatedMs > 0) {
      series.push({ at: new Date(scan.windowStart), exposureMs: stateAt(tl, scan.windowStart).exposure });
      for (const c of drops) {
        series.push({ at: new Date(c), exposureMs: stateAt(tl, c, true).exposure });
        series.push({ at: new Date(c), exposureMs: stateAt(tl, c).exposure });
      }
      series.push({ at: new Date(at), exposureMs: now.exposure });
    }

    const k = indexAt(tl, at, false);
    const last = scan.breaches[scan.breaches.length - 1];
    return {
      target: tl.target.name,
      exposureMs: now.exposure,
      hasSnapshot: now.hasSnapshot,
      recoveryPoint: k >= 0 ? new Date(tl.rp[k]!) : null,
      snapshotId: k >= 0 ? tl.snapshotIds[k]! : null,
      within: withinNow,
      breachSince: !withinNow && last && at > tl.due ? new Date(last.start) : null,
      window: windowStats(scan, at, worst),
      series,
    };
  });

  const withinSet = (t: number): TargetInfo[] => tls.filter((tl) => isWithin(stateAt(tl, t), rpo)).map((tl) => tl.target);
  const overallWithin = (t: number): boolean => copiesSatisfyRule(input, withinSet(t));
  const allEvents = [policyDue, ...tls.flatMap((tl) => targetEvents(tl, rpo))];
  const scan = scanScope(policyDue, at, windowStart, allEvents, overallWithin);
  const overallNow = overallWithin(at);
  breaches.push(...toBreaches('overall', scan, at, overallNow));

  const combined = (t: number, left: boolean): number | null =>
    overallExposure(input, tls.map((tl) => ({ target: tl.target, s: stateAt(tl, t, left) })));
  const exposureNow = at > policyDue || tls.some((tl) => tl.at.length > 0) ? combined(at, false) : null;
  let worst: number | null = exposureNow;
  for (const c of new Set(tls.flatMap((tl) => tl.at).filter((c) => c > scan.windowStart && c <= at))) {
    const e = combined(c, true);
    if (e !== null && (worst === null || e > worst)) worst = e;
  }
  if (scan.evaluatedMs === 0) worst = null;
  const lastOverall = scan.breaches[scan.breaches.length - 1];
  const overall: OverallRpo = {
    exposureMs: exposureNow,
    within: overallNow,
    targetsWithin: withinSet(at).map((t) => t.name),
    breachSince: !overallNow && lastOverall && at > policyDue ? new Date(lastOverall.start) : null,
    window: windowStats(scan, at, worst),
  };

  breaches.sort((a, b) => a.start.getTime() - b.start.getTime() || a.scope.localeCompare(b.scope));
  return { at: input.at, rpoMs: rpo, windowMs: input.windowMs, targets, overall, breaches };
}
