import { Option, type Command } from 'commander';
import { systemClock } from '../../core/clock.js';
import type { AppContext } from '../../app/session.js';
import type { CliContext } from '../context.js';
import type { Output } from '../output.js';
import { eventReporter } from '../progress.js';
import { TriadError } from '../../core/errors.js';
import { parseDuration, parseRate } from '../../policy/units.js';

/** Builds the app layer's context from the CLI's: the env, cwd, clock and signal passed down explicitly. */
export function appContext(ctx: CliContext, cmd: Command, out: Output, opening?: string): AppContext & { stopProgress(): void } {
  const events = eventReporter(out, opening);
  const g = cmd.optsWithGlobals<{ retryFor?: string; limitUpload?: string; readConcurrency?: string }>();
  return {
    env: ctx.env,
    cwd: ctx.cwd,
    clock: ctx.injected.clock ?? systemClock,
    signal: ctx.signal,
    emit: events.emit,
    catalogPath: ctx.globals(cmd).catalog,
    kdf: ctx.injected.kdf,
    lockStaleAfterMs: ctx.injected.lockStaleAfterMs,
    wrapStorage: ctx.injected.wrapStorage,
    retryForMs: g.retryFor !== undefined ? parseOption('--retry-for', g.retryFor, parseDuration) : undefined,
    uploadLimit: g.limitUpload !== undefined ? parseOption('--limit-upload', g.limitUpload, parseRate) : undefined,
    readConcurrency: g.readConcurrency !== undefined ? wholeNumberOption('--read-concurrency', g.readConcurrency, 64) : undefined,
    threads: { backupWorkers: threadCount(ctx.env, 'TRIAD_BACKUP_WORKERS'), restoreWriters: threadCount(ctx.env, 'TRIAD_RESTORE_WRITERS') },
    stopProgress: () => events.stop(),
  };
}

/** A thread count from the environment: a whole number from 1 to 64, or unset. */
function threadCount(env: Record<string, string | undefined>, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new TriadError('E_USAGE', `${name}=${raw}: expected a whole number of threads from 1 to 64`, { hint: `unset ${name} to use the default` });
  return n;
}

/** --read-concurrency, for the commands that read parts of packs. */
/** `--host H`: whose snapshots a command sees in a repository that several hosts share. */
export function hostOption(what: string): Option {
  return new Option('--host <host>', `${what} of this host (default: this machine, or the policy's host:)`).conflicts('allHosts').argParser(parseHostName);
}

/** A host name as snapshots record it: not empty, no control characters. */
export function parseHostName(value: string): string {
  if (!/^[^\x00-\x1f\x7f]+$/.test(value) || value.trim() !== value) {
    throw new TriadError('E_USAGE', `--host ${JSON.stringify(value)}: a host name must be non-empty, without control characters or surrounding spaces`);
  }
  return value;
}

/** `--all-hosts`: every host's snapshots (see hostOption). */
export function allHostsOption(what: string): Option {
  return new Option('--all-hosts', `${what} of every host sharing the repository`);
}

export function readConcurrencyOption(): Option {
  return new Option('--read-concurrency <n>', 'range requests in flight per target while reading (default 4)');
}

function wholeNumberOption(flag: string, value: string, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > max) throw new TriadError('E_USAGE', `${flag} ${value}: expected a whole number from 1 to ${max}`);
  return n;
}

function parseOption(flag: string, value: string, parse: (v: string) => number): number {
  try {
    return parse(value);
  } catch (err) {
    throw new TriadError('E_USAGE', `${flag} ${value}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function parseDurationOption(flag: string, value: string): number {
  return parseOption(flag, value, parseDuration);
}
