/**
 * Resolves the repository passphrase from the reference a policy gives (DESIGN.md §7:
 * environment variable, file or command). The value is returned to the caller only: no
 * error message, warning or log line here ever contains it.
 */
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { TriadError, errnoCode } from '../core/errors.js';
import type { AppEvent } from '../core/events.js';
import type { PassphraseSpec } from './types.js';
import { formatDurationShort } from './units.js';

export interface ResolvePassphraseOptions {
  env: Record<string, string | undefined>;
  /** Base for a relative passphrase_file, and working directory of passphrase_command. */
  cwd: string;
  /** passphrase_command time limit; default 30 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export type PassphraseWarning = Extract<AppEvent, { type: 'passphrase-file-exposed' }>;

export interface ResolvedPassphrase {
  passphrase: string;
  /** Things worth telling the user (a key file readable by others); never contain the secret. */
  warnings: PassphraseWarning[];
}

const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
/** Enough for any passphrase; stops a runaway command from filling memory. */
const MAX_COMMAND_OUTPUT = 64 * 1024;

/** The passphrase, or E_PASSPHRASE_UNAVAILABLE naming the variable / file / command (never the value). */
export async function resolvePassphrase(spec: PassphraseSpec, opts: ResolvePassphraseOptions): Promise<string> {
  return (await resolvePassphraseWithWarnings(spec, opts)).passphrase;
}

export async function resolvePassphraseWithWarnings(spec: PassphraseSpec, opts: ResolvePassphraseOptions): Promise<ResolvedPassphrase> {
  const given = [spec.env !== undefined, spec.file !== undefined, spec.command !== undefined].filter(Boolean).length;
  if (given !== 1) {
    throw new TriadError('E_PASSPHRASE_UNAVAILABLE', `the passphrase must come from exactly one source (got ${given})`, {
      hint: 'give one of passphrase_env, passphrase_file or passphrase_command under `encryption` in the policy',
    });
  }
  if (spec.env !== undefined) return { passphrase: fromEnv(spec.env, opts.env), warnings: [] };
  if (spec.file !== undefined) return fromFile(nodePath.resolve(opts.cwd, spec.file));
  return { passphrase: await fromCommand(spec.command!, { ...opts, timeoutMs: spec.commandTimeoutMs ?? opts.timeoutMs }), warnings: [] };
}

function fromEnv(name: string, env: Record<string, string | undefined>): string {
  const value = env[name];
  if (value === undefined) {
    throw new TriadError('E_PASSPHRASE_UNAVAILABLE', `environment variable ${name} (the repository passphrase) is not set`, {
      hint: `export ${name}=… in the environment that runs triad (for a service: an EnvironmentFile readable only by its user)`,
    });
  }
  if (value === '') {
    throw new TriadError('E_PASSPHRASE_UNAVAILABLE', `environment variable ${name} (the repository passphrase) is empty`, {
      hint: `set ${name} to the repository passphrase`,
    });
  }
  return value;
}

async function fromFile(file: string): Promise<ResolvedPassphrase> {
  let content: string;
  const warnings: PassphraseWarning[] = [];
  try {
    const st = await stat(file);
    if (!st.isFile()) {
      throw new TriadError('E_PASSPHRASE_UNAVAILABLE', `passphrase file ${file} is not a regular file`, { hint: 'point passphrase_file at the file that holds the passphrase' });
    }
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      warnings.push({ type: 'passphrase-file-exposed', file, readableBy: st.mode & 0o007 ? 'all-users' : 'group', mode: st.mode & 0o777 });
    }
    content = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof TriadError) throw err;
    const code = errnoCode(err);
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' || code === 'EPERM' ? 'is not readable by this user' : `cannot be read (${code ?? 'error'})`;
    throw new TriadError('E_PASSPHRASE_UNAVAILABLE', `passphrase file ${file} ${why}`, {
      hint: 'check passphrase_file in the policy, the file owner and its mode (600)',
      cause: err,
    });
  }
  // Editors add one trailing newline; anything else is part of the passphrase.
  const passphrase = content.replace(/\r?\n$/, '');
  if (passphrase === '') {
    throw new TriadError('E_PASSPHRASE_UNAVAILABLE', `passphrase file ${file} is empty`, { hint: 'write the repository passphrase into it' });
  }
  return { passphrase, warnings };
}

function fromCommand(command: string, opts: ResolvePassphraseOptions): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const fail = (why: string, hint: string): TriadError =>
    new TriadError('E_PASSPHRASE_UNAVAILABLE', `passphrase command \`${command}\` ${why}`, { hint });
  return new Promise((resolve, reject) => {
    const child = spawn(command, {
      shell: true,
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let settled = false;
    let timedOut = false;
    const killGroup = (): void => {
      // The shell's children (e.g. a prompt waiting for input) are killed with it.
      try {
        if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch (e) {
        if (errnoCode(e) !== 'ESRCH') throw e;
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    const onAbort = (): void => killGroup();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes <= MAX_COMMAND_OUTPUT) out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      if (err.length < 2000) err += b.toString('utf8');
    });
    const done = (e: TriadError | null, value?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (e) reject(e);
      else resolve(value!);
    };
    child.on('error', (e) => done(fail(`could not be started: ${e.message}`, 'check passphrase_command in the policy')));
    child.on('close', (code, signal) => {
      if (timedOut) {
        return done(fail(`did not finish within ${formatDurationShort(timeoutMs)} and was stopped`, 'the command must print the passphrase without waiting for input; a slow one may get more time with encryption.passphrase_command_timeout'));
      }
      if (opts.signal?.aborted) return done(fail('was interrupted', 'run the command again'));
      // stderr is shown to help diagnose (e.g. "gpg: decryption failed"); stdout, the secret channel, never is.
      const stderr = err.trim().split('\n').slice(-3).join(' / ').slice(0, 300);
      if (code !== 0) {
        return done(
          fail(
            `failed (${signal ? `killed by ${signal}` : `exit code ${code}`})${stderr ? `: ${stderr}` : ''}`,
            'run the command by hand as the same user to see why',
          ),
        );
      }
      if (outBytes > MAX_COMMAND_OUTPUT) return done(fail(`printed more than ${MAX_COMMAND_OUTPUT} bytes`, 'the command must print only the passphrase'));
      const passphrase = Buffer.concat(out).toString('utf8').trim();
      if (passphrase === '') return done(fail('printed nothing on standard output', 'the command must print the passphrase on stdout'));
      done(null, passphrase);
    });
  });
}
