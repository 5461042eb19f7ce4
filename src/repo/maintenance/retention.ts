import type { RetentionSpec } from '../../core/retention-spec.js';

/**
 * Retention as restic's `forget` computes it, made pure: snapshots are visited newest first;
 * each bucket rule (hourly, daily, …) keeps the newest snapshot of each of its N newest
 * buckets, where buckets are calendar periods in the policy's IANA time zone.
 *
 * - `keep_last: n` keeps the n newest snapshots.
 * - `keep_hourly/daily/weekly/monthly/yearly: n` keeps the newest snapshot of each of the n
 *   newest hours / days / ISO weeks / months / years that hold a snapshot (−1 = all of them).
 * - `keep_within: ms` keeps every snapshot whose time is at most `ms` before the newest
 *   snapshot (not before `now`: backups that stopped never make retention remove them all).
 *
 * A snapshot is kept when any rule keeps it; `reasons` lists every rule that did. With no
 * rule at all every snapshot is kept (the caller refuses such a forget).
 */
export interface RetentionSnapshot {
  id: string;
  /** ISO 8601 recovery point. */
  time: string;
}

export interface RetentionDecision<S extends RetentionSnapshot = RetentionSnapshot> {
  snapshot: S;
  keep: boolean;
  /** Rules that keep it, e.g. ['keep_last', 'keep_daily']; empty when it is removed. */
  reasons: string[];
}

export interface RetentionOptions {
  /** IANA time zone of the calendar buckets, e.g. 'Europe/Paris'. */
  timezone: string;
  /** The evaluation time; snapshots later than `now` (clock skew) are always kept. */
  now: Date;
}

export const BUCKET_RULES = ['keep_hourly', 'keep_daily', 'keep_weekly', 'keep_monthly', 'keep_yearly'] as const;
type BucketRule = (typeof BUCKET_RULES)[number];

/** True when the spec has at least one rule that keeps something. */
export function hasRetentionRules(rules: RetentionSpec): boolean {
  return (
    (rules.keep_last ?? 0) !== 0 ||
    BUCKET_RULES.some((r) => (rules[r] ?? 0) !== 0) ||
    (rules.keep_within !== undefined && rules.keep_within > 0)
  );
}

/** Decisions in the order of the input; the input is not modified. */
export function applyRetention<S extends RetentionSnapshot>(snapshots: readonly S[], rules: RetentionSpec, opts: RetentionOptions): RetentionDecision<S>[] {
  const cal = calendar(opts.timezone);
  const order = snapshots
    .map((s, i) => ({ s, i, t: Date.parse(s.time) }))
    .sort((a, b) => b.t - a.t || (a.s.id < b.s.id ? 1 : a.s.id > b.s.id ? -1 : 0));
  const decisions: RetentionDecision<S>[] = snapshots.map((s) => ({ snapshot: s, keep: false, reasons: [] }));
  if (order.length === 0) return decisions;
  if (!hasRetentionRules(rules)) {
    for (const d of decisions) {
      d.keep = true;
      d.reasons.push('no retention rules');
    }
    return decisions;
  }

  const nowMs = opts.now.getTime();
  const newest = order[0]!.t;
  let lastLeft = rules.keep_last ?? 0;
  const left: Record<BucketRule, number> = {
    keep_hourly: rules.keep_hourly ?? 0,
    keep_daily: rules.keep_daily ?? 0,
    keep_weekly: rules.keep_weekly ?? 0,
    keep_monthly: rules.keep_monthly ?? 0,
    keep_yearly: rules.keep_yearly ?? 0,
  };
  const lastBucket: Partial<Record<BucketRule, string>> = {};

  for (const { i, t } of order) {
    const d = decisions[i]!;
    if (Number.isNaN(t)) {
      d.reasons.push('unparseable time');
      continue;
    }
    if (t > nowMs) d.reasons.push('in the future');
    if (lastLeft !== 0) {
      d.reasons.push('keep_last');
      if (lastLeft > 0) lastLeft--;
    }
    const b = cal.buckets(t);
    for (const rule of BUCKET_RULES) {
      if (left[rule] === 0) continue;
      const key = b[rule];
      if (lastBucket[rule] === key) continue;
      lastBucket[rule] = key;
      d.reasons.push(rule);
      if (left[rule] > 0) left[rule]--;
    }
    if (rules.keep_within !== undefined && rules.keep_within > 0 && newest - t <= rules.keep_within) d.reasons.push('keep_within');
  }
  for (const d of decisions) d.keep = d.reasons.length > 0;
  return decisions;
}

interface Calendar {
  buckets(ms: number): Record<BucketRule, string>;
}

/** Calendar fields of an instant in a time zone, via Intl (no dependency on the host's TZ). */
function calendar(timezone: string): Calendar {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
  });
  return {
    buckets(ms: number) {
      const parts: Record<string, string> = {};
      for (const p of fmt.formatToParts(ms)) parts[p.type] = p.value;
      const y = Number(parts.year);
      const m = Number(parts.month);
      const d = Number(parts.day);
      const h = Number(parts.hour) % 24;
      const [wy, wn] = isoWeek(y, m, d);
      const pad = (n: number) => String(n).padStart(2, '0');
      return {
        keep_hourly: `${y}-${pad(m)}-${pad(d)}T${pad(h)}`,
        keep_daily: `${y}-${pad(m)}-${pad(d)}`,
        keep_weekly: `${wy}-W${pad(wn)}`,
        keep_monthly: `${y}-${pad(m)}`,
        keep_yearly: String(y),
      };
    },
  };
}

/** ISO 8601 week-numbering year and week of a calendar date (weeks start on Monday). */
export function isoWeek(year: number, month: number, day: number): [number, number] {
  const date = Date.UTC(year, month - 1, day);
  const dow = (new Date(date).getUTCDay() + 6) % 7; // Monday = 0
  const thursday = date + (3 - dow) * 86_400_000;
  const wy = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - Date.UTC(wy, 0, 1)) / (7 * 86_400_000)) + 1;
  return [wy, week];
}
