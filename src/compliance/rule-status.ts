import { countOf } from '../core/format.js';
import { countsMeetRule, distinctMedia, type RuleSubject } from '../policy/rule.js';
import type { RuleName } from '../policy/types.js';
import type { RuleState, RuleStatus, SnapshotCopy, TargetCopyStatus, TargetInfo, VerificationRecord } from './types.js';

/**
 * Whether a set of target copies, together with the production data (copy 1), satisfies
 * the copy/media/off-site/immutable part of a rule (DESIGN.md §3), counted exactly as
 * `triad policy check` counts (src/policy/rule.ts), so a policy that passes there is judged
 * the same way here when every target is fresh. The "0" of 3-2-1-1-0 (verification errors)
 * is a property of the latest check, not of the copies: see evaluateDataRule. For `none`,
 * any single copy is enough for "the data has a backup", which keeps the RPO meaningful.
 */
export function copiesSatisfyRule(subject: RuleSubject, copies: readonly TargetInfo[]): boolean {
  return countsMeetRule(subject, copies);
}

export interface DataRuleInput {
  readonly rule: RuleName;
  /** The production data's medium: one of the rule's media. */
  readonly productionMedia: string;
  readonly targets: readonly TargetInfo[];
  readonly snapshots: readonly SnapshotCopy[];
  readonly verifications: readonly VerificationRecord[];
  /** Per target, packs the verification ledger records as failed and not repaired since. */
  readonly ledgerFailures?: ReadonlyMap<string, number>;
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
  const media = distinctMedia(input.productionMedia, counting);
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
    const ledger = input.ledgerFailures?.get(t.name);
    // The ledger keeps a damaged pack failed until it is repaired or verified whole again, even
    // after a later check that did not read it; the latest check's count covers the rest
    // (index and snapshot damage). The larger of the two, so a pack is not counted twice.
    if (v || ledger) verificationErrors = (verificationErrors ?? 0) + Math.max(v?.errors ?? 0, ledger ?? 0);
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

  const configured: RuleState = copiesSatisfyRule(input, input.targets) ? 'met' : 'violated';
  const shortfalls: string[] = [];
  if (counting.length < 2) shortfalls.push(`${countOf(1 + counting.length, 'copy', 'copies')} (production + ${countOf(counting.length, 'fresh target copy', 'fresh target copies')}), 3 required`);
  if (media.length < 2) shortfalls.push(`${countOf(media.length, 'distinct medium', 'distinct media')} (${media.join(', ')}: production and fresh target copies), 2 required`);
  if (offsiteCopies < 1) shortfalls.push('no fresh off-site copy');
  if (input.rule === '3-2-1-1-0') {
    if (immutableOrOfflineCopies < 1) shortfalls.push('no fresh immutable or offline copy');
    if (verificationErrors !== null && verificationErrors > 0) {
      shortfalls.push(`${countOf(verificationErrors, 'error', 'errors')} in the latest verification`);
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

