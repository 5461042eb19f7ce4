/**
 * `triad schedule install` and `triad schedule list`: the systemd units or crontab lines
 * for the policies' schedules, and the next run and last result of every job.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import * as nodePath from 'node:path';
import { TriadError } from '../core/errors.js';
import type { Policy } from '../policy/types.js';
import { nextRuns, renderCrontab, renderSystemdUnits, SCHEDULE_JOBS, systemZoneName, type ScheduledJob } from '../scheduler/index.js';
import { secretEnvNames } from './hooks.js';
import { scheduleWarnings } from './policy-check.js';
import { scheduledArguments } from './schedule-policies.js';
import { catalogFor, catalogPathFor, errorMessage, loadPolicyFile, type AppContext } from './session.js';

export interface InstallOptions {
  policyFiles: readonly string[];
  mode: 'systemd' | 'cron';
  /** Absolute path of the triad launcher the units run. */
  triadBin: string;
  /** systemd: where the units go; default /etc/systemd/system or ~/.config/systemd/user. */
  dir?: string;
  /** systemd --user units. */
  user?: boolean;
  /** The file holding the passphrase variable and cloud credentials; default /etc/triad/<policy>.env (user: ~/.config/triad/<policy>.env). */
  envFile?: string;
  /** Print, write nothing. */
  dryRun?: boolean;
}

export interface InstalledUnit {
  policy: string;
  job: ScheduledJob;
  service: string;
  timer: string;
  /** Set when written. */
  servicePath?: string;
  timerPath?: string;
  serviceText: string;
  timerText: string;
}

export interface InstallResult {
  mode: 'systemd' | 'cron';
  units: InstalledUnit[];
  /** cron: the lines to add with `crontab -e` (or to /etc/cron.d with a user column). */
  crontab?: string;
  /** Per policy: the environment file the units read and the variables it must define (names only). */
  environment: { policy: string; file: string; variables: string[] }[];
  /** What the installed schedule will not do as the policy says; one sentence each. */
  warnings: string[];
  /** What the user runs next. */
  next: string[];
}

/** What `policy check` warns about running each policy unattended, named by policy. */
function policyWarnings(policies: readonly Policy[], now: Date): string[] {
  return policies.flatMap((p) => scheduleWarnings(p, now).map((w) => `policy ${p.name}: ${w}`));
}

/** The variables a job needs from its environment file: passphrase and credentials (names, never values). */
export function requiredVariables(policy: Policy): string[] {
  return secretEnvNames(policy);
}

/**
 * Paths a job must be able to write under ProtectSystem=strict: the catalogue's directory,
 * local targets and the directories the policy's hooks write (`hooks.writable_paths`).
 */
export function readWritePaths(ctx: AppContext, policy: Policy): string[] {
  const catalog = catalogPathFor(ctx, policy);
  // "-": a path that is not there yet (an unmounted target) does not stop the unit from starting; triad reports it.
  return [nodePath.dirname(catalog), ...policy.targets.flatMap((t) => (t.type === 'local' ? [`-${t.path}`] : [])), ...(policy.hooks.writable_paths ?? []).map((p) => `-${p}`)];
}

export async function installSchedule(ctx: AppContext, opts: InstallOptions): Promise<InstallResult> {
  if (!nodePath.isAbsolute(opts.triadBin)) throw new TriadError('E_USAGE', `the triad launcher path ${opts.triadBin} is not absolute`);
  const policies: Policy[] = [];
  for (const f of opts.policyFiles) policies.push(await loadPolicyFile(ctx, nodePath.resolve(ctx.cwd, f)));
  const names = new Set<string>();
  for (const p of policies) {
    if (names.has(p.name)) throw new TriadError('E_USAGE', `policy ${p.name} is given twice`, { hint: 'policy names must be unique' });
    names.add(p.name);
    if (!SCHEDULE_JOBS.some((j) => p.schedule[j.key] !== undefined)) {
      throw new TriadError('E_USAGE', `policy ${p.name} (${p.file}) has no schedule`, { hint: 'add a `schedule:` section, e.g. backup: "0 */4 * * *"' });
    }
  }
  const home = homedir();
  const environment = policies.map((p) => {
    const variables = requiredVariables(p);
    const file = opts.envFile ?? (opts.user || opts.mode === 'cron' && process.getuid?.() !== 0 ? nodePath.join(home, '.config', 'triad', `${p.name}.env`) : `/etc/triad/${p.name}.env`);
    return { policy: p.name, file, variables };
  });
  const envFileOf = (p: Policy): string | undefined => {
    const e = environment.find((x) => x.policy === p.name)!;
    return e.variables.length > 0 ? e.file : undefined;
  };

  if (opts.mode === 'cron') {
    const uid = process.getuid?.();
    const lockDir = uid === 0 ? '/run/lock' : ctx.env.XDG_RUNTIME_DIR && nodePath.isAbsolute(ctx.env.XDG_RUNTIME_DIR) ? ctx.env.XDG_RUNTIME_DIR : '/tmp';
    const systemZone = systemZoneName();
    const now = ctx.clock.now();
    const warnings: string[] = [];
    const crontab = policies
      .map((p) => {
        const envFile = envFileOf(p);
        const tab = renderCrontab({
          policyFile: p.file,
          policyName: p.name,
          triadBin: opts.triadBin,
          jobs: SCHEDULE_JOBS.flatMap(({ key, job }) => {
            const cron = p.schedule[key];
            return cron !== undefined ? [{ job, cron, args: scheduledArguments(p, p.file, job) }] : [];
          }),
          ...(envFile !== undefined ? { envFile } : {}),
          lockDir,
          timezone: p.timezone,
          systemZone,
          now,
        });
        if (tab.zoneDependent.length > 0) {
          warnings.push(
            `policy ${p.name}: the ${tab.zoneDependent.join(', ')} schedule in ${p.timezone} has no equivalent in the system zone (${systemZone}); the lines rely on CRON_TZ=, which Debian's cron ignores (it would run them at the same clock times in ${systemZone}): use --systemd, or cronie, or a policy timezone whose offset from ${systemZone} is constant`,
          );
        }
        return tab.text;
      })
      .join('\n');
    return { mode: 'cron', units: [], crontab, environment, warnings: [...warnings, ...policyWarnings(policies, ctx.clock.now())], next: ['crontab -e   # and paste the lines above'] };
  }

  const mode = opts.user ? 'user' : 'system';
  const dir = nodePath.resolve(ctx.cwd, opts.dir ?? (opts.user ? nodePath.join(home, '.config', 'systemd', 'user') : '/etc/systemd/system'));
  const units: InstalledUnit[] = [];
  for (const p of policies) {
    const envFile = envFileOf(p);
    for (const { key, job } of SCHEDULE_JOBS) {
      const cron = p.schedule[key];
      if (cron === undefined) continue;
      const u = renderSystemdUnits({
        policyFile: p.file,
        policyName: p.name,
        triadBin: opts.triadBin,
        job,
        args: scheduledArguments(p, p.file, job),
        cron,
        timezone: p.timezone,
        mode,
        ...(envFile !== undefined ? { envFile } : {}),
        readWritePaths: readWritePaths(ctx, p),
      });
      units.push({ policy: p.name, job, service: u.serviceName, timer: u.timerName, serviceText: u.service, timerText: u.timer });
    }
  }
  if (!opts.dryRun) {
    try {
      await mkdir(dir, { recursive: true });
      for (const u of units) {
        u.servicePath = await writeAtomic(nodePath.join(dir, u.service), u.serviceText);
        u.timerPath = await writeAtomic(nodePath.join(dir, u.timer), u.timerText);
      }
    } catch (err) {
      throw new TriadError('E_IO', `cannot write the units to ${dir}: ${errorMessage(err)}`, {
        hint: opts.user ? 'check the directory' : 'system units need root (sudo), or use --user, or --dir to write them elsewhere',
        cause: err,
      });
    }
  }
  const sc = opts.user ? 'systemctl --user' : 'systemctl';
  return {
    mode: 'systemd',
    units,
    environment,
    warnings: policyWarnings(policies, ctx.clock.now()),
    next: [`${sc} daemon-reload`, `${sc} enable --now ${units.map((u) => u.timer).join(' ')}`, `${sc} list-timers 'triad-*'`],
  };
}

async function writeAtomic(file: string, text: string): Promise<string> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, file);
  return file;
}

// ---- list --------------------------------------------------------------------------------

export interface ScheduleListEntry {
  policy: string;
  job: ScheduledJob;
  cron: string;
  timezone: string;
  next?: string;
  last?: { status: string; exitCode: number | null; startedAt: string; finishedAt: string | null; error: string | null };
  error?: string;
}

export const RUN_KIND: Record<ScheduledJob, 'backup' | 'restore-test' | 'prune' | 'check'> = {
  backup: 'backup',
  'restore-test': 'restore-test',
  prune: 'prune',
  check: 'check',
};

export async function listSchedule(ctx: AppContext, opts: { policyFiles: readonly string[] }): Promise<{ now: string; jobs: ScheduleListEntry[] }> {
  const now = ctx.clock.now();
  const jobs: ScheduleListEntry[] = [];
  for (const f of opts.policyFiles) {
    const p = await loadPolicyFile(ctx, nodePath.resolve(ctx.cwd, f));
    let catalog: ReturnType<typeof catalogFor> | undefined;
    let catalogError: string | undefined;
    try {
      catalog = catalogFor(ctx, p);
    } catch (err) {
      catalogError = errorMessage(err);
    }
    try {
      for (const { key, job } of SCHEDULE_JOBS) {
        const cron = p.schedule[key];
        if (cron === undefined) continue;
        const e: ScheduleListEntry = { policy: p.name, job, cron, timezone: p.timezone };
        try {
          e.next = nextRuns(cron, now, 1, p.timezone)[0]!.toISOString();
        } catch (err) {
          e.error = errorMessage(err);
        }
        if (catalog) {
          const last = catalog.listRuns(p.name, { kind: RUN_KIND[job] }).pop();
          if (last) e.last = { status: last.status, exitCode: last.exit_code, startedAt: last.started_at, finishedAt: last.finished_at, error: last.error };
        } else if (catalogError) e.error = `catalogue: ${catalogError}`;
        jobs.push(e);
      }
    } finally {
      catalog?.close();
    }
  }
  jobs.sort((a, b) => (a.next ?? '~').localeCompare(b.next ?? '~') || a.policy.localeCompare(b.policy));
  return { now: now.toISOString(), jobs };
}
