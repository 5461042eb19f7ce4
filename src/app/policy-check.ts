/**
 * `triad policy check`: validates policy files and evaluates their 3-2-1 rule. Returns one
 * result per file, in the order given; never prints and never throws for a bad file (a
 * problem in one file must not hide the others' results).
 */
import * as nodePath from 'node:path';
import { policyProblems, readPolicyText, validatePolicyText, type PolicyProblem } from '../policy/load.js';
import { hasPipeline, hookWritesOutsideUnitPaths } from '../policy/hook-writes.js';
import { evaluateRule, type RuleMatrix } from '../policy/rule.js';
import type { Policy, TargetSpec, TargetType } from '../policy/types.js';
import { systemClock } from '../core/clock.js';
import { TriadError } from '../core/errors.js';
import { countOf, formatDuration } from '../core/format.js';
import { resolvePassphraseWithWarnings } from '../policy/secrets.js';
import { sourceTopNames } from '../repo/model/index.js';
import { nextRuns } from '../scheduler/index.js';
import { retentionApplies } from './forget.js';
import { errorMessage } from './session.js';
import { hookShell } from './hooks.js';

export interface PolicyCheckResult {
  /** The path as given by the user. */
  file: string;
  /** Valid, and its rule is met or turned off (`rule: none`). */
  ok: boolean;
  /** The file parsed and validated; false means `problems` is set. */
  valid: boolean;
  /** 'invalid' when the file has problems; otherwise the rule verdict. */
  verdict: 'pass' | 'fail' | 'off' | 'invalid';
  policy?: Policy;
  matrix?: RuleMatrix;
  problems?: PolicyProblem[];
  /** For each target with `immutable: true`, in policy order: what its storage must have enabled. */
  immutability?: ImmutabilityNote[];
  /** What an unattended schedule of this valid policy would not do as written; one sentence each. */
  warnings?: string[];
}

/**
 * What makes an `immutable: true` target really immutable. triad can only ask for a lock on
 * each object it writes; the bucket / container / medium has to be set up to honour it, and
 * `policy check` (which never connects) says what that setup is.
 */
export interface ImmutabilityNote {
  target: string;
  type: TargetType;
  /** The bucket / container / path the requirements are about. */
  where: string;
  /** What triad sends with every object it writes, or null when it sets nothing. */
  triadSets: string | null;
  /** What the operator must have enabled or provided; one sentence each. */
  requirements: string[];
}

export interface CheckPoliciesOptions {
  env: Record<string, string | undefined>;
  /** Base for relative file names; default: the process working directory as resolved by node:path. */
  cwd?: string;
  /** The shell hooks run under on this machine; default: what runHooks would choose. */
  hookShell?: string;
  /** Start of the fortnight over which the backup schedule's gaps are measured; default now. */
  now?: Date;
  /** Try the passphrase source (default true; `doctor` reports it on a line of its own). */
  passphrase?: boolean;
}

export async function checkPolicies(files: readonly string[], opts: CheckPoliciesOptions): Promise<PolicyCheckResult[]> {
  const results: PolicyCheckResult[] = [];
  for (const file of files) results.push(await checkOne(file, opts));
  return results;
}

async function checkOne(file: string, opts: CheckPoliciesOptions): Promise<PolicyCheckResult> {
  const abs = opts.cwd === undefined ? nodePath.resolve(file) : nodePath.resolve(opts.cwd, file);
  let text: string;
  try {
    text = await readPolicyText(file, abs);
  } catch (err) {
    const problems = policyProblems(err);
    if (problems === undefined) throw err;
    return { file, ok: false, valid: false, verdict: 'invalid', problems };
  }
  const v = validatePolicyText(text, abs, { env: opts.env });
  if (!v.ok) {
    // Problems name the file as the user wrote it, so the lines can be pasted into an editor.
    return { file, ok: false, valid: false, verdict: 'invalid', problems: v.problems.map((p) => ({ ...p, file })) };
  }
  const matrix = evaluateRule(v.policy);
  const warnings = [
    ...scheduleWarnings(v.policy, opts.now ?? systemClock.now()),
    ...pipelineWarnings(v.policy, opts.hookShell ?? hookShell().file),
    ...sourceNameNotes(v.policy),
    ...(opts.passphrase === false ? [] : await passphraseWarnings(v.policy, opts)),
  ];
  return { file, ok: matrix.verdict !== 'fail', valid: true, verdict: matrix.verdict, policy: v.policy, matrix, immutability: immutabilityNotes(v.policy), warnings };
}

/** Under a shell without pipefail, `dump | gzip > f` succeeds when the dump fails. */
function pipelineWarnings(policy: Policy, shell: string): string[] {
  if (shell.endsWith('/bash')) return [];
  const hooks = [...policy.hooks.before, ...policy.hooks.after, ...policy.hooks.on_failure];
  return hooks
    .filter((h) => hasPipeline(h.run))
    .map((h) => `hook \`${h.run}\` is a pipeline and runs under ${shell} without pipefail: it succeeds when any command but the last fails; install bash (hooks then run with -o pipefail) or make the command check each step`);
}

/** Sources that share a last component get longer names in snapshots: say which. */
function sourceNameNotes(policy: Policy): string[] {
  const names = sourceTopNames(policy.sources.map((s) => s.path));
  const renamed = [...names].filter(([path, name]) => name !== (nodePath.posix.basename(nodePath.posix.resolve(path)) || 'root'));
  if (renamed.length === 0) return [];
  return [`sources share a last path component, so snapshots name them by their whole path: ${renamed.map(([path, name]) => `${path} → ${name}`).join(', ')} (ls, restore and dump also accept the absolute paths)`];
}

/** The passphrase source as this machine would use it: the value, or why there is none, and how exposed it is. */
export interface PassphraseProbe {
  passphrase?: string;
  /** Why no passphrase could be had (variable unset, file missing, command failed or too slow), with the hint. */
  unavailable?: string;
  /** A passphrase file others can read: one sentence each. */
  exposed: string[];
}

/**
 * The passphrase source as this machine would use it: the variable set, the file there and
 * private, the command answering within its timeout.
 */
export async function probePassphrase(policy: Policy, opts: Pick<CheckPoliciesOptions, 'env' | 'cwd'> & { signal?: AbortSignal }): Promise<PassphraseProbe> {
  if (!policy.encryption) return { exposed: [] };
  try {
    const r = await resolvePassphraseWithWarnings(policy.encryption.passphrase, { env: opts.env, cwd: opts.cwd ?? nodePath.resolve('.'), signal: opts.signal });
    const exposed = r.warnings.map((w) => `passphrase file ${w.file} is readable by ${w.readableBy === 'all-users' ? 'every user' : 'its group'} (mode ${w.mode.toString(8).padStart(3, '0')}): chmod 600 it`);
    return { passphrase: r.passphrase, exposed };
  } catch (err) {
    const hint = err instanceof TriadError && err.hint ? ` (${err.hint})` : '';
    return { unavailable: `${errorMessage(err)}${hint}`, exposed: [] };
  }
}

/** The probe as policy check's warnings; the value is dropped at once. */
async function passphraseWarnings(policy: Policy, opts: CheckPoliciesOptions): Promise<string[]> {
  const p = await probePassphrase(policy, opts);
  return p.unavailable !== undefined ? [`passphrase source on this machine: ${p.unavailable}`] : p.exposed;
}

/** The systemd timers add up to this much random delay to each start. */
const TIMER_RANDOM_DELAY_MS = 300_000;

/**
 * The longest gap between two scheduled backups over the next fortnight, plus the timers'
 * random delay, against the RPO: with no margin left, a backup that takes any time at all
 * breaches it.
 */
function rpoMarginWarnings(policy: Policy, now: Date): string[] {
  const rpo = policy.objectives.rpo;
  const cron = policy.schedule.backup;
  if (rpo === undefined || cron === undefined) return [];
  let gap = 0;
  for (let from = now, until = now.getTime() + 14 * 86_400_000; from.getTime() < until; ) {
    const [a, b] = nextRuns(cron, from, 2, policy.timezone);
    gap = Math.max(gap, b!.getTime() - a!.getTime());
    from = a!;
  }
  if (gap + TIMER_RANDOM_DELAY_MS < rpo) return [];
  return [
    `schedule.backup leaves backups up to ${formatDuration(gap)} apart and the systemd timer may start each up to ${formatDuration(TIMER_RANDOM_DELAY_MS)} late, so the newest backup can be older than the RPO (${formatDuration(rpo)}) before the next one finishes: schedule backups more often or agree a longer RPO`,
  ];
}

/** Warnings about running the policy unattended; they do not change the verdict. */
export function scheduleWarnings(policy: Policy, now: Date): string[] {
  const scheduled = Object.values(policy.schedule).some((cron) => cron !== undefined);
  const warnings = (scheduled ? hookWritesOutsideUnitPaths(policy) : []).map(
    (w) => `hook \`${w.command}\` writes ${w.path}, which a scheduled systemd unit cannot write (ProtectSystem=strict): add ${nodePath.dirname(w.path)} to hooks.writable_paths`,
  );
  if (policy.schedule.prune !== undefined && !retentionApplies(policy)) {
    warnings.push('schedule.prune is set but not every target has retention rules: the scheduled job only prunes, and no snapshot is ever forgotten unattended (add a retention section)');
  }
  return [...warnings, ...rpoMarginWarnings(policy, now)];
}



/** One note per `immutable: true` target, in policy order; [] when there is none. */
export function immutabilityNotes(policy: Pick<Policy, 'targets'>): ImmutabilityNote[] {
  return policy.targets.filter((t) => t.immutable).map(noteFor);
}

function noteFor(t: TargetSpec): ImmutabilityNote {
  switch (t.type) {
    case 's3': {
      const where = `s3://${t.bucket}`;
      const lock = t.object_lock;
      const requirements = [
        `Object Lock must be enabled on bucket ${t.bucket}: it is set when the bucket is created (\`triad init\` creates a missing bucket with Object Lock when object_lock is set); an existing bucket needs versioning first, and some S3-compatible stores allow it only at creation`,
        `versioning must be enabled on bucket ${t.bucket} (Object Lock requires it; enabling Object Lock turns it on)`,
      ];
      if (!lock) {
        requirements.push(
          'no object_lock on this target: triad sends no retention, so objects are locked only by a default retention configured on the bucket; add object_lock: {mode: COMPLIANCE|GOVERNANCE, days: N} to have triad set it on every object',
        );
      } else if (lock.mode === 'COMPLIANCE') {
        requirements.push(
          `COMPLIANCE mode cannot be shortened or removed by anyone, the root account included: every object stays undeletable for ${countOf(lock.days, 'day', 'days')} after it is written (prune cannot free it earlier)`,
        );
      } else {
        requirements.push(
          'GOVERNANCE mode can be shortened or removed by users with s3:BypassGovernanceRetention: deny that permission to the credentials triad and attackers could use, or use COMPLIANCE',
        );
      }
      return {
        target: t.name,
        type: t.type,
        where,
        triadSets: lock ? `Object Lock retention on every object written: mode ${lock.mode}, ${countOf(lock.days, 'day', 'days')} from the write` : null,
        requirements,
      };
    }
    case 'azure': {
      const where = t.account ? `azure://${t.account}/${t.container}` : `container ${t.container}`;
      const imm = t.immutability;
      const requirements = [
        `version-level immutability support must be enabled on container ${t.container} or its storage account (immutable storage with versioning, which needs blob versioning): without it the service rejects every write that carries a policy; triad cannot turn it on (portal, ARM/Bicep or az CLI)`,
      ];
      if (!imm) {
        requirements.push(
          'no immutability on this target: triad sets no policy on the blobs, so they are protected only by a default policy configured on the container or account; add immutability: {mode: locked|unlocked, days: N} to have triad set it on every blob',
        );
      } else if (imm.mode === 'locked') {
        requirements.push(`locked mode cannot be shortened or removed, only extended: every blob stays undeletable for ${countOf(imm.days, 'day', 'days')} after it is written (prune cannot free it earlier)`);
      } else {
        requirements.push('unlocked mode can be shortened or deleted by anyone allowed to set immutability policies: use locked for a copy nobody can remove early');
      }
      if (imm && t.sas_token_env) requirements.push(`the SAS token in ${t.sas_token_env} must include the Set Immutability Policy permission (i)`);
      return {
        target: t.name,
        type: t.type,
        where,
        triadSets: imm ? `a blob immutability policy on every blob written: mode ${imm.mode}, ${countOf(imm.days, 'day', 'days')} from the write` : null,
        requirements,
      };
    }
    case 'gcs':
      return {
        target: t.name,
        type: t.type,
        where: `gs://${t.bucket}`,
        triadSets: null,
        requirements: [
          `triad sets nothing on GCS objects: bucket ${t.bucket} must have a retention policy (lock it to make it permanent) or object retention (Object Retention Lock) configured by you; otherwise the copy is not immutable`,
        ],
      };
    case 'local':
      return {
        target: t.name,
        type: t.type,
        where: t.path,
        triadSets: null,
        requirements: [
          `triad sets nothing on local targets: an offline or WORM medium behind ${t.path} (rotated disk, tape, WORM share or immutable snapshots) is your responsibility`,
        ],
      };
  }
}
