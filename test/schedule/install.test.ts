import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nextRuns } from '../../src/scheduler/cron.js';
import { cronToOnCalendar } from '../../src/scheduler/systemd.js';
import { BIN, PASS, scratchDir, tempDir, triad, triadShipped, writeLocalPolicy } from '../helpers/triad.js';

const SECRET_ENV = { ...PASS, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEYID', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };

/** Two policies, eight cron expressions (steps, ranges, names, the day-of-month OR day-of-week case, a macro). */
const POLICIES: { name: string; schedule: Record<string, string> }[] = [
  { name: 'alpha', schedule: { backup: '0 */4 * * *', restore_test: '0 3 1 * *', prune: '30 4 * * 0', check: '*/15 9-17 * * mon-fri' } },
  { name: 'beta', schedule: { backup: '5-50/10 * * * *', restore_test: '0 0 1,15 * 1', prune: '5 0 * jan,jul 6,0', check: '@daily' } },
];
const JOB_OF: Record<string, string> = { backup: 'backup', restore_test: 'restore-test', prune: 'prune', check: 'check' };

function writePolicies(dir: string): string[] {
  return POLICIES.map((p) => {
    const sub = join(dir, p.name);
    mkdirSync(join(sub, 'data'), { recursive: true });
    return writeLocalPolicy(sub, {
      name: p.name,
      sources: [join(sub, 'data')],
      extra: ['schedule:', ...Object.entries(p.schedule).map(([k, v]) => `  ${k}: "${v}"`)].join('\n'),
    });
  });
}

const analyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'pipe' }).status === 0;

describe('triad schedule install --systemd', () => {
  const dir = scratchDir('triad-install-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const files = writePolicies(dir);
  const unitDir = join(dir, 'units');
  const r = triadShipped(['schedule', 'install', ...files.flatMap((f) => ['-p', f]), '--systemd', '--dir', unitDir, '--environment-file', '/etc/triad/triad.env'], { env: SECRET_ENV });

  it('writes one service and one timer per scheduled job', () => {
    expect(r.code).toBe(0);
    const names = readdirSync(unitDir).sort();
    const expected = POLICIES.flatMap((p) => Object.keys(p.schedule).flatMap((k) => [`triad-${p.name}-${JOB_OF[k]}.service`, `triad-${p.name}-${JOB_OF[k]}.timer`])).sort();
    expect(names).toEqual(expected);
    expect(r.stdout).toContain(`wrote ${join(unitDir, 'triad-alpha-backup.service')} and ${join(unitDir, 'triad-alpha-backup.timer')}`);
    expect(r.stderr).toContain('policy alpha: put TEST_PASSPHRASE in /etc/triad/triad.env');
  });

  it.each(POLICIES.flatMap((p) => Object.entries(p.schedule).map(([k, cron]) => [p.name, JOB_OF[k]!, cron] as const)))('%s %s: OnCalendar equals the cron expression %s', (policy, job, cron) => {
    const timer = readFileSync(join(unitDir, `triad-${policy}-${job}.timer`), 'utf8').split('\n');
    const specs = timer.filter((l) => l.startsWith('OnCalendar=')).map((l) => l.slice('OnCalendar='.length));
    expect(specs).toEqual(cronToOnCalendar(cron, 'UTC'));
    expect(timer).toContain('Persistent=true');
    expect(timer).toContain(`Unit=triad-${policy}-${job}.service`);
    if (!analyze) {
      console.log('systemd-analyze not installed: OnCalendar compared with the translation, not with systemd\'s evaluation');
      return;
    }
    // systemd's own calendar evaluation must give the times cron would.
    const from = new Date('2024-02-27T22:00:00Z');
    const times = new Set<string>();
    for (const spec of specs) {
      const out = execFileSync('systemd-analyze', ['calendar', '--iterations=10', `--base-time=@${from.getTime() / 1000}`, spec], { env: { ...process.env, TZ: 'UTC', SYSTEMD_COLORS: '0' }, encoding: 'utf8' });
      for (const m of out.matchAll(/(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/g)) times.add(new Date(`${m[1]!.replace(' ', 'T')}Z`).toISOString());
    }
    expect([...times].sort().slice(0, 10)).toEqual(nextRuns(cron, from, 10, 'UTC').map((d) => d.toISOString()));
  });

  it('hardened, names the passphrase source, never the passphrase or a key', () => {
    const service = readFileSync(join(unitDir, 'triad-alpha-backup.service'), 'utf8').split('\n');
    expect(service).toContain(`ExecStart=${BIN} backup -p ${files[0]}`);
    expect(service).toContain('EnvironmentFile=/etc/triad/triad.env');
    for (const l of ['ProtectSystem=strict', 'PrivateTmp=yes', 'NoNewPrivileges=yes', 'Type=oneshot']) expect(service).toContain(l);
    const alpha = join(dir, 'alpha');
    expect(service).toContain(`ReadWritePaths=${alpha} -${join(alpha, 'nas')} -${join(alpha, 'usb')}`);
    for (const f of readdirSync(unitDir)) {
      const text = readFileSync(join(unitDir, f), 'utf8');
      for (const secret of Object.values(SECRET_ENV)) expect(text).not.toContain(secret);
    }
  });

  it('the units pass systemd-analyze verify', () => {
    if (!analyze) {
      console.log('SKIPPED assertion: systemd-analyze is not installed (apt-get install systemd), the units were not verified');
      return;
    }
    const all = readdirSync(unitDir).map((f) => join(unitDir, f));
    const v = spawnSync('systemd-analyze', ['verify', '--man=no', ...all], { encoding: 'utf8', env: { ...process.env, SYSTEMD_COLORS: '0' } });
    expect(v.stderr).toBe('');
    expect(v.status).toBe(0);
  });

  it('a broken unit does fail the same verification (the check can fail)', () => {
    if (!analyze) return void console.log('SKIPPED assertion: systemd-analyze is not installed');
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'x.service'), readFileSync(join(unitDir, 'triad-alpha-backup.service'), 'utf8').replace(`ExecStart=${BIN}`, 'ExecStart=/nonexistent/triad'));
    const v = spawnSync('systemd-analyze', ['verify', '--man=no', join(bad, 'x.service')], { encoding: 'utf8' });
    expect(v.status).not.toBe(0);
  });
});

describe('triad schedule install --cron / list', () => {
  it('prints flock-guarded crontab lines that source the environment file', () => {
    const dir = tempDir();
    const files = writePolicies(dir);
    const r = triadShipped(['schedule', 'install', '-p', files[0]!, '--cron', '--environment-file', '/etc/triad/alpha.env'], { env: SECRET_ENV });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`# triad: policy alpha (${files[0]})`);
    expect(lines.filter((l) => /^[^#]/.test(l) && !l.startsWith('CRON_TZ')).map((l) => l.split(' flock ')[0])).toEqual(['0 */4 * * *', '0 3 1 * *', '30 4 * * 0', '*/15 9-17 * * mon-fri']);
    expect(r.stdout).toContain(`. /etc/triad/alpha.env && set +a && exec ${BIN} backup -p ${files[0]}`);
    for (const secret of Object.values(SECRET_ENV)) expect(r.stdout + r.stderr).not.toContain(secret);
  });

  it('refuses --systemd with --cron, and a policy without a schedule', () => {
    const dir = tempDir();
    const files = writePolicies(dir);
    expect(triad(['schedule', 'install', '-p', files[0]!, '--cron', '--systemd']).code).toBe(2);
    const plain = writeLocalPolicy(dir, { name: 'nosched', sources: [dir] });
    const r = triad(['schedule', 'install', '-p', plain, '--cron']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('has no schedule');
  });

  it('list: the next run of every job and the last result from the catalogue', () => {
    const dir = tempDir();
    const [alpha] = writePolicies(dir);
    writeFileSync(join(dir, 'alpha', 'data', 'f'), 'x');
    expect(triad(['init', '-p', alpha!], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', alpha!], { env: PASS }).code).toBe(0);
    const r = triad(['schedule', 'list', '-p', alpha!, '--json'], { env: PASS });
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { now: string; jobs: { job: string; next: string; last?: { status: string } }[] };
    expect(j.jobs.map((x) => x.job).sort()).toEqual(['backup', 'check', 'prune', 'restore-test']);
    const backup = j.jobs.find((x) => x.job === 'backup')!;
    expect(backup.last?.status).toBe('ok');
    expect(backup.next).toBe(nextRuns('0 */4 * * *', new Date(j.now), 1, 'UTC')[0]!.toISOString());
    expect(j.jobs.find((x) => x.job === 'prune')!.last).toBeUndefined();
    const text = triad(['schedule', 'list', '-p', alpha!], { env: PASS });
    expect(text.stdout).toMatch(/alpha\s+backup\s+0 \*\/4 \* \* \*\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+ok/);
    expect(text.stdout).toMatch(/alpha\s+prune\s+30 4 \* \* 0\s+\d{4}-\d\d-\d\d 04:30 UTC\s+never run/);
  });
});

