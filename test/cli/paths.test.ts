/**
 * Paths as the user knows them: absolute source paths in ls / restore --include / dump,
 * sources whose last components clash, patterns that match nothing; and what `policy check`
 * says about the passphrase source and the schedule's margin inside the RPO.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PASS, tempDir, triad, triadBytes, writeLocalPolicy } from '../helpers/triad.js';

/** What a clashing source is called in snapshots: its whole path, `/` turned into `_`. */
const nameOf = (path: string): string => path.slice(1).split('/').join('_');

function twoEtcs(): { dir: string; etc: string; appEtc: string; policy: string } {
  const dir = tempDir('triad-paths-');
  const etc = join(dir, 'etc');
  const appEtc = join(dir, 'opt', 'app', 'etc');
  mkdirSync(join(etc, 'ssh'), { recursive: true });
  mkdirSync(appEtc, { recursive: true });
  writeFileSync(join(etc, 'ssh', 'sshd_config'), 'PermitRootLogin no\n');
  writeFileSync(join(etc, 'hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(appEtc, 'app.conf'), 'port = 8080\n');
  const policy = writeLocalPolicy(dir, { sources: [etc, appEtc] });
  expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
  return { dir, etc, appEtc, policy };
}

describe('paths as the user knows them', () => {
  it('two sources named etc are both backed up under distinct names, which policy check shows', () => {
    const s = twoEtcs();
    const b = triad(['backup', '-p', s.policy], { env: PASS });
    expect(b.code, b.stderr).toBe(0);
    const ls = JSON.parse(triad(['ls', '-p', s.policy, 'latest', '--json'], { env: PASS }).stdout) as { entries: { path: string }[] };
    const top = [...new Set(ls.entries.map((e) => e.path.split('/')[0]))].sort();
    expect(top).toEqual([nameOf(s.appEtc), nameOf(s.etc)].sort());
    const check = triad(['policy', 'check', s.policy], { env: PASS });
    expect(check.stderr).toContain(`snapshots name them by their whole path: ${s.etc} -> ${nameOf(s.etc)}, ${s.appEtc} -> ${nameOf(s.appEtc)}`);
    // A restore test compares restored files with the live sources through the same names.
    const rt = triad(['restore-test', '-p', s.policy, '--json'], { env: PASS });
    expect(rt.code, rt.stderr).toBe(0);
  });

  it('ls, restore --include and dump take the absolute paths of the sources', async () => {
    const s = twoEtcs();
    expect(triad(['backup', '-p', s.policy], { env: PASS }).code).toBe(0);
    const ls = triad(['ls', '-p', s.policy, 'latest', join(s.etc, 'ssh'), '--json'], { env: PASS });
    expect(ls.code, ls.stderr).toBe(0);
    expect((JSON.parse(ls.stdout) as { entries: { path: string }[] }).entries.map((e) => e.path)).toContain(`${nameOf(s.etc)}/ssh/sshd_config`);

    const to = join(s.dir, 'restored');
    const r = triad(['restore', '-p', s.policy, 'latest', '--to', to, '--include', `${s.appEtc}/*.conf`], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(to, nameOf(s.appEtc), 'app.conf'), 'utf8')).toBe('port = 8080\n');
    expect(readdirSync(to)).toEqual([nameOf(s.appEtc)]);

    const tar = await triadBytes(['dump', '-p', s.policy, 'latest', join(s.etc, 'ssh', 'sshd_config')], PASS);
    expect(tar.code).toBe(0);
    const listed = execFileSync('tar', ['-t'], { input: tar.stdout, encoding: 'utf8' });
    expect(listed.trim()).toBe(`${nameOf(s.etc)}/ssh/sshd_config`);

    const outside = triad(['ls', '-p', s.policy, 'latest', '/usr/share'], { env: PASS });
    expect(outside.code).toBe(2);
    expect(outside.stderr).toContain(`/usr/share is not inside any source of snapshot`);
  });

  it('an --include that matches nothing is a warning and restore exits 1; an --exclude that matches nothing is a warning', () => {
    const s = twoEtcs();
    expect(triad(['backup', '-p', s.policy], { env: PASS }).code).toBe(0);
    const none = triad(['restore', '-p', s.policy, 'latest', '--to', join(s.dir, 'r1'), '--include', `${s.etc}/nosuch/**`], { env: PASS });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/warning: --include '[^']*\/etc\/nosuch\/\*\*' matched nothing in snapshot [0-9a-f]{8}: nothing was restored/);
    const ex = triad(['restore', '-p', s.policy, 'latest', '--to', join(s.dir, 'r2'), '--exclude', '*.nosuch'], { env: PASS });
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.stderr).toContain("warning: --exclude '*.nosuch' matched nothing");
    expect(readFileSync(join(s.dir, 'r2', nameOf(s.etc), 'hosts'), 'utf8')).toBe('127.0.0.1 localhost\n');
  });
});

describe('policy check: the passphrase source and the RPO margin', () => {
  it('names a world-readable or missing passphrase file, and a schedule that leaves no margin inside the RPO', () => {
    const dir = tempDir('triad-pc-');
    mkdirSync(join(dir, 'data'));
    const key = join(dir, 'pass.key');
    writeFileSync(key, 'a passphrase\n');
    chmodSync(key, 0o644);
    const file = writeLocalPolicy(dir, { sources: [join(dir, 'data')], extra: 'objectives:\n  rpo: 1h\nschedule:\n  backup: "0 * * * *"' });
    writeFileSync(file, readFileSync(file, 'utf8').replace('passphrase_env: TEST_PASSPHRASE', `passphrase_file: ${key}`));
    const r = triad(['policy', 'check', file]);
    expect(r.stderr).toContain(`passphrase file ${key} is readable by every user (mode 644): chmod 600 it`);
    expect(r.stderr).toContain('schedule.backup leaves backups up to 1h apart and the systemd timer may start each up to 5m late, so the newest backup can be older than the RPO (1h)');
    chmodSync(key, 0o600);
    writeFileSync(file, readFileSync(file, 'utf8').replace('backup: "0 * * * *"', 'backup: "*/30 * * * *"'));
    const ok = triad(['policy', 'check', file]);
    expect(ok.stderr).not.toContain('passphrase');
    expect(ok.stderr).not.toContain('RPO');
    writeFileSync(file, readFileSync(file, 'utf8').replace(key, join(dir, 'missing.key')));
    expect(triad(['policy', 'check', file]).stderr).toContain(`passphrase source on this machine: passphrase file ${join(dir, 'missing.key')} does not exist`);
  });
});

describe('local targets', () => {
  it('repository files are the owner’s only (0600 files, 0700 directories)', () => {
    const dir = tempDir('triad-modes-');
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'f'), 'x');
    const policy = writeLocalPolicy(dir, { sources: [join(dir, 'data')] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    const modes = new Map<string, number>();
    const walk = (p: string): void => {
      for (const e of readdirSync(p, { withFileTypes: true })) {
        const full = join(p, e.name);
        modes.set(full, statSync(full).mode & 0o777);
        if (e.isDirectory()) walk(full);
      }
    };
    walk(join(dir, 'nas'));
    expect(modes.size).toBeGreaterThan(5);
    const open = [...modes].filter(([, m]) => (m & 0o077) !== 0);
    expect(open).toEqual([]);
    expect([...modes].some(([p]) => p.includes('/keys/'))).toBe(true);
  });
});
