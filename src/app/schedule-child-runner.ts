/**
 * The daemon's job runner: each job runs as a child `triad <job> -p FILE` process in its own
 * process group, so a crashing job never takes the scheduler down and jobs run the same
 * version as the scheduler. The job's events (JSON lines on its stderr, from --json) go to the
 * daemon's log with their fields.
 */
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { errnoCode, ExitCode } from '../core/errors.js';
import { formatDuration } from '../core/format.js';
import type { JobOutcome, JobRequest, JobRunner, JobStatus, SchedulerLog, SchedulerLogEvent } from '../scheduler/index.js';
import { TailBuffer } from './hooks.js';

export interface ChildRunnerOptions {
  /** node */
  execPath: string;
  /** The running triad entry (bin/triad); jobs run the same version as the scheduler. */
  entry: string;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Global options passed on (e.g. ['--catalog', FILE]). */
  globalArgs?: readonly string[];
  /** After a stop: time the job gets to end cleanly after SIGTERM before SIGKILL; default 60 s. */
  stopGraceMs?: number;
  log?: SchedulerLog;
  /** triad's arguments for a job; default `<job> -p FILE`. */
  argsFor?: (req: JobRequest) => string[];
}

/** Runs each job as `node ENTRY --json <job> -p FILE` (or `argsFor`) in its own process group. */
export function childJobRunner(opts: ChildRunnerOptions): JobRunner {
  return (req) =>
    new Promise<JobOutcome>((resolve) => {
      const args = [opts.entry, '--json', ...(opts.globalArgs ?? []), ...(opts.argsFor?.(req) ?? [req.job, '-p', req.file])];
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
      const out = new TailBuffer(256 * 1024);
      const err = new TailBuffer(64 * 1024);
      const child = spawn(opts.execPath, args, { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      child.stdout.on('data', (d: Buffer) => out.push(d));
      const stderrLines = lineSplitter((line) => {
        const event = jobEventLine(line);
        if (event) opts.log?.({ ...event, policy: req.policy, job: req.job });
        else err.push(Buffer.from(line + '\n'));
      });
      child.stderr.on('data', (d: Buffer) => stderrLines.push(d));
      let stopping = false;
      let killTimer: NodeJS.Timeout | undefined;
      const onStop = (): void => {
        stopping = true;
        opts.log?.({ level: 'info', policy: req.policy, job: req.job, message: `stopping: SIGTERM sent to the job (pid ${child.pid})` });
        signalGroup(child.pid, 'SIGTERM');
        killTimer = setTimeout(() => {
          opts.log?.({ level: 'warn', policy: req.policy, job: req.job, message: `abandoned: the job did not end within ${formatDuration(opts.stopGraceMs ?? 60_000)} of SIGTERM; killed` });
          signalGroup(child.pid, 'SIGKILL');
        }, opts.stopGraceMs ?? 60_000);
      };
      if (req.signal.aborted) onStop();
      else req.signal.addEventListener('abort', onStop, { once: true });
      let settled = false;
      const finish = (o: JobOutcome): void => {
        if (settled) return;
        settled = true;
        if (killTimer) clearTimeout(killTimer);
        req.signal.removeEventListener('abort', onStop);
        resolve(o);
      };
      child.on('error', (e) => finish({ exitCode: ExitCode.FAILED, status: 'failed', message: `could not start ${opts.execPath}: ${e.message}` }));
      child.on('close', (code, signal) => {
        stderrLines.end();
        finish(interpretChild(req.job, code, signal, out.text(), err.text(), stopping));
      });
    });
}

/** Turns a finished child's exit status and output into an outcome with a useful line. */
export function interpretChild(job: string, code: number | null, signal: string | null, stdout: string, stderr: string, stopping = false): JobOutcome {
  if (code === null) {
    return { exitCode: 128, status: stopping ? 'interrupted' : 'failed', message: `killed by ${signal ?? 'a signal'}${stopping ? ' while stopping' : ' (crashed?)'}` };
  }
  if (code === 2) {
    const m = /unknown command '([^']+)'/.exec(stderr);
    if (m) {
      return { exitCode: ExitCode.USAGE, status: 'unavailable', message: `this triad has no '${m[1]}' command yet, so the ${job} job cannot run; remove it from the schedule or upgrade triad` };
    }
  }
  let json: unknown;
  try {
    json = stdout.trim() ? JSON.parse(stdout) : undefined;
  } catch {
    json = undefined;
  }
  const status: JobStatus = code === 0 ? 'ok' : code === 3 ? 'partial' : code === 4 ? 'finding' : code === 130 || code === 143 ? 'interrupted' : 'failed';
  const rec = json && typeof json === 'object' ? (json as Record<string, unknown>) : undefined;
  const error = rec?.error && typeof rec.error === 'object' ? (rec.error as { code?: string; message?: string }) : undefined;
  let message: string;
  if (error) message = `${error.code ?? 'error'}: ${error.message ?? ''}`.trim();
  else if (typeof rec?.snapshot === 'string') message = `snapshot ${rec.snapshot.slice(0, 8)}${code === 3 ? ' (partial: some files could not be read)' : ''}`;
  else if (code === 0) message = 'done';
  else message = lastLine(stderr) || `exit ${code}`;
  return { exitCode: code, status, message };
}

const EVENT_LOG_LEVEL = new Map<unknown, SchedulerLogEvent['level']>([
  ['warning', 'warn'],
  ['info', 'info'],
  ['progress', 'debug'],
]);

/** One of the job's event lines (`{"type":…,"level":…,…,"message":…}`) as a log event; any other line is none. */
export function jobEventLine(line: string): Omit<SchedulerLogEvent, 'policy' | 'job'> | undefined {
  if (!line.startsWith('{"type":')) return undefined;
  try {
    const parsed: unknown = JSON.parse(line);
    return typeof parsed === 'object' && parsed !== null ? eventLogEntry(parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * An event in its JSON form as a log event: its level mapped (progress is debug), its rendered
 * line as the message, its type (as `event`) and fields kept for `--log-format json`.
 */
export function eventLogEntry(o: Record<string, unknown>): Omit<SchedulerLogEvent, 'policy' | 'job'> | undefined {
  const { type, level, message, ...fields } = o;
  const logLevel = EVENT_LOG_LEVEL.get(level);
  if (typeof type !== 'string' || logLevel === undefined || typeof message !== 'string') return undefined;
  return { level: logLevel, message, fields: { event: type, ...fields } };
}

/** Longest stderr line kept whole; a longer one is passed on in pieces (it is no event line). */
const MAX_LINE = 64 * 1024;

/** Calls `onLine` for every complete line of a byte stream, and for the rest at `end()`. */
function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  return {
    push(chunk) {
      pending += decoder.write(chunk);
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      if (pending.length > MAX_LINE) {
        onLine(pending);
        pending = '';
      }
    },
    end() {
      pending += decoder.end();
      if (pending) onLine(pending);
      pending = '';
    },
  };
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/\x1b\[[0-9;]*m/g, '').trim())
    .filter(Boolean);
  return (lines[lines.length - 1] ?? '').slice(0, 500);
}

function signalGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch (e) {
    if (errnoCode(e) !== 'ESRCH') throw e;
  }
}
