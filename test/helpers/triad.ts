import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { onTestFinished } from 'vitest';

export const ROOT = resolve(import.meta.dirname, '..', '..');
/** The shipped launcher: production clock, KDF and pack sizes; it takes no injection. */
export const BIN = join(ROOT, 'bin', 'triad');
/** The test entry: the same main with a cheap KDF, and TRIAD_TEST_* variables it reads itself (see the file). */
export const ENTRY = join(ROOT, 'test', 'helpers', 'triad-test-entry.mjs');

const baseEnv = (): Record<string, string> => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' });

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as a subprocess, as cron or a sysadmin would, through the test entry. */
export function triad(args: string[], opts: { env?: Record<string, string>; cwd?: string; input?: Buffer } = {}): RunResult {
  return runEntry(ENTRY, args, opts);
}

/** Runs the shipped bin/triad itself (production KDF cost and floor: ~0.4 s per key derivation). */
export function triadShipped(args: string[], opts: { env?: Record<string, string>; cwd?: string; input?: Buffer } = {}): RunResult {
  return runEntry(BIN, args, opts);
}

/** The user the unprivileged tests run the CLI as, when the suite runs as root. */
export const UNPRIVILEGED = { user: 'nobody', group: 'nogroup' };

/**
 * Runs the CLI (test entry) as an unprivileged user: through `setpriv` when the suite runs as
 * root (as in CI), else as the current user, who is unprivileged already.
 */
export function triadUnprivileged(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): RunResult {
  if (process.getuid?.() !== 0) return triad(args, opts);
  return runEntry(ENTRY, args, { ...opts, cwd: opts.cwd ?? '/' }, ['setpriv', `--reuid=${UNPRIVILEGED.user}`, `--regid=${UNPRIVILEGED.group}`, '--clear-groups']);
}

/** A temporary directory the unprivileged user owns (tree, repositories and catalogue go in it). */
export function unprivilegedDir(): string {
  const dir = tempDir();
  if (process.getuid?.() === 0) spawnSync('chown', [`${UNPRIVILEGED.user}:${UNPRIVILEGED.group}`, dir], { stdio: 'inherit' });
  return dir;
}

/** Gives the unprivileged user everything under `path` (files a test made as root). */
export function giveToUnprivileged(path: string): void {
  if (process.getuid?.() === 0) spawnSync('chown', ['-R', `${UNPRIVILEGED.user}:${UNPRIVILEGED.group}`, path], { stdio: 'inherit' });
}

function runEntry(entry: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; input?: Buffer }, prefix: string[] = []): RunResult {
  const [command, ...before] = [...prefix, process.execPath];
  const r = spawnSync(command!, [...before, entry, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...baseEnv(), ...opts.env },
    input: opts.input,
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: r.status ?? (r.signal ? 128 : 1), stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

/** Like triad() but resolves with the raw stdout bytes (for `dump`). */
export function triadBytes(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [ENTRY, ...args], { cwd: ROOT, env: { ...baseEnv(), ...env } });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', rej);
    p.on('close', (code) => res({ code: code ?? 1, stdout: Buffer.concat(out), stderr: err }));
  });
}

export function tempDir(prefix = 'triad-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Scratch dir that lives for a whole describe block (clean it in afterAll). */
export function scratchDir(prefix = 'triad-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface LocalPolicyOptions {
  name?: string;
  /** A source's other fields (exclude_caches, files_from, …) are written as given. */
  sources: (string | ({ path: string; exclude?: string[] } & Record<string, unknown>))[];
  targets?: Record<string, { path: string; media?: string; offsite?: boolean }>;
  extra?: string;
  rule?: string;
}

/** Writes a policy with local targets; returns its path. */
export function writeLocalPolicy(dir: string, opts: LocalPolicyOptions): string {
  const targets = opts.targets ?? {
    nas: { path: join(dir, 'nas'), media: 'nas', offsite: false },
    usb: { path: join(dir, 'usb'), media: 'removable', offsite: true },
  };
  const lines = [
    'version: 1',
    `policy: ${opts.name ?? 'test'}`,
    `catalog: ${join(dir, 'catalog.db')}`,
    'sources:',
    ...opts.sources.map((s) => (typeof s === 'string' ? `  - path: ${JSON.stringify(s)}` : sourceYaml(s))),
    'encryption:',
    '  passphrase_env: TEST_PASSPHRASE',
    'targets:',
    ...Object.entries(targets).flatMap(([name, t]) => [
      `  ${name}:`,
      '    type: local',
      `    path: ${JSON.stringify(t.path)}`,
      `    media: ${t.media ?? 'nas'}`,
      `    offsite: ${t.offsite ?? false}`,
    ]),
    `rule: ${opts.rule ?? '3-2-1'}`,
    opts.extra ?? '',
  ];
  const file = join(dir, `${opts.name ?? 'test'}.yaml`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function sourceYaml({ path, exclude, ...rest }: { path: string; exclude?: string[] } & Record<string, unknown>): string {
  return [`  - path: ${JSON.stringify(path)}`, `    exclude: ${JSON.stringify(exclude ?? [])}`, ...Object.entries(rest).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)].join('\n');
}

export const PASS = { TEST_PASSPHRASE: 'correct horse battery staple' };

/** Writes a policy with arbitrary targets (e.g. emulator `policyFields()`); returns its path. */
export function writePolicy(dir: string, opts: { name?: string; sources: string[]; targets: Record<string, Record<string, unknown>>; rule?: string; extra?: Record<string, unknown> }): string {
  const doc = {
    version: 1,
    policy: opts.name ?? 'test',
    catalog: join(dir, 'catalog.db'),
    sources: opts.sources.map((path) => ({ path })),
    encryption: { passphrase_env: 'TEST_PASSPHRASE' },
    targets: opts.targets,
    rule: opts.rule ?? '3-2-1',
    ...opts.extra,
  };
  const file = join(dir, `${opts.name ?? 'test'}.yaml`);
  // JSON is valid YAML 1.2, and keeps this helper free of quoting rules.
  writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  return file;
}

/** Runs the CLI without blocking this process's event loop (needed when an emulator runs in-process); `shipped` runs bin/triad. */
export function triadAsync(args: string[], opts: { env?: Record<string, string>; shipped?: boolean } = {}): Promise<RunResult> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [opts.shipped ? BIN : ENTRY, ...args], { cwd: ROOT, env: { ...baseEnv(), ...opts.env } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', rej);
    p.on('close', (code) => res({ code: code ?? 1, stdout: out, stderr: err }));
  });
}
