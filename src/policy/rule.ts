/**
 * The 3-2-1(-1-0) rule evaluated on a policy's declared targets (DESIGN.md §3). Pure: it
 * judges what the policy promises; whether each target actually holds a complete,
 * readable copy is the compliance layer's question, which can call evaluateRule on the
 * subset of targets that are current.
 *
 * Counting, precisely:
 * - copies  = 1 (the production data) + the number of targets.
 * - media   = the number of distinct `media` values among the production data and the
 *             targets (compared trimmed, lower-case). The production data's medium is declared
 *             (`production.media`, default `disk`) and counts like any other: a policy whose
 *             targets all sit on the production data's kind of medium has one medium, and a
 *             failure of that kind (a firmware bug, a ransomware pass over every disk) can
 *             take every copy at once.
 * - off-site = targets with `offsite: true` (the production data is on-site).
 * - immutable/offline = targets with `immutable: true` or `offline: true`.
 * - "0 errors" of 3-2-1-1-0 is a property of the latest verification, so it is reported
 *   as checked at run time and never fails a policy check.
 */
import { countOf } from '../core/format.js';
import type { Policy, RuleName, TargetSpec } from './types.js';

/** What the rule needs to know about a policy: the rule and the production data's medium. */
export interface RuleSubject {
  readonly rule: RuleName;
  readonly productionMedia: string;
}

/** The rule subject of a loaded policy. */
export function ruleSubject(policy: Pick<Policy, 'rule' | 'production'>): RuleSubject {
  return { rule: policy.rule, productionMedia: policy.production.media };
}

export interface RuleRequirements {
  copies: number;
  media: number;
  offsite: number;
  /** 0 when the rule does not ask for an immutable or offline copy. */
  immutableOrOffline: number;
}

export interface RuleCounts {
  copies: number;
  media: number;
  offsite: number;
  immutableOrOffline: number;
}

/** One row per copy: the production data first, then each target in policy order. */
export interface CopyRow {
  name: string;
  kind: 'production' | 'target';
  /** 'source' for the production data. */
  type: TargetSpec['type'] | 'source';
  media: string;
  offsite: boolean;
  immutable: boolean;
  offline: boolean;
}

export type RequirementId = 'copies' | 'media' | 'offsite' | 'immutable' | 'errors';

export interface RequirementResult {
  id: RequirementId;
  label: string;
  /** null for 'errors', which has no count at policy-check time. */
  required: number | null;
  actual: number | null;
  /** 'runtime': decided by verification at run time; 'off': rule none. */
  status: 'pass' | 'fail' | 'runtime' | 'off';
  reason: string;
}

export interface RuleMatrix {
  rule: RuleName;
  copies: CopyRow[];
  counts: RuleCounts;
  /** null for rule none. */
  required: RuleRequirements | null;
  requirements: RequirementResult[];
  verdict: 'pass' | 'fail' | 'off';
  /** One human sentence: why it passes or which requirements fail. */
  summary: string;
}

const REQUIREMENTS: Record<Exclude<RuleName, 'none'>, RuleRequirements> = {
  '3-2-1': { copies: 3, media: 2, offsite: 1, immutableOrOffline: 0 },
  '3-2-1-1-0': { copies: 3, media: 2, offsite: 1, immutableOrOffline: 1 },
};

/** The numbers a rule asks for, or null for `none`. */
export function ruleRequirements(rule: RuleName): RuleRequirements | null {
  return rule === 'none' ? null : { ...REQUIREMENTS[rule] };
}

/**
 * How many targets must hold a complete copy for the rule's copy count to be met
 * (the production data being the first copy): 2 for 3-2-1 and 3-2-1-1-0, 0 for none.
 * A necessary, not sufficient, condition: media and off-site still depend on which ones.
 */
export function targetsNeededForRule(rule: RuleName): number {
  const r = ruleRequirements(rule);
  return r === null ? 0 : Math.max(0, r.copies - 1);
}

/** What the counting needs of a copy: a declared target, or a catalogue row describing one. */
export interface CopyTraits {
  readonly media: string;
  readonly offsite: boolean;
  readonly immutable: boolean;
  readonly offline?: boolean;
}

/** Media names compare trimmed and lower-case. */
export function mediaName(media: string): string {
  return media.trim().toLowerCase();
}

/** Distinct media of the production data and the given copies, sorted. */
export function distinctMedia(productionMedia: string, copies: readonly CopyTraits[]): string[] {
  return [...new Set([mediaName(productionMedia), ...copies.map((t) => mediaName(t.media))])].sort();
}

/** The one 3-2-1 counter: `triad policy check` counts declared targets, reports count the fresh ones. */
export function countCopies(productionMedia: string, copies: readonly CopyTraits[]): RuleCounts {
  return {
    copies: 1 + copies.length,
    media: distinctMedia(productionMedia, copies).length,
    offsite: copies.filter((t) => t.offsite).length,
    immutableOrOffline: copies.filter((t) => t.immutable || t.offline === true).length,
  };
}

/** Whether these copies, with the production data, meet the copy, media, off-site and immutable counts of the rule. */
export function countsMeetRule(subject: RuleSubject, copies: readonly CopyTraits[]): boolean {
  const req = ruleRequirements(subject.rule);
  if (req === null) return copies.length >= 1;
  const c = countCopies(subject.productionMedia, copies);
  return c.copies >= req.copies && c.media >= req.media && c.offsite >= req.offsite && c.immutableOrOffline >= req.immutableOrOffline;
}

/** Evaluates the policy's rule on its targets (or on any subset passed in `targets`). */
export function evaluateRule(policy: Pick<Policy, 'rule' | 'targets' | 'production'>): RuleMatrix {
  const { rule, targets } = policy;
  const production = mediaName(policy.production.media);
  const counts = countCopies(production, targets);
  const copies: CopyRow[] = [
    { name: 'production', kind: 'production', type: 'source', media: production, offsite: false, immutable: false, offline: false },
    ...targets.map((t) => ({
      name: t.name,
      kind: 'target' as const,
      type: t.type,
      media: mediaName(t.media),
      offsite: t.offsite,
      immutable: t.immutable,
      offline: t.offline === true,
    })),
  ];
  const req = ruleRequirements(rule);
  const on = req !== null;
  const check = (id: RequirementId, label: string, required: number, actual: number, failReason: string, passReason: string): RequirementResult => ({
    id,
    label,
    required: on ? required : null,
    actual,
    status: !on ? 'off' : actual >= required ? 'pass' : 'fail',
    reason: !on ? 'rule none: not checked' : actual >= required ? passReason : failReason,
  });
  const r = req ?? REQUIREMENTS['3-2-1'];
  const mediaNames = [...new Set(copies.map((c) => c.media))];
  const offsiteNames = targets.filter((t) => t.offsite).map((t) => t.name);
  const lockedNames = targets.filter((t) => t.immutable || t.offline === true).map((t) => t.name);
  const requirements: RequirementResult[] = [
    check(
      'copies',
      'copies',
      r.copies,
      counts.copies,
      `${countOf(counts.copies, 'copy', 'copies')} (production + ${countOf(targets.length, 'target', 'targets')}); add ${countOf(r.copies - counts.copies, 'more target', 'more targets')}`,
      `${counts.copies} copies: production + ${targets.map((t) => t.name).join(', ')}`,
    ),
    check(
      'media',
      'distinct media',
      r.media,
      counts.media,
      `only ${countOf(counts.media, 'distinct medium', 'distinct media')} (${mediaNames.join(', ')}; the production data is on ${production}, see production.media); put a copy on another kind of media`,
      `${counts.media} media: ${mediaNames.join(', ')}`,
    ),
    check(
      'offsite',
      'off-site copies',
      r.offsite,
      counts.offsite,
      'no target is off-site; add one with offsite: true (a cloud bucket, or a disk kept in another building)',
      `off-site: ${offsiteNames.join(', ')}`,
    ),
  ];
  if (rule === '3-2-1-1-0') {
    requirements.push(
      check(
        'immutable',
        'immutable or offline copies',
        r.immutableOrOffline,
        counts.immutableOrOffline,
        'no target is immutable or offline; set immutable: true on a target with object lock / immutability, or offline: true on an air-gapped one',
        `immutable or offline: ${lockedNames.join(', ')}`,
      ),
      {
        id: 'errors',
        label: 'errors in latest verification',
        required: null,
        actual: null,
        status: 'runtime',
        reason: 'checked at run time (triad check, restore tests): must be 0',
      },
    );
  }
  const failed = requirements.filter((x) => x.status === 'fail');
  const verdict: RuleMatrix['verdict'] = !on ? 'off' : failed.length ? 'fail' : 'pass';
  const summary =
    verdict === 'off'
      ? 'rule none: the 3-2-1 check is turned off on purpose for this policy'
      : verdict === 'pass'
        ? `meets ${rule}`
        : `violates ${rule}: ${failed.map((f) => f.reason).join('; ')}`;
  return { rule, copies, counts, required: req, requirements, verdict, summary };
}
