import { TriadError } from '../core/errors.js';
import { parseCron } from './cron.js';
import type { ScheduledJob } from './jobs.js';

export interface CrontabJob {
  readonly job: ScheduledJob;
  /** The policy's 5-field cron expression. */
  readonly cron: string;
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
  /** Emitted as CRON_TZ= (cronie honours it; Debian's cron runs in the system zone). */
  readonly timezone?: string;
}

/**
 * Crontab lines for the jobs of one policy. `flock -n` makes a run that finds the previous
 * one of the same job still going exit at once instead of piling up; jobs of one policy use
 * one lock file each, and triad's repository lock still serialises exclusive operations.
 * `%` is escaped because cron turns it into a newline.
 */
export function renderCrontab(opts: CrontabOptions): string {
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
  const lines = [`# triad: policy ${opts.policyName} (${opts.policyFile})`];
  if (opts.timezone && opts.timezone !== 'local') lines.push(`CRON_TZ=${opts.timezone}`);
  for (const j of opts.jobs) {
    const spec = parseCron(j.cron);
    const lock = `${lockDir}/triad-${opts.policyName}-${j.job}.lock`;
    const triad = [opts.triadBin, j.job, '-p', opts.policyFile].map(shellQuote).join(' ');
    const command = opts.envFile
      ? `flock -n ${shellQuote(lock)} sh -c ${shellQuote(`set -a && . ${shellQuote(opts.envFile)} && set +a && exec ${triad}`)}`
      : `flock -n ${shellQuote(lock)} ${triad}`;
    const who = format === 'system' ? `${opts.user} ` : '';
    lines.push(`${spec.expression} ${who}${command.replace(/%/g, '\\%')}`);
  }
  return lines.join('\n') + '\n';
}

/** POSIX shell single-word quoting. */
export function shellQuote(word: string): string {
  if (/[\n\r\0]/.test(word)) throw new TriadError('E_USAGE', 'a crontab argument cannot contain line breaks or NUL bytes');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
