import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hookEnvironment, runHooks, type RunHooksOptions } from '../../src/app/hooks.js';
import { systemClock } from '../../src/core/clock.js';
import { TriadError, isTriadError } from '../../src/core/errors.js';
import type { Policy } from '../../src/policy/types.js';
import { tempDir } from '../helpers/triad.js';

const SECRET = 'correct horse battery staple';
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

const policy = {
  name: 'finance',
  file: '/etc/triad/finance.yaml',
  encryption: { passphrase: { env: 'FIN_PASSPHRASE' } },
  targets: [
    { name: 'cloud', type: 's3', bucket: 'b', prefix: '', media: 'object-storage', offsite: true, immutable: false, upload_limit: 0, checksums: 'when_supported', force_path_style: false, credentials_env: { access_key_id: 'FIN_AWS_ID', secret_access_key: 'FIN_AWS_SECRET' } },
  ],
} as unknown as Pick<Policy, 'name' | 'file' | 'encryption' | 'targets'>;

function opts(dir: string, more: Partial<RunHooksOptions> = {}): RunHooksOptions {
  return {
    env: { PATH: process.env.PATH, HOME: dir, KEEP_ME: 'yes', FIN_PASSPHRASE: SECRET, FIN_AWS_ID: 'AKIAEXAMPLE', FIN_AWS_SECRET: AWS_SECRET, TRIAD_RESULT: 'forged' },
    cwd: dir,
    clock: systemClock,
    policy,
    killGraceMs: 1000,
    ...more,
  };
}

/** A process is gone when kill(0) fails with ESRCH or it is a zombie waiting to be reaped. */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

describe('runHooks', () => {
  it('gives hooks TRIAD_* variables and never the secrets the policy names', async () => {
    const dir = tempDir();
    const [r] = await runHooks('after', [{ run: 'env', timeout: 10_000 }], opts(dir, { summary: { job: 'backup', result: 'ok', exitCode: 0, snapshot: 'ab'.repeat(32) } }));
    expect(r!.exitCode).toBe(0);
    const env = Object.fromEntries(r!.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(env).toMatchObject({ TRIAD_HOOK: 'after', TRIAD_POLICY: 'finance', TRIAD_JOB: 'backup', TRIAD_RESULT: 'ok', TRIAD_EXIT_CODE: '0', TRIAD_SNAPSHOT: 'ab'.repeat(32), KEEP_ME: 'yes' });
    expect(env.FIN_PASSPHRASE).toBeUndefined();
    expect(env.FIN_AWS_SECRET).toBeUndefined();
    expect(env.FIN_AWS_ID).toBeUndefined();
    expect(r!.stdout).not.toContain(SECRET);
    expect(r!.stdout).not.toContain(AWS_SECRET);
    // The caller's TRIAD_RESULT cannot masquerade as the run's.
    expect(hookEnvironment('before', { env: { TRIAD_RESULT: 'forged' }, policy }).TRIAD_RESULT).toBeUndefined();
  });

  it('a failing before hook throws E_HOOK_FAILED naming the command and its exit code, and stops there', async () => {
    const dir = tempDir();
    const marker = join(dir, 'second-ran');
    let caught: unknown;
    try {
      await runHooks('before', [{ run: 'echo dumping; echo "pg_dump: connection refused" >&2; exit 3', timeout: 10_000 }, { run: `touch ${marker}`, timeout: 10_000 }], opts(dir, { summary: { job: 'backup' } }));
    } catch (err) {
      caught = err;
    }
    expect(isTriadError(caught, 'E_HOOK_FAILED')).toBe(true);
    const e = caught as TriadError;
    expect(e.exitCode).toBe(1);
    expect(e.message).toBe('before hook "echo dumping; echo "pg_dump: connection refused" >&2; exit 3" exited with code 3; the backup was not run');
    expect(e.hint).toContain('pg_dump: connection refused');
    const hooks = e.details?.hooks as { exitCode: number; stdout: string }[];
    expect(hooks).toHaveLength(1);
    expect(hooks[0]).toMatchObject({ exitCode: 3, stdout: 'dumping\n' });
    expect(existsSync(marker)).toBe(false);
  });

  it('kills a hook that outlives its timeout, with everything it started (process group)', async () => {
    const dir = tempDir();
    const pidFile = join(dir, 'grandchild.pid');
    const started = performance.now();
    let caught: unknown;
    try {
      await runHooks('before', [{ run: `sleep 60 & echo $! > ${pidFile}; wait`, timeout: 400 }], opts(dir, { summary: { job: 'backup' } }));
    } catch (err) {
      caught = err;
    }
    const took = performance.now() - started;
    expect(isTriadError(caught, 'E_HOOK_FAILED')).toBe(true);
    expect((caught as Error).message).toMatch(/^before hook "sleep 60 .*" timed out after 400ms and was killed; the backup was not run$/);
    expect(took).toBeLessThan(5000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(pid).toBeGreaterThan(0);
    expect(await waitFor(() => isGone(pid), 3000)).toBe(true);
  });

  it('escalates to SIGKILL when a hook ignores SIGTERM', async () => {
    const dir = tempDir();
    const [r] = await runHooks('after', [{ run: "trap '' TERM; sleep 30", timeout: 300 }], opts(dir, { killGraceMs: 300 }));
    expect(r!.timedOut).toBe(true);
    expect(r!.exitCode).toBeNull();
    expect(r!.durationMs).toBeLessThan(5000);
  });

  it('aborts a running hook when the run is cancelled (SIGINT/SIGTERM)', async () => {
    const dir = tempDir();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const started = performance.now();
    await expect(runHooks('before', [{ run: 'sleep 30', timeout: 60_000 }], opts(dir, { signal: ac.signal }))).rejects.toMatchObject({ code: 'E_INTERRUPTED' });
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('after and on_failure hooks all run even when one fails; results report each', async () => {
    const dir = tempDir();
    const rs = await runHooks('on_failure', [{ run: 'exit 7', timeout: 5000 }, { run: 'echo "$TRIAD_RESULT $TRIAD_ERROR"', timeout: 5000 }], opts(dir, { summary: { job: 'backup', result: 'failed', error: 'target nas failed' } }));
    expect(rs.map((r) => r.exitCode)).toEqual([7, 0]);
    expect(rs[1]!.stdout).toBe('failed target nas failed\n');
  });

  it('keeps only a bounded tail of the output', async () => {
    const dir = tempDir();
    const [r] = await runHooks('after', [{ run: 'head -c 300000 /dev/zero | tr "\\0" x; echo; echo THE-END', timeout: 10_000 }], opts(dir, { tailBytes: 64 * 1024 }));
    expect(r!.exitCode).toBe(0);
    expect(r!.truncated).toBe(true);
    expect(Buffer.byteLength(r!.stdout)).toBeLessThanOrEqual(64 * 1024);
    expect(r!.stdout.endsWith('THE-END\n')).toBe(true);
  });
});
