/** The policies the scheduler daemon runs: loading, keeping a good version over a broken one, catalogue look-ups. */
import { loadPolicy } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import { jobArguments, type ScheduledJob, type ScheduledPolicy } from '../scheduler/index.js';
import { retentionApplies } from './forget.js';
import { secretEnvNames } from './hooks.js';
import { catalogFor, errorMessage, type AppContext } from './session.js';

/** A scheduled policy with everything the daemon's use cases need of it. */
export type LoadedPolicy = ScheduledPolicy & { policy: Policy };

export interface PolicyLoadProblem {
  file: string;
  message: string;
  /** An earlier good version of the file is scheduled in its place. */
  kept: boolean;
}

/**
 * Loads the policies; an invalid or unreadable file is reported and, when `previous` holds
 * an earlier good version of the same file, that version is kept.
 */
export async function loadScheduledPolicies(
  ctx: Pick<AppContext, 'env' | 'cwd'>,
  files: readonly string[],
  previous: readonly LoadedPolicy[] = [],
): Promise<{ policies: LoadedPolicy[]; problems: PolicyLoadProblem[] }> {
  const policies: LoadedPolicy[] = [];
  const problems: PolicyLoadProblem[] = [];
  for (const file of files) {
    try {
      policies.push({ file, policy: await loadPolicy(file, { env: ctx.env }) });
    } catch (err) {
      const old = previous.find((p) => p.file === file);
      if (old) policies.push(old);
      const detail = errorMessage(err).replace(/\s*\n\s*/g, '; ');
      problems.push({ file, message: detail, kept: old !== undefined });
    }
  }
  return { policies, problems };
}

/** triad's arguments for a scheduled job of this policy, the same in units, crontab lines and the daemon. */
export function scheduledArguments(policy: Policy, file: string, job: ScheduledJob): string[] {
  return jobArguments(job, file, { appliesRetention: retentionApplies(policy) });
}

/** The values of the policies' secret variables, for the log to mask. */
export function secretValues(ctx: Pick<AppContext, 'env'>, policies: readonly LoadedPolicy[]): string[] {
  return policies.flatMap((p) => secretEnvNames(p.policy).map((n) => ctx.env[n] ?? '')).filter((v) => v.length > 0);
}

/** Recovery point of the newest complete backup in the policy's catalogue. */
export function lastBackupFromCatalog(ctx: AppContext, policy: Policy): Date | undefined {
  const catalog = catalogFor(ctx, policy);
  try {
    const s = catalog.latestSnapshot(policy.name);
    return s ? new Date(s.time) : undefined;
  } finally {
    catalog.close();
  }
}
