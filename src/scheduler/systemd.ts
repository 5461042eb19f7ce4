import { TriadError } from '../core/errors.js';
import { parseCron, type CronSpec } from './cron.js';
import { describeJob, type ScheduledJob } from './jobs.js';

/**
 * systemd.time(7) calendar specs equivalent to a cron expression. systemd ANDs the weekday
 * with the date, while cron ORs day-of-month and day-of-week when both are restricted; the
 * OR case becomes two specs, which a timer ORs when given as two OnCalendar= lines.
 * `timezone` ('local' or undefined: the machine's zone) is appended as systemd accepts it.
 */
export function cronToOnCalendar(cron: string, timezone?: string): string[] {
  const spec = parseCron(cron);
  const tz = timezone && timezone !== 'local' ? ` ${timezone}` : '';
  const time = `${field(spec.hours, 0, 23)}:${field(spec.minutes, 0, 59)}:00`;
  const month = field(spec.months, 1, 12);
  const dom = field(spec.daysOfMonth, 1, 31);
  const dow = weekdays(spec.daysOfWeek);
  const make = (days: string, weekday: string): string => `${weekday ? weekday + ' ' : ''}*-${month}-${days} ${time}${tz}`;
  if (spec.domRestricted && spec.dowRestricted) return [make(dom, ''), make('*', dow)];
  return [make(dom, spec.dowRestricted ? dow : '')];
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** Shortest faithful systemd form of a value set: `*`, `start/step`, or a list with `a..b` runs. */
function field(values: readonly number[], min: number, max: number): string {
  if (values.length === max - min + 1) return '*';
  if (values.length > 3) {
    const step = values[1]! - values[0]!;
    const regular = values.every((v, i) => v === values[0]! + i * step);
    // "start/step" in systemd runs to the end of the range, so it fits only if cron's set does.
    if (regular && values[values.length - 1]! + step > max) return `${pad(values[0]!)}/${step}`;
  }
  return runs(values).map(([a, b]) => (a === b ? pad(a) : b === a + 1 ? `${pad(a)},${pad(b)}` : `${pad(a)}..${pad(b)}`)).join(',');
}

function runs(values: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const v of values) {
    const last = out[out.length - 1];
    if (last && v === last[1] + 1) last[1] = v;
    else out.push([v, v]);
  }
  return out;
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

function weekdays(days: readonly number[]): string {
  if (days.length === 7) return '';
  // Monday-first order so that Mon..Fri stays one range; Sunday comes last.
  const order = days.map((d) => (d + 6) % 7).sort((a, b) => a - b);
  return runs(order)
    .map(([a, b]) => {
      const name = (i: number): string => WEEKDAYS[(i + 1) % 7]!;
      return a === b ? name(a) : b === a + 1 ? `${name(a)},${name(b)}` : `${name(a)}..${name(b)}`;
    })
    .join(',');
}

export interface SystemdUnitOptions {
  /** Absolute path of the policy file. */
  readonly policyFile: string;
  readonly policyName: string;
  /** Absolute path of the triad launcher. */
  readonly triadBin: string;
  readonly job: ScheduledJob;
  /** triad's arguments for the job (see jobArguments); default `<job> -p <policyFile>`. */
  readonly args?: readonly string[];
  /** The policy's cron expression; or give onCalendar directly. */
  readonly cron?: string;
  /** systemd calendar specs used as they are (one OnCalendar= line each). */
  readonly onCalendar?: readonly string[];
  /** IANA zone for the cron translation; 'local' or absent: the machine's zone. */
  readonly timezone?: string;
  /** 'system' units run as `user` (default root); 'user' units run in the user's manager. */
  readonly mode?: 'system' | 'user';
  readonly user?: string;
  readonly group?: string;
  /** EnvironmentFile= holding the passphrase variable and cloud credentials (its path, never its content). */
  readonly envFile?: string;
  /** Paths the job must write: the catalogue's directory, local targets, the restore scratch directory. */
  readonly readWritePaths?: readonly string[];
  /** Spread simultaneous timers; default 5 minutes. */
  readonly randomizedDelaySec?: number;
}

export interface SystemdUnits {
  /** e.g. triad-finance-backup */
  readonly name: string;
  readonly serviceName: string;
  readonly timerName: string;
  readonly service: string;
  readonly timer: string;
}


/** The base name of a job's units: `triad-POLICY-JOB` (.service and .timer). */
export function systemdUnitName(policyName: string, job: string): string {
  return `triad-${policyName}-${job}`;
}

/**
 * A oneshot service and its timer for one job of one policy. The service is hardened
 * (read-only system, private /tmp, no privilege gain) and may write only the given paths;
 * Persistent= runs a job missed while the machine was off at the next boot. triad's own
 * repository lock prevents overlap with a manual run; systemd never starts a second
 * instance of a running oneshot service.
 */
export function renderSystemdUnits(opts: SystemdUnitOptions): SystemdUnits {
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(opts.policyName)) {
    throw new TriadError('E_USAGE', `policy name "${opts.policyName}" cannot be used in a unit name`, {
      hint: 'policy names are [a-z0-9][a-z0-9._-]*',
    });
  }
  for (const [what, p] of [['policy file', opts.policyFile], ['triad binary', opts.triadBin], ['environment file', opts.envFile]] as const) {
    if (p !== undefined && !p.startsWith('/')) {
      throw new TriadError('E_USAGE', `${what} "${p}" must be an absolute path for a systemd unit`, { hint: 'pass an absolute path' });
    }
  }
  const mode = opts.mode ?? 'system';
  if (mode === 'user' && (opts.user !== undefined || opts.group !== undefined)) {
    throw new TriadError('E_USAGE', 'User= and Group= do not apply to --user units', { hint: 'drop --unit-user or install system units' });
  }
  const calendars = opts.onCalendar ?? (opts.cron !== undefined ? cronToOnCalendar(opts.cron, opts.timezone) : undefined);
  if (!calendars || calendars.length === 0) {
    throw new TriadError('E_USAGE', `no schedule for the ${opts.job} job of policy ${opts.policyName}`, {
      hint: `set schedule.${opts.job.replace('-', '_')} in the policy`,
    });
  }
  for (const c of calendars) {
    if (/[\n\r]/.test(c)) throw new TriadError('E_USAGE', 'a calendar spec cannot contain a line break');
  }

  const name = systemdUnitName(opts.policyName, opts.job);
  const args = opts.args ?? [opts.job, '-p', opts.policyFile];
  const what = `triad ${describeJob(args)} of policy ${opts.policyName}`;
  const exec = [opts.triadBin, ...args].map((w) => systemdQuote(w)).join(' ');
  const rw = [...new Set(opts.readWritePaths ?? [])].map((p) => systemdQuote(p, 'path'));

  const service = [
    '[Unit]',
    `Description=${what}`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    ...(opts.user ? [`User=${opts.user}`] : []),
    ...(opts.group ? [`Group=${opts.group}`] : []),
    ...(opts.envFile ? [`EnvironmentFile=${systemdQuote(opts.envFile, 'path')}`] : []),
    `ExecStart=${exec}`,
    // Exit 3 (partial snapshot) and 4 (compliance finding) mark the unit failed on purpose,
    // so OnFailure= and `systemctl --failed` surface them.
    'Nice=10',
    'IOSchedulingClass=best-effort',
    'IOSchedulingPriority=7',
    // SIGTERM lets triad release its lock and record the abandoned run (exit 143).
    'KillSignal=SIGTERM',
    'TimeoutStopSec=5min',
    'ProtectSystem=strict',
    'ProtectHome=read-only',
    'PrivateTmp=yes',
    'NoNewPrivileges=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectControlGroups=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    ...(rw.length > 0 ? [`ReadWritePaths=${rw.join(' ')}`] : []),
    '',
  ].join('\n');

  const timer = [
    '[Unit]',
    `Description=Timer for ${what}`,
    '',
    '[Timer]',
    ...calendars.map((c) => `OnCalendar=${c}`),
    'Persistent=true',
    `RandomizedDelaySec=${opts.randomizedDelaySec ?? 300}`,
    'AccuracySec=1min',
    `Unit=${name}.service`,
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');

  return { name, serviceName: `${name}.service`, timerName: `${name}.timer`, service, timer };
}

/**
 * One word for a unit-file command line or path list: specifiers (%) and variables ($) are
 * escaped so that a path cannot be expanded; spaces and quotes are double-quoted.
 */
export function systemdQuote(word: string, kind: 'exec' | 'path' = 'exec'): string {
  if (/[\n\r\0]/.test(word)) throw new TriadError('E_USAGE', 'a unit argument cannot contain line breaks or NUL bytes');
  // Only command lines expand $VARIABLES; every setting expands %specifiers.
  const escaped = kind === 'exec' ? word.replace(/%/g, '%%').replace(/\$/g, '$$$$') : word.replace(/%/g, '%%');
  if (/^[A-Za-z0-9_@%+=:,./$-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export type { CronSpec };
