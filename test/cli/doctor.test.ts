/**
 * `triad doctor`: one verdict per check, exit 1 when one FAILs. Real targets: a local directory
 * (on a tmpfs made read-only for the failing case), and s3rver for the clock against a cloud
 * endpoint; the probe object each target gets is gone afterwards.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startS3rver } from '../helpers/emulators.js';
import { PASS, tempDir, triad, triadAsync, writeLocalPolicy, writePolicy, type RunResult } from '../helpers/triad.js';

interface Line {
  check: string;
  subject?: string;
  verdict: string;
  message: string;
  hint?: string;
}

/** The human line of `check subject` (there must be exactly one). */
function line(r: RunResult, check: string, subject?: string): string {
  const what = subject ? `${check} ${subject}:` : `${check}:`;
  const lines = r.stdout.split('\n').filter((l) => l.slice(6).startsWith(what));
  expect(lines, `${what} in\n${r.stdout}`).toHaveLength(1);
  return lines[0]!;
}

/** Every file under `dir` whose name mentions the doctor's probe. */
function probesLeft(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((n) => n.includes('doctor-'));
}

function readOnlyTmpfs(dir: string): { ro(): void; rw(): void } {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', dir]);
  onTestFinished(() => execFileSync('umount', ['-l', dir]));
  return { ro: () => execFileSync('mount', ['-o', 'remount,ro', dir]), rw: () => execFileSync('mount', ['-o', 'remount,rw', dir]) };
}

describe('triad doctor', () => {
  it('local targets: ok when all is well, FAIL and exit 1 for a read-only target and a failed last backup', () => {
    expect(process.getuid?.(), 'mounts a tmpfs: the suite runs as root').toBe(0);
    const dir = tempDir('triad-doctor-');
    const src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.txt'), 'a'.repeat(1000));
    const mnt = readOnlyTmpfs(join(dir, 'mnt'));
    const policy = writeLocalPolicy(dir, {
      sources: [src],
      targets: { nas: { path: join(dir, 'mnt', 'repo'), media: 'nas' }, usb: { path: join(dir, 'usb'), media: 'removable', offsite: true } },
      rule: 'none',
      extra: 'timezone: Europe/Paris\nschedule:\n  backup: "0 * * * *"',
    });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);

    // Before any backup: the job has never run (WARN), nothing FAILs.
    const fresh = triad(['doctor', '-p', policy], { env: PASS });
    expect(fresh.code, fresh.stdout + fresh.stderr).toBe(0);
    expect(line(fresh, 'target', 'nas')).toMatch(/^ok {4}target nas: reachable and writable/);
    expect(line(fresh, 'clock', 'nas')).toMatch(/^n\/a /);
    expect(line(fresh, 'repository', 'usb')).toMatch(/^ok {4}repository usb: repository [0-9a-f]{8} opens$/);
    expect(line(fresh, 'last-run', 'backup')).toMatch(/^WARN  last-run backup: has never run$/);
    expect(line(fresh, 'units', 'backup')).toMatch(/^WARN  units backup: not installed/);
    expect(fresh.stdout).toContain(`hint: sudo triad schedule install -p ${policy} --systemd`);
    expect(probesLeft(join(dir, 'mnt', 'repo'))).toEqual([]);
    expect(probesLeft(join(dir, 'usb'))).toEqual([]);

    mnt.ro();
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(1);
    const broken = triad(['doctor', '-p', policy], { env: PASS });
    expect(broken.code, broken.stdout + broken.stderr).toBe(1);
    expect(line(broken, 'target', 'nas')).toMatch(/^FAIL  target nas: not writable: .*(read-only|EROFS)/i);
    expect(line(broken, 'target', 'usb')).toMatch(/^ok /);
    // The failed run, with its start in the policy's zone.
    expect(line(broken, 'last-run', 'backup')).toMatch(/^FAIL  last-run backup: failed \(exit 1\), .* ago.*\(started \d{4}-\d\d-\d\d \d\d:\d\d CES?T\)$/);
    expect(broken.stdout).toMatch(/: 2 failed, \d+ warning\(s\), \d+ ok\n$/);

    mnt.rw();
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    const healed = triad(['doctor', '-p', policy, '--json'], { env: PASS });
    expect(healed.code, healed.stdout + healed.stderr).toBe(0);
    const json = JSON.parse(healed.stdout) as { exitCode: number; checks: Line[] };
    expect(json.checks.filter((c) => c.verdict === 'fail')).toEqual([]);
    expect(json.checks.find((c) => c.check === 'last-run')).toMatchObject({ subject: 'backup', verdict: 'ok' });
    expect(json.checks.find((c) => c.check === 'catalogue')).toMatchObject({ verdict: 'ok', message: 'quick_check passes' });
    expect(probesLeft(join(dir, 'mnt', 'repo'))).toEqual([]);
  });

  it('names the holder of a job lock and a missing passphrase FAILs', () => {
    const dir = tempDir('triad-doctor-');
    const src = join(dir, 'src');
    mkdirSync(src);
    const policy = writeLocalPolicy(dir, { sources: [src], rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    mkdirSync(join(dir, 'locks'));
    // This test's own process: alive, so the lock is held, not stale.
    writeFileSync(join(dir, 'locks', 'test.backup.lock'), JSON.stringify({ pid: process.pid, host: 'doctor-host', time: '2026-12-06T09:00:00Z', command: 'backup', nonce: 'n1' }));
    const r = triad(['doctor', '-p', policy], { env: PASS });
    expect(line(r, 'job-lock', 'backup')).toMatch(new RegExp(`^WARN  job-lock backup: held by doctor-host/${process.pid} \\(job lock for backup\\) since 2026-12-06T09:00:00Z`));

    const noPass = triad(['doctor', '-p', policy]);
    expect(noPass.code).toBe(1);
    expect(line(noPass, 'passphrase')).toMatch(/^FAIL  passphrase: environment variable TEST_PASSPHRASE \(the repository passphrase\) is not set/);
    expect(line(noPass, 'repository', 'nas')).toMatch(/^n\/a /);
    expect(line(noPass, 'target', 'nas')).toMatch(/^ok /);

    // A target whose directory is gone (an unmounted disk) cannot be reached.
    rmSync(join(dir, 'usb'), { recursive: true });
    const gone = triad(['doctor', '-p', policy], { env: PASS });
    expect(gone.code).toBe(1);
    expect(line(gone, 'target', 'usb')).toMatch(new RegExp(`^FAIL  target usb: cannot be reached: .*${join(dir, 'usb')}`));
    expect(line(gone, 'target', 'nas')).toMatch(/^ok /);
  });

  it('s3rver: the probe is written and removed, and a clock hours off the endpoint FAILs', async () => {
    const dir = tempDir('triad-doctor-s3-');
    const src = join(dir, 'src');
    mkdirSync(src);
    const s3 = await startS3rver(join(dir, 's3rver'));
    onTestFinished(() => s3.stop());
    const policy = writePolicy(dir, { sources: [src], targets: { cloud: s3.policyFields({ prefix: 'r/' }) }, rule: 'none' });
    const env = { ...PASS, ...s3.env };
    expect((await triadAsync(['init', '-p', policy], { env })).code).toBe(0);

    const inStep = await triadAsync(['doctor', '-p', policy], { env });
    expect(line(inStep, 'target', 'cloud')).toMatch(/^ok {4}target cloud: reachable and writable \(s3:\/\/[^)]+\/r\/\)/);
    expect(line(inStep, 'clock', 'cloud')).toMatch(/^ok {4}clock cloud: in step with the endpoint/);
    expect(probesLeft(join(dir, 's3rver'))).toEqual([]);

    // The test entry pins this machine's clock three hours before the endpoint's.
    const skewed = await triadAsync(['doctor', '-p', policy], { env: { ...env, TRIAD_TEST_NOW: new Date(Date.now() - 3 * 3_600_000).toISOString() } });
    expect(skewed.code, skewed.stdout + skewed.stderr).toBe(1);
    expect(line(skewed, 'clock', 'cloud')).toMatch(/^FAIL  clock cloud: this machine's clock is (2h 59m|3h) behind the endpoint's$/);
    expect(skewed.stdout).toContain('hint: synchronise the clock');
  });
});
