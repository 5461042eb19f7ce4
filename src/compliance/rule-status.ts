import type { RuleName } from '../policy/types.js';
import type { RuleState, RuleStatus, SnapshotCopy, TargetCopyStatus, TargetInfo, VerificationRecord } from './types.js';

/**
 * Whether a set of target copies, together with the production data (copy 1), satisfies
 * the copy/media/off-site/immutable part of a rule (DESIGN.md §3).
 *
 * - 3-2-1: at least 2 targets (1 + 2 = 3 copies), at least 2 distinct media counting the
 *   production storage as a medium of its own (PRODUCTION_MEDIA), at least 1 off-site target.
 *   Media names compare trimmed and lower-case. This is the counting of `triad policy check`
 *   (src/policy/rule.ts), so a policy that passes there is judged the same way here when
 *   every target is fresh.
 * - 3-2-1-1-0: the same, plus at least 1 immutable or offline target. The "0" (verification
 *   errors) is a property of the latest check, not of the copies: see evaluateDataRule.
 * - none: the rule is off on purpose; any single copy is enough for "the data has a backup",
 *   which is what the RPO evaluation needs to stay meaningful.
 */
export function copiesSatisfyRule(rule: RuleName, copies: readonly TargetInfo[]): boolean {
  if (rule === 'none') return copies.length >= 1;
  const base = copies.length >= 2 && mediaOf(copies).length >= 2 && copies.some((t) => t.offsite);
  if (rule === '3-2-1') return base;
  return base && copies.some((t) => t.immutable || t.offline);
}

/** The production data's own medium, as src/policy/rule.ts names it. */
export const PRODUCTION_MEDIA = 'primary';

/** Distinct media of production + the given targets, sorted. */
export function mediaOf(copies: readonly TargetInfo[]): string[] {
  return [...new Set([PRODUCTION_MEDIA, ...copies.map((t) => t.media.trim().toLowerCase())])].sort();
}

export interface DataRuleInput {
  readonly rule: RuleName;
  readonly targets: readonly TargetInfo[];
  readonly snapshots: readonly SnapshotCopy[];
  readonly verifications: readonly VerificationRecord[];
  /** null: no RPO, so any complete snapshot keeps counting as a copy. */
  readonly rpoMs: number | null;
  readonly at: Date;
  /** Let partial snapshots count as copies (default false: unreadable files are not protected). */
  readonly countPartial?: boolean;
}

/**
 * Whether the data meets the rule now. A target counts as a copy when its newest snapshot
 * completed by `at` has a recovery point within the RPO (at − recoveryPoint ≤ RPO); an older
 * one is a copy of the past, not of the data. 3-2-1-1-0 also needs zero errors in the latest
 * verification of every target and a verification on record for every counting target,
 * because "0 errors" must be proven, not assumed.
 */
export function evaluateDataRule(input: DataRuleInput): RuleStatus {
  const at = input.at.getTime();
  const statuses: TargetCopyStatus[] = input.targets.map((t) => copyStatus(input, t, at));
  const counting = input.targets.filter((_, i) => statuses[i]!.counts);
  const media = mediaOf(counting);
  const offsiteCopies = counting.filter((t) => t.offsite).length;
  const immutableOrOfflineCopies = counting.filter((t) => t.immutable || t.offline).length;

  const latestCheck = new Map<string, VerificationRecord>();
  for (const v of input.verifications) {
    if (v.at.getTime() > at) continue;
    const prev = latestCheck.get(v.target);
    if (!prev || prev.at.getTime() < v.at.getTime()) latestCheck.set(v.target, v);
  }
  let verificationErrors: number | null = null;
  for (const t of input.targets) {
    const v = latestCheck.get(t.name);
    if (v) verificationErrors = (verificationErrors ?? 0) + v.errors;
  }

  const base = {
    rule: input.rule,
    copies: 1 + counting.length,
    media,
    offsiteCopies,
    immutableOrOfflineCopies,
    verificationErrors,
    targets: statuses,
  };
  if (input.rule === 'none') return { ...base, configured: 'off', data: 'off', shortfalls: [] };

  const configured: RuleState = copiesSatisfyRule(input.rule, input.targets) ? 'met' : 'violated';
  const shortfalls: string[] = [];
  if (counting.length < 2) shortfalls.push(`${1 + counting.length} copies (production + ${counting.length} fresh target copies), 3 required`);
  if (media.length < 2) shortfalls.push(`${media.length} distinct media (production + fresh target copies), 2 required`);
  if (offsiteCopies < 1) shortfalls.push('no fresh off-site copy');
  if (input.rule === '3-2-1-1-0') {
    if (immutableOrOfflineCopies < 1) shortfalls.push('no fresh immutable or offline copy');
    if (verificationErrors !== null && verificationErrors > 0) {
      shortfalls.push(`${verificationErrors} error(s) in the latest verification`);
    }
    const unverified = counting.filter((t) => !latestCheck.has(t.name)).map((t) => t.name);
    if (unverified.length > 0) shortfalls.push(`no verification on record for ${unverified.join(', ')}`);
  }
  return { ...base, configured, data: shortfalls.length === 0 ? 'met' : 'violated', shortfalls };
}

function copyStatus(input: DataRuleInput, target: TargetInfo, at: number): TargetCopyStatus {
  let newest: SnapshotCopy | undefined;
  let sawPartial = false;
  for (const s of input.snapshots) {
    if (s.target !== target.name || s.completedAt.getTime() > at) continue;
    if (s.partial && !input.countPartial) {
      sawPartial = true;
      continue;
    }
    if (!newest || newest.recoveryPoint.getTime() < s.recoveryPoint.getTime()) newest = s;
  }
  if (!newest) {
    return { target: target.name, counts: false, reason: sawPartial ? 'partial-only' : 'no-snapshot', recoveryPoint: null };
  }
  const fresh = input.rpoMs === null || at - newest.recoveryPoint.getTime() <= input.rpoMs;
  return { target: target.name, counts: fresh, reason: fresh ? 'ok' : 'stale', recoveryPoint: newest.recoveryPoint };
}
