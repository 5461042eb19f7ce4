/**
 * `triad doctor`: what a sysadmin checks before trusting a setup, one verdict per line. It
 * reads and probes; the only thing it writes is a small probe object per target, removed at once.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { randomToken } from '../core/token.js';
import { describeLockHolder } from '../core/describe.js';
import { formatBytes, formatDuration } from '../core/format.js';
import type { AppEvent } from '../core/events.js';
import { StorageError, type Storage } from '../backends/storage.js';
import { openCatalog } from '../catalog/catalog.js';
import { CAPACITY_CRITICAL_PERCENT, CAPACITY_WARNING_PERCENT } from '../compliance/report.js';
import type { Policy } from '../policy/types.js';
import { describeKdf, kdfBelowFloor } from '../repo/crypto/index.js';
import { holderAgeMs, listLocks, lockHolder, parseJobLock } from '../repo/lock/index.js';
import { crontabMarker, SCHEDULE_JOBS, systemdUnitName, type ScheduledJob } from '../scheduler/index.js';
import { checkPolicies, probePassphrase } from './policy-check.js';
import { fileSystemUsage } from './report.js';
import { RUN_KIND } from './schedule-install.js';
import { catalogPathFor, closeAll, errorMessage, hostName, kdfStrength, openTargets, type AppContext, type OpenedTarget } from './session.js';

export type DoctorVerdict = 'ok' | 'warn' | 'fail' | 'n/a';

export interface DoctorCheck {
  /** What was checked: policy, passphrase, target, repository, clock, space, kdf, locks, catalogue, job-lock, units, last-run. */
  check: string;
  /** The target, job or file the line is about. */
  subject?: string;
  verdict: DoctorVerdict;
  message: string;
  hint?: string;
  /** When the fact the line reports happened (ISO 8601 UTC), for a line about a past run. */
  at?: string;
}

export interface DoctorResult {
  file: string;
  policy?: string;
  /** The policy's timezone (UTC when the policy could not be read). */
  timezone: string;
  checks: DoctorCheck[];
  /** 0 when no line FAILs, 1 otherwise. */
  exitCode: 0 | 1;
}

/** How schedules are looked up on this machine; tests and other init systems may replace it. */
export interface UnitProbe {
  /** `systemctl [--user] is-enabled UNIT`'s answer ("enabled", "disabled", "not-found"…), or undefined without systemctl. */
  systemdState(unit: string, user: boolean): Promise<string | undefined>;
  /** The invoking user's crontab, or undefined when there is none or no crontab program. */
  crontab(): Promise<string | undefined>;
}

export interface DoctorOptions {
  policyFile: string;
  units?: UnitProbe;
}

/*
 * Clock skew thresholds. Repository locks expire by their holder's clock and are judged stale
 * by the reader's, so a clock a few minutes off can take a live lock for a stale one; object
 * stores refuse signed requests whose time is 15 minutes from theirs (AWS SigV4, Azure
 * SharedKey), so past that every request fails.
 */
const SKEW_WARN_MS = 60_000;
const SKEW_FAIL_MS = 15 * 60_000;

/** A doctor answers in seconds: a target that keeps failing is reported, not waited for. */
const DOCTOR_RETRY_FOR_MS = 10_000;

const PROBE_BYTES = Buffer.from('triad doctor probe\n');

export async function runDoctor(ctx: AppContext, opts: DoctorOptions): Promise<DoctorResult> {
  const checks: DoctorCheck[] = [];
  const file = nodePath.resolve(ctx.cwd, opts.policyFile);
  const [checked] = await checkPolicies([file], { env: ctx.env, cwd: ctx.cwd, now: ctx.clock.now(), passphrase: false });
  if (!checked?.valid || !checked.policy) {
    const problems = checked?.problems ?? [];
    checks.push({ check: 'policy', subject: opts.policyFile, verdict: 'fail', message: `invalid: ${problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).slice(0, 3).join('; ')}`, hint: `triad policy check ${opts.policyFile}` });
    return done(opts.policyFile, undefined, checks);
  }
  const policy = checked.policy;
  const ruleFails = checked.verdict === 'fail';
  checks.push({ check: 'policy', verdict: ruleFails ? 'fail' : 'ok', message: ruleFails ? `rule ${policy.rule} not met: ${checked.matrix?.summary ?? ''}` : `valid, rule ${policy.rule} ${checked.verdict === 'off' ? 'off' : 'met'}` });
  for (const w of checked.warnings ?? []) checks.push({ check: 'policy', verdict: 'warn', message: w });

  const probe = await probePassphrase(policy, { env: ctx.env, cwd: ctx.cwd, signal: ctx.signal });
  if (probe.unavailable !== undefined) checks.push({ check: 'passphrase', verdict: 'fail', message: probe.unavailable });
  else if (probe.exposed.length > 0) for (const e of probe.exposed) checks.push({ check: 'passphrase', verdict: 'warn', message: e });
  else checks.push({ check: 'passphrase', verdict: 'ok', message: 'source present and private' });

  // Weak keys get a doctor line of their own instead of the usual warning.
  const quiet: AppContext = { ...ctx, retryForMs: ctx.retryForMs ?? DOCTOR_RETRY_FOR_MS, emit: (e: AppEvent) => (e.type === 'weak-key' ? undefined : ctx.emit?.(e)) };
  const opened = await openTargets(quiet, policy, policy.targets, probe.passphrase ?? '');
  try {
    for (const o of opened) checks.push(...(await targetChecks(ctx, policy, o, probe.passphrase !== undefined)));
  } finally {
    await closeAll(opened);
  }
  checks.push(...(await catalogueChecks(ctx, policy)));
  checks.push(...(await unitChecks(policy, opts.units ?? systemUnits(ctx.env))));
  return done(opts.policyFile, policy, checks);
}

function done(file: string, policy: Policy | undefined, checks: DoctorCheck[]): DoctorResult {
  return { file, ...(policy ? { policy: policy.name } : {}), timezone: policy?.timezone ?? 'UTC', checks, exitCode: checks.some((c) => c.verdict === 'fail') ? 1 : 0 };
}

// ---- targets -------------------------------------------------------------------------------------

async function targetChecks(ctx: AppContext, policy: Policy, o: OpenedTarget, havePassphrase: boolean): Promise<DoctorCheck[]> {
  const subject = o.spec.name;
  if (!o.storage) return [{ check: 'target', subject, verdict: 'fail', message: `cannot be reached: ${errorMessage(o.error)}`, ...hintOf(o.error) }];
  const out: DoctorCheck[] = [await writeProbe(ctx, o.storage, subject)];
  out.push(await clockCheck(ctx, o.storage, subject));
  if (o.spec.type === 'local') out.push(spaceCheck('space', subject, await fileSystemUsage(nodePath.resolve(ctx.cwd, o.spec.path))));
  if (!havePassphrase) {
    out.push({ check: 'repository', subject, verdict: 'n/a', message: 'not opened: the passphrase is not available' });
    return out;
  }
  if (!o.repo) {
    out.push({ check: 'repository', subject, verdict: 'fail', message: `cannot be opened: ${errorMessage(o.error)}`, ...hintOf(o.error) });
    return out;
  }
  out.push({ check: 'repository', subject, verdict: 'ok', message: `repository ${o.repo.id.slice(0, 8)} opens` });
  const { floor } = kdfStrength(ctx);
  const key = o.repo.openedKey;
  if (key && kdfBelowFloor(key.kdf, floor)) {
    out.push({ check: 'kdf', subject, verdict: 'warn', message: `key ${key.id.slice(0, 8)} uses ${describeKdf(key.kdf)}, below ${describeKdf(floor)}: cheap to guess offline`, hint: `triad key passwd -p ${policy.file}` });
  } else {
    out.push({ check: 'kdf', subject, verdict: 'ok', message: key ? `key ${key.id.slice(0, 8)}: ${describeKdf(key.kdf)}` : 'key strength unknown' });
  }
  out.push(await repoLockCheck(ctx, policy, o, subject));
  return out;
}

/** Writes, reads back and removes a small object under a name no repository object has. */
async function writeProbe(ctx: AppContext, storage: Storage, subject: string): Promise<DoctorCheck> {
  // locks/ exists on every replica; lock readers skip names that are not lock ids.
  const name = `locks/doctor-${randomToken(8)}`;
  try {
    await storage.save(name, PROBE_BYTES, { signal: ctx.signal, ifAbsent: true });
    try {
      const back = await storage.load(name, undefined, { signal: ctx.signal });
      if (!back.equals(PROBE_BYTES)) return { check: 'target', subject, verdict: 'fail', message: `${storage.location}: a probe object read back differs from what was written` };
    } finally {
      await storage.remove(name, { signal: ctx.signal });
    }
    return { check: 'target', subject, verdict: 'ok', message: `reachable and writable (${storage.location})` };
  } catch (err) {
    const absent = err instanceof StorageError && (err.kind === 'unreachable' || err.kind === 'no-container');
    return { check: 'target', subject, verdict: 'fail', message: `${absent ? 'cannot be reached' : 'not writable'}: ${errorMessage(err)}` };
  }
}

async function clockCheck(ctx: AppContext, storage: Storage, subject: string): Promise<DoctorCheck> {
  if (!storage.serverTime) return { check: 'clock', subject, verdict: 'n/a', message: 'local storage has no clock of its own' };
  let server: Date | undefined;
  const before = ctx.clock.now().getTime();
  try {
    server = await storage.serverTime({ signal: ctx.signal });
  } catch (err) {
    return { check: 'clock', subject, verdict: 'warn', message: `the endpoint's time could not be read: ${errorMessage(err)}` };
  }
  if (!server) return { check: 'clock', subject, verdict: 'warn', message: "the endpoint's answer carries no Date header" };
  // The Date header is whole seconds: compare with the middle of the request.
  const local = (before + ctx.clock.now().getTime()) / 2;
  const skew = local - server.getTime();
  const abs = Math.abs(skew);
  const verdict = abs > SKEW_FAIL_MS ? 'fail' : abs > SKEW_WARN_MS ? 'warn' : 'ok';
  const message = verdict === 'ok' ? `in step with the endpoint (within ${formatDuration(SKEW_WARN_MS)})` : `this machine's clock is ${formatDuration(abs)} ${skew > 0 ? 'ahead of' : 'behind'} the endpoint's`;
  return { check: 'clock', subject, verdict, message, ...(verdict === 'ok' ? {} : { hint: 'synchronise the clock (timedatectl set-ntp true, or chrony/ntpd)' }) };
}

function spaceCheck(check: string, subject: string, usage: { usedBytes: number; freeBytes: number } | undefined): DoctorCheck {
  if (!usage) return { check, subject, verdict: 'warn', message: 'free space could not be read' };
  const total = usage.usedBytes + usage.freeBytes;
  const usedPercent = total > 0 ? (usage.usedBytes / total) * 100 : 100;
  const verdict = usedPercent >= CAPACITY_CRITICAL_PERCENT ? 'fail' : usedPercent >= CAPACITY_WARNING_PERCENT ? 'warn' : 'ok';
  return { check, subject, verdict, message: `${formatBytes(usage.freeBytes)} free (${Math.round(usedPercent)}% used)` };
}

async function repoLockCheck(ctx: AppContext, policy: Policy, o: OpenedTarget, subject: string): Promise<DoctorCheck> {
  try {
    const locks = await listLocks(o.repo!, { clock: ctx.clock, host: hostName(policy), ...(ctx.signal ? { signal: ctx.signal } : {}) });
    if (locks.length === 0) return { check: 'locks', subject, verdict: 'ok', message: 'no repository lock held' };
    const now = ctx.clock.now();
    const held = locks.map((l) => (l.record ? `${describeLockHolder(lockHolder(l.record), holderAgeMs(l.record, now))}${l.stale ? ` (stale: ${l.staleReason ?? ''})` : ''}` : `${l.name} (${l.staleReason ?? 'unreadable'})`));
    const stale = locks.some((l) => l.stale);
    return { check: 'locks', subject, verdict: 'warn', message: `held by ${held.join('; ')}`, ...(stale ? { hint: `triad unlock -p ${policy.file} --target ${subject}` } : {}) };
  } catch (err) {
    return { check: 'locks', subject, verdict: 'fail', message: `locks could not be listed: ${errorMessage(err)}` };
  }
}

function hintOf(err: unknown): { hint?: string } {
  const hint = (err as { hint?: unknown } | undefined)?.hint;
  return typeof hint === 'string' ? { hint } : {};
}

// ---- catalogue, job locks, last runs -------------------------------------------------------------

async function catalogueChecks(ctx: AppContext, policy: Policy): Promise<DoctorCheck[]> {
  const file = catalogPathFor(ctx, policy);
  const out: DoctorCheck[] = [spaceCheck('space', 'catalogue', await fileSystemUsage(nodePath.dirname(file)))];
  out.push(...jobLockChecks(policy, nodePath.join(nodePath.dirname(file), 'locks'), ctx));
  if (!existsSync(file)) {
    out.push({ check: 'catalogue', subject: file, verdict: 'warn', message: 'does not exist yet (the first backup creates it)', hint: `triad backup -p ${policy.file}` });
    return out;
  }
  let catalog: ReturnType<typeof openCatalog> | undefined;
  try {
    catalog = openCatalog(file, { readonly: true });
    const problems = catalog.quickCheck();
    out.push(
      problems.length === 0
        ? { check: 'catalogue', subject: file, verdict: 'ok', message: 'quick_check passes' }
        : { check: 'catalogue', subject: file, verdict: 'fail', message: `damaged: ${problems.slice(0, 3).join('; ')}`, hint: `triad catalog rebuild -p ${policy.file}` },
    );
    out.push(...lastRunChecks(policy, catalog, ctx.clock.now()));
  } catch (err) {
    out.push({ check: 'catalogue', subject: file, verdict: 'fail', message: `cannot be read: ${errorMessage(err)}`, ...hintOf(err) });
  } finally {
    catalog?.close();
  }
  return out;
}

function jobLockChecks(policy: Policy, dir: string, ctx: AppContext): DoctorCheck[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(`${policy.name}.`) && n.endsWith('.lock'));
  } catch {
    names = [];
  }
  const now = ctx.clock.now();
  const out: DoctorCheck[] = [];
  for (const n of names) {
    const file = nodePath.join(dir, n);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // released between the listing and the read
    }
    const r = parseJobLock(text);
    // Another policy whose name starts with this one's and a dot.
    if (r.policy !== undefined && r.policy !== policy.name) continue;
    const command = n.slice(policy.name.length + 1, -'.lock'.length);
    if (r.nonce === 'unreadable') {
      out.push({ check: 'job-lock', subject: command, verdict: 'warn', message: `${file} cannot be read`, hint: `if no triad process runs, remove ${file}` });
      continue;
    }
    const holder = describeLockHolder({ host: r.host, pid: r.pid, kind: 'job', command, since: r.time }, Math.max(0, now.getTime() - Date.parse(r.time)));
    out.push({ check: 'job-lock', subject: command, verdict: 'warn', message: `held by ${holder}` });
  }
  return out.length > 0 ? out : [{ check: 'job-lock', verdict: 'ok', message: 'no job of this policy is running on this machine' }];
}

/** The last run of each scheduled job: a failed one FAILs, none yet WARNs. */
function lastRunChecks(policy: Policy, catalog: ReturnType<typeof openCatalog>, now: Date): DoctorCheck[] {
  const out: DoctorCheck[] = [];
  for (const { key, job } of SCHEDULE_JOBS) {
    if (policy.schedule[key] === undefined) continue;
    const last = catalog.listRuns(policy.name, { kind: RUN_KIND[job] }).pop();
    if (!last) {
      out.push({ check: 'last-run', subject: job, verdict: 'warn', message: 'has never run', hint: `triad ${job} -p ${policy.file}` });
      continue;
    }
    const age = formatDuration(Math.max(0, now.getTime() - Date.parse(last.started_at)));
    const verdict = last.status === 'failed' ? 'fail' : last.status === 'ok' || last.status === 'running' ? 'ok' : 'warn';
    out.push({ check: 'last-run', subject: job, verdict, message: `${last.status}${last.exit_code !== null ? ` (exit ${last.exit_code})` : ''}, ${age} ago${last.error ? `: ${last.error}` : ''}`, at: last.started_at });
  }
  return out;
}

// ---- schedules -----------------------------------------------------------------------------------

async function unitChecks(policy: Policy, units: UnitProbe): Promise<DoctorCheck[]> {
  const jobs = SCHEDULE_JOBS.filter(({ key }) => policy.schedule[key] !== undefined).map((j) => j.job);
  if (jobs.length === 0) return [{ check: 'units', verdict: 'warn', message: 'the policy schedules no job: nothing runs unattended', hint: 'add a schedule section, then triad schedule install' }];
  const crontab = await units.crontab();
  const inCrontab = crontab?.split('\n').some((l) => l.startsWith(`${crontabMarker(policy.name)} (`)) ?? false;
  const out: DoctorCheck[] = [];
  for (const job of jobs) out.push(await unitCheck(policy, job, units, inCrontab));
  return out;
}

async function unitCheck(policy: Policy, job: ScheduledJob, units: UnitProbe, inCrontab: boolean): Promise<DoctorCheck> {
  const timer = `${systemdUnitName(policy.name, job)}.timer`;
  for (const user of [false, true]) {
    const state = await units.systemdState(timer, user);
    if (state === 'enabled') return { check: 'units', subject: job, verdict: 'ok', message: `${timer} enabled${user ? ' (--user)' : ''}` };
    if (state !== undefined && state !== 'not-found' && state !== '') {
      return { check: 'units', subject: job, verdict: 'warn', message: `${timer} is ${state}`, hint: `systemctl${user ? ' --user' : ''} enable --now ${timer}` };
    }
  }
  if (inCrontab) return { check: 'units', subject: job, verdict: 'ok', message: 'in the crontab' };
  return { check: 'units', subject: job, verdict: 'warn', message: 'not installed (no systemd timer, no crontab lines)', hint: `sudo triad schedule install -p ${policy.file} --systemd (or --cron)` };
}

/** systemctl and crontab as installed on this machine; a missing program means "not this way". */
function systemUnits(env: Record<string, string | undefined>): UnitProbe {
  const run = (cmd: string, args: string[]) =>
    new Promise<{ code: number; stdout: string } | undefined>((resolve) => {
      execFile(cmd, args, { env: { PATH: env.PATH ?? '/usr/bin:/bin' }, timeout: 10_000 }, (err, stdout) => {
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return resolve(undefined);
        resolve({ code: typeof err?.code === 'number' ? err.code : err ? 1 : 0, stdout: String(stdout) });
      });
    });
  return {
    async systemdState(unit, user) {
      const r = await run('systemctl', [...(user ? ['--user'] : []), 'is-enabled', unit]);
      return r?.stdout.trim().split('\n')[0];
    },
    async crontab() {
      const r = await run('crontab', ['-l']);
      return r && r.code === 0 ? r.stdout : undefined;
    },
  };
}
