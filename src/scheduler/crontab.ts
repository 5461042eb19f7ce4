import { TriadError } from '../core/errors.js';
import { parseCron } from './cron.js';
import { cronForZone } from './cron-zone.js';
import type { ScheduledJob } from './jobs.js';

export interface CrontabJob {
  readonly job: ScheduledJob;
  /** The policy's 5-field cron expression. */
  readonly cron: string;
  /** triad's arguments for the job (see jobArguments); default `<job> -p <policyFile>`. */
  readonly args?: readonly string[];
}

export interface CrontabOptions {
  readonly policyFile: string;
  readonly policyName: string;
  readonly triadBin: string;
  readonly jobs: readonly CrontabJob[];
  /** 'user': `crontab -e` lines; 'system': /etc/cron.d lines with a user column. */
  readonly format?: 'user' | 'system';
  /** Required for format 'system'. */
  readonly user?: string;
  /** Sourced before each run (passphrase variable, cloud credentials); its path, never its content. */
  readonly envFile?: string;
  /** Directory of the flock files; default /run/lock (user crontabs: choose a writable one). */
  readonly lockDir?: string;
  /** The policy's zone ('local': the system's). */
  readonly timezone?: string;
  /** The zone the cron daemon reads times in: the machine's. */
  readonly systemZone: string;
  /** Start of the year over which a translation to the system zone is checked. */
  readonly now: Date;
}

export interface Crontab {
  readonly text: string;
  /** Jobs whose times could not be written in the system zone: they rely on CRON_TZ=. */
  readonly zoneDependent: readonly ScheduledJob[];
}

/**
 * Crontab lines for the jobs of one policy. `flock -n` makes a run that finds the previous
 * one of the same job still going exit at once instead of piling up; jobs of one policy use
 * one lock file each, and triad's repository lock still serialises exclusive operations.
 * `%` is escaped because cron turns it into a newline. Standard output is discarded so that
 * cron mails only what triad writes to standard error: warnings and failures.
 *
 * Times are written in the system zone whenever an expression there fires at the same
 * instants (Debian's cron ignores CRON_TZ=); otherwise the line keeps the policy's times
 * under CRON_TZ= (honoured by cronie) and a comment says what Debian's cron does with it.
 */
export function renderCrontab(opts: CrontabOptions): Crontab {
  const format = opts.format ?? 'user';
  if (format === 'system' && !opts.user) {
    throw new TriadError('E_USAGE', '/etc/cron.d lines need a user column', { hint: 'pass the user triad runs as' });
  }
  if (opts.user !== undefined && !/^[a-z_][a-z0-9_.-]*\$?$/i.test(opts.user)) {
    throw new TriadError('E_USAGE', `"${opts.user}" is not a valid user name`);
  }
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(opts.policyName)) {
    throw new TriadError('E_USAGE', `policy name "${opts.policyName}" cannot be used in a lock file name`);
  }
  if (opts.timezone !== undefined && !/^[A-Za-z0-9_+\-/]+$/.test(opts.timezone)) {
    throw new TriadError('E_USAGE', `time zone "${opts.timezone}" is not an IANA zone name`);
  }
  const lockDir = (opts.lockDir ?? '/run/lock').replace(/\/+$/, '');
  const zone = opts.timezone ?? 'local';
  const inSystemZone: string[] = [];
  const zoned: string[] = [];
  const zoneDependent: ScheduledJob[] = [];
  for (const j of opts.jobs) {
    const spec = parseCron(j.cron);
    const lock = `${lockDir}/triad-${opts.policyName}-${j.job}.lock`;
    const triad = [opts.triadBin, ...(j.args ?? [j.job, '-p', opts.policyFile])].map(shellQuote).join(' ');
    const command = opts.envFile
      ? `flock -n ${shellQuote(lock)} sh -c ${shellQuote(`set -a && . ${shellQuote(opts.envFile)} && set +a && exec ${triad} >/dev/null`)}`
      : `flock -n ${shellQuote(lock)} ${triad} >/dev/null`;
    const who = format === 'system' ? `${opts.user} ` : '';
    const local = cronForZone(spec.expression, zone, opts.systemZone, opts.now);
    if (local !== undefined) inSystemZone.push(`${local} ${who}${command.replace(/%/g, '\\%')}`);
    else {
      zoned.push(`${spec.expression} ${who}${command.replace(/%/g, '\\%')}`);
      zoneDependent.push(j.job);
    }
  }
  const lines = [`${crontabMarker(opts.policyName)} (${opts.policyFile})`];
  if (inSystemZone.length > 0) {
    if (zone !== 'local' && zone !== opts.systemZone) lines.push(`# times in the system zone (${opts.systemZone}), the same instants as the policy's schedule in ${zone}`);
    lines.push(...inSystemZone);
  }
  if (zoned.length > 0) {
    lines.push(
      `# times in ${zone} (the policy's zone): no expression in the system zone (${opts.systemZone}) fires at the same instants all year.`,
      `# cronie honours CRON_TZ=; Debian's cron ignores it and runs these lines at the same clock times in ${opts.systemZone}`,
      `CRON_TZ=${zone}`,
      ...zoned,
      // CRON_TZ= holds for every line below it: lines that follow (another policy) are in the system zone.
      `CRON_TZ=${opts.systemZone}`,
    );
  }
  return { text: lines.join('\n') + '\n', zoneDependent };
}

/** POSIX shell single-word quoting. */
export function shellQuote(word: string): string {
  if (/[\n\r\0]/.test(word)) throw new TriadError('E_USAGE', 'a crontab argument cannot contain line breaks or NUL bytes');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The comment that opens a policy's block of crontab lines: how an installed crontab is recognised. */
export function crontabMarker(policyName: string): string {
  return `# triad: policy ${policyName}`;
}
