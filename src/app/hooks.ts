/**
 * Policy hooks (`hooks.before`, `after`, `on_failure`): shell commands run around a job,
 * e.g. a database dump before the backup reads its file. Each runs in its own process
 * group with the policy's timeout; on timeout or cancellation the whole group is killed,
 * so a `sh -c "pg_dump … | gzip"` leaves nothing behind. Output is kept as bounded tails
 * for the run record.
 *
 * The hook's environment is the caller's minus every secret the policy names (the
 * passphrase variable and cloud credential variables), minus every variable a cloud SDK
 * reads credentials from by itself (AWS_*, AZURE_*, GOOGLE_*…: a target on the SDK's
 * default chain names none), plus TRIAD_* variables that describe the run. A failing or timed-out `before` hook throws E_HOOK_FAILED: a backup of
 * a stale dump must not be reported as a success. A failed hook's declared `output` files
 * are removed, so that the next run cannot back up a half-written dump as good.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { TriadError, ExitCode } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import { describeHookFailure } from '../core/describe.js';
import type { HookFailure } from '../core/events.js';
import type { HookSpec, Policy } from '../policy/types.js';
import { isSdkCredentialVariable } from '../backends/env.js';
import { formatDurationShort } from '../policy/units.js';

export type HookKind = 'before' | 'after' | 'on_failure';

/** What the TRIAD_* variables describe; never a secret. */
export interface HookRunSummary {
  /** The job: backup, restore-test, prune, check. */
  job?: string;
  /** ok | partial | failed | interrupted (after and on_failure hooks). */
  result?: string;
  exitCode?: number;
  snapshot?: string;
  /** The failure message (already free of secrets, as every TriadError message is). */
  error?: string;
}

export interface RunHooksOptions {
  /** Base environment (the CLI's); secrets named by the policy are removed from it. */
  env: Record<string, string | undefined>;
  cwd: string;
  clock: Clock;
  signal?: AbortSignal;
  /** The policy whose hooks run: its name goes into TRIAD_POLICY, its secret variable names are stripped. */
  policy: Pick<Policy, 'name' | 'file' | 'encryption' | 'targets'>;
  summary?: HookRunSummary;
  /** Bytes kept from the end of stdout and of stderr; default 64 KiB. */
  tailBytes?: number;
  /** Between SIGTERM and SIGKILL of the process group on timeout/abort; default 5 s. */
  killGraceMs?: number;
  /** Shell run as `SHELL -c COMMAND`; default `/bin/bash -o pipefail`, or /bin/sh where bash is missing. */
  shell?: string;
  /** Called with each result as it completes (also for the hook that makes `before` throw). */
  onResult?: (r: HookResult) => void;
}

export interface HookResult {
  kind: HookKind;
  run: string;
  /** null when the hook was killed (timeout, cancellation) or could not start. */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
  stdout: string;
  stderr: string;
  /** True when output was longer than the tail kept. */
  truncated: boolean;
  /** Why it could not start (e.g. the shell is missing). */
  spawnError?: string;
  /** The hook's declared `output` files removed because it failed. */
  removedOutput?: string[];
}

export const HOOK_TAIL_BYTES = 64 * 1024;

/** What a notice about a failed hook carries: its outcome, never its output. */
export function hookFailure(r: HookResult): HookFailure {
  return { kind: r.kind, run: r.run, exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, aborted: r.aborted, ...(r.spawnError !== undefined ? { spawnError: r.spawnError } : {}) };
}

/** Did the hook succeed (exit 0, not killed)? */
export function hookSucceeded(r: HookResult): boolean {
  return r.exitCode === ExitCode.OK && !r.timedOut && !r.aborted && r.spawnError === undefined;
}

/** One line for logs and error messages: `"pg_dump …" exited with code 3` / `timed out after 15m`. */
export function describeHook(r: HookFailure, timeoutMs?: number): string {
  return describeHookFailure(r, timeoutMs !== undefined ? formatDurationShort(timeoutMs) : undefined);
}

/**
 * Names of the environment variables that hold secrets for this policy: the passphrase
 * variable and every credential variable of its targets (access key ids included: they are
 * half of a credential). Hooks never see them.
 */
export function secretEnvNames(policy: Pick<Policy, 'encryption' | 'targets'>): string[] {
  const names = new Set<string>();
  const env = policy.encryption?.passphrase.env;
  if (env) names.add(env);
  for (const t of policy.targets) {
    if (t.type === 's3' && t.credentials_env) {
      for (const v of Object.values(t.credentials_env)) if (v) names.add(v);
    }
    if (t.type === 'azure') {
      for (const v of [t.connection_string_env, t.account_key_env, t.sas_token_env]) if (v) names.add(v);
    }
  }
  return [...names];
}

/** The environment a hook runs with. */
export function hookEnvironment(kind: HookKind, opts: Pick<RunHooksOptions, 'env' | 'policy' | 'summary'>): Record<string, string> {
  const secrets = new Set(secretEnvNames(opts.policy));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env)) {
    if (v === undefined || secrets.has(k) || k.startsWith('TRIAD_') || isSdkCredentialVariable(k)) continue;
    env[k] = v;
  }
  const s = opts.summary ?? {};
  env.TRIAD_HOOK = kind;
  env.TRIAD_POLICY = opts.policy.name;
  env.TRIAD_POLICY_FILE = opts.policy.file;
  if (s.job !== undefined) env.TRIAD_JOB = s.job;
  if (s.result !== undefined) env.TRIAD_RESULT = s.result;
  if (s.exitCode !== undefined) env.TRIAD_EXIT_CODE = String(s.exitCode);
  if (s.snapshot !== undefined) env.TRIAD_SNAPSHOT = s.snapshot;
  if (s.error !== undefined) env.TRIAD_ERROR = s.error.slice(0, 4096);
  return env;
}

/**
 * Runs the hooks of one kind in order. `before`: stops at the first failure and throws
 * E_HOOK_FAILED naming the command and its exit code (`details.hooks` holds the results so
 * far). `after` / `on_failure`: runs all of them and returns every result; the caller
 * decides what a failure means. A cancelled run (signal) kills the running hook and throws
 * E_INTERRUPTED.
 */
export async function runHooks(kind: HookKind, hooks: readonly HookSpec[], opts: RunHooksOptions): Promise<HookResult[]> {
  const results: HookResult[] = [];
  for (const hook of hooks) {
    if (opts.signal?.aborted) throw interrupted(kind, results);
    const r = await runHook(kind, hook, opts);
    if (!hookSucceeded(r) && hook.output?.length) r.removedOutput = await removeOutput(hook.output);
    results.push(r);
    opts.onResult?.(r);
    if (r.aborted) throw interrupted(kind, results);
    if (kind === 'before' && !hookSucceeded(r)) {
      throw new TriadError('E_HOOK_FAILED', `${describeHook(r, hook.timeout)}; the ${opts.summary?.job ?? 'job'} was not run`, {
        hint: r.timedOut
          ? 'make the command faster or raise its `timeout` in the policy'
          : `run the command by hand to see why it fails${r.stderr ? `; its last output: ${lastLine(r.stderr)}` : ''}`,
        details: { hooks: results.map(hookRecord) },
      });
    }
  }
  return results;
}

/** Removes what a failed hook declared as its output; returns the paths that were there. */
async function removeOutput(paths: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const p of paths) {
    try {
      await unlink(p);
      removed.push(p);
    } catch (e) {
      // Not written at all is fine; anything else is the hook's failure to report, not ours to mask.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') removed.push(`${p} (could not remove: ${(e as Error).message})`);
    }
  }
  return removed;
}

/**
 * The shell a hook runs under: bash with pipefail when it exists, so `pg_dump … | gzip > f`
 * fails when pg_dump fails (under dash the pipeline's status is gzip's); /bin/sh otherwise.
 */
export function hookShell(shell?: string): { file: string; args: string[] } {
  if (shell !== undefined) return { file: shell, args: ['-c'] };
  if (existsSync('/bin/bash')) return { file: '/bin/bash', args: ['-o', 'pipefail', '-c'] };
  return { file: '/bin/sh', args: ['-c'] };
}

function interrupted(kind: HookKind, results: HookResult[]): TriadError {
  return new TriadError('E_INTERRUPTED', `interrupted while running the ${kind} hooks`, { details: { hooks: results.map(hookRecord) } });
}

/** The form kept in the run record and in --json output: output tails bounded to 4 KiB each. */
export function hookRecord(r: HookResult): Record<string, unknown> {
  const cut = (s: string) => (s.length > 4096 ? '…' + s.slice(-4096) : s);
  return {
    kind: r.kind,
    run: r.run,
    exitCode: r.exitCode,
    signal: r.signal,
    timedOut: r.timedOut,
    durationMs: Math.round(r.durationMs),
    stdout: cut(r.stdout),
    stderr: cut(r.stderr),
    ...(r.spawnError !== undefined ? { spawnError: r.spawnError } : {}),
  };
}

function lastLine(text: string): string {
  const lines = text.trimEnd().split('\n');
  return (lines[lines.length - 1] ?? '').slice(0, 300);
}

/** Keeps the last `limit` bytes of a stream. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const excess = this.size - this.limit;
      this.truncated = true;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.size -= excess;
      }
    }
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

function runHook(kind: HookKind, hook: HookSpec, opts: RunHooksOptions): Promise<HookResult> {
  const started = opts.clock.monotonic();
  const limit = opts.tailBytes ?? HOOK_TAIL_BYTES;
  const out = new TailBuffer(limit);
  const err = new TailBuffer(limit);
  const grace = opts.killGraceMs ?? 5000;
  return new Promise((resolve) => {
    let timedOut = false;
    let aborted = false;
    let settled = false;
    const sh = hookShell(opts.shell);
    const child = spawn(sh.file, [...sh.args, hook.run], {
      cwd: opts.cwd,
      env: hookEnvironment(kind, opts),
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a timeout kills the pipeline the shell started too.
      detached: true,
    });
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (): void => {
      signalGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), grace);
      killTimer.unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, Math.max(1, hook.timeout));
    const onAbort = (): void => {
      aborted = true;
      killGroup();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (exitCode: number | null, signal: string | null, spawnError?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      // A background grandchild may still hold the pipes open: do not wait for it.
      child.stdout.destroy();
      child.stderr.destroy();
      // The group is ours: make sure nothing the hook started outlives it.
      if (timedOut || aborted) signalGroup(child.pid, 'SIGKILL');
      resolve({
        kind,
        run: hook.run,
        exitCode: timedOut || aborted ? null : exitCode,
        signal,
        timedOut,
        aborted: aborted && !timedOut,
        durationMs: opts.clock.monotonic() - started,
        stdout: out.text(),
        stderr: err.text(),
        truncated: out.truncated || err.truncated,
        ...(spawnError !== undefined ? { spawnError } : {}),
      });
    };
    child.on('error', (e) => finish(null, null, e.message));
    child.on('exit', (code, signal) => {
      // Give the pipes a moment to deliver the last output, then stop waiting.
      let closed = false;
      child.once('close', () => {
        closed = true;
        finish(code, signal);
      });
      setTimeout(() => {
        if (!closed) finish(code, signal);
      }, 500).unref();
    });
  });
}

function signalGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch (e) {
    // ESRCH: the group is already gone, which is what we wanted.
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}
