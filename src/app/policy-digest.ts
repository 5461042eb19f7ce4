import type { PolicyDigest } from '../repo/model/index.js';
import type { Policy } from '../policy/types.js';
import type { ReportPolicy } from './report.js';
import { DAY } from '../policy/time-constants.js';

/** The part of a policy a backup's journal record keeps (no secrets, no paths of key files, no hooks). */
export function policyDigest(policy: Policy): PolicyDigest {
  const o = policy.objectives;
  return {
    rule: policy.rule,
    timezone: policy.timezone,
    ...(policy.description === undefined ? {} : { description: policy.description }),
    production: { media: policy.production.media },
    objectives: {
      window: o.window,
      ...(o.rpo === undefined ? {} : { rpo: o.rpo }),
      ...(o.rto === undefined ? {} : { rto: o.rto }),
      ...(o.since === undefined ? {} : { since: o.since.toISOString() }),
      ...(o.warn_at === undefined ? {} : { warn_at: o.warn_at }),
    },
    restore_test: { every: policy.restore_test.every },
    verify: { every: policy.verify.every },
    keys: policy.keys.prove_every === undefined ? {} : { prove_every: policy.keys.prove_every },
    targets: policy.targets.map((t) => ({ name: t.name, type: t.type, media: t.media, offsite: t.offsite, immutable: t.immutable, offline: t.offline ?? false })),
  };
}

/** The report's view of a policy named `name` from the digest its latest backup recorded. */
export function policyFromDigest(name: string, d: PolicyDigest): ReportPolicy {
  const o = d.objectives;
  const rule = d.rule === '3-2-1-1-0' || d.rule === 'none' ? d.rule : '3-2-1';
  return {
    name,
    ...(d.description === undefined ? {} : { description: d.description }),
    rule,
    timezone: d.timezone || 'UTC',
    objectives: {
      window: o.window,
      ...(o.rpo === undefined ? {} : { rpo: o.rpo }),
      ...(o.rto === undefined ? {} : { rto: o.rto }),
      ...(o.since === undefined ? {} : { since: new Date(o.since) }),
      ...(o.warn_at === undefined ? {} : { warn_at: o.warn_at }),
    },
    production: { media: d.production?.media ?? 'disk' },
    keys: { ...(d.keys?.prove_every === undefined ? {} : { prove_every: d.keys.prove_every }) },
    restore_test: { every: d.restore_test?.every ?? DEFAULT_RESTORE_EVERY_MS },
    verify: { every: d.verify?.every ?? DEFAULT_RESTORE_EVERY_MS },
    targets: d.targets,
  };
}

/** restore_test.every and verify.every of a policy that sets none. */
const DEFAULT_RESTORE_EVERY_MS = 30 * DAY;
