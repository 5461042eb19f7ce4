import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isTriadError } from '../../src/core/errors.js';
import { nextRuns, parseCron } from '../../src/scheduler/cron.js';
import { renderCrontab } from '../../src/scheduler/crontab.js';
import { cronToOnCalendar, renderSystemdUnits } from '../../src/scheduler/systemd.js';

const CASES: [string, string[]][] = [
  ['0 */4 * * *', ['*-*-* 00/4:00:00']],
  ['0 3 1 * *', ['*-*-01 03:00:00']],
  ['30 4 * * 0', ['Sun *-*-* 04:30:00']],
  ['0 12 * * 7', ['Sun *-*-* 12:00:00']],
  ['*/15 9-17 * * mon-fri', ['Mon..Fri *-*-* 09..17:00/15:00']],
  ['5-50/10 * * * *', ['*-*-* *:05,15,25,35,45:00']],
  ['0 0 1/5 * *', ['*-*-01/5 00:00:00']],
  ['5 0 * jan,jul 6,0', ['Sat,Sun *-01,07-* 00:05:00']],
  ['0 0 1,15 * 1', ['*-*-01,15 00:00:00', 'Mon *-*-* 00:00:00']],
  ['@daily', ['*-*-* 00:00:00']],
];

describe('cron → OnCalendar', () => {
  it.each(CASES)('%s', (cron, expected) => {
    expect(cronToOnCalendar(cron)).toEqual(expected);
  });

  it('appends the policy time zone', () => {
    expect(cronToOnCalendar('0 3 * * *', 'Europe/Paris')).toEqual(['*-*-* 03:00:00 Europe/Paris']);
    expect(cronToOnCalendar('0 3 * * *', 'local')).toEqual(['*-*-* 03:00:00']);
  });

  it.each([
    ['0 0 L * *', /non-standard/],
    ['0 0 * * 1#2', /cannot read|non-standard/],
    ['@reboot', /@reboot/],
    ['0 0 * *', /expected 5 fields, found 4/],
    ['60 * * * *', /minute field: 60 is outside 0-59/],
    ['0 0 */2 * 1', /AND or OR/],
    ['0 0 5-1 * *', /backwards/],
  ])('rejects %s clearly', (cron, message) => {
    let caught: unknown;
    try {
      cronToOnCalendar(cron);
    } catch (err) {
      caught = err;
    }
    expect(isTriadError(caught, 'E_POLICY_INVALID')).toBe(true);
    expect((caught as Error).message).toMatch(message);
    expect(() => nextRuns(cron, new Date('2024-01-01T00:00:00Z'), 1)).toThrow(message);
  });

  // The translation must fire at exactly the times cron would: systemd's own calendar
  // evaluator is the judge when it is installed.
  const analyze = (() => {
    try {
      execFileSync('systemd-analyze', ['--version'], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  })();
  it.each(CASES)('systemd fires %s at the same times as cron', (cron) => {
    const from = new Date('2024-01-30T22:00:00Z');
    const expected = nextRuns(cron, from, 12, 'UTC').map((d) => d.toISOString());
    if (!analyze) {
      console.log('systemd-analyze not installed: checked the rendering only, not its firing times');
      expect(cronToOnCalendar(cron, 'UTC').length).toBeGreaterThan(0);
      return;
    }
    const times = new Set<string>();
    for (const spec of cronToOnCalendar(cron, 'UTC')) {
      const out = execFileSync('systemd-analyze', ['calendar', '--iterations=12', `--base-time=@${from.getTime() / 1000}`, spec], {
        env: { ...process.env, TZ: 'UTC', SYSTEMD_COLORS: '0' },
        encoding: 'utf8',
      });
      for (const m of out.matchAll(/(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/g)) {
        times.add(new Date(`${m[1]!.replace(' ', 'T')}Z`).toISOString());
      }
    }
    expect([...times].sort().slice(0, 12)).toEqual(expected);
  });
});

describe('nextRuns', () => {
  it.each([
    ['0 */4 * * *', '2024-03-01T01:00:00Z', 'UTC', ['2024-03-01T04:00:00.000Z', '2024-03-01T08:00:00.000Z', '2024-03-01T12:00:00.000Z']],
    ['0 3 * * *', '2024-01-10T00:00:00Z', 'Europe/Paris', ['2024-01-10T02:00:00.000Z', '2024-01-11T02:00:00.000Z', '2024-01-12T02:00:00.000Z']],
    ['0 3 * * *', '2024-07-10T00:00:00Z', 'Europe/Paris', ['2024-07-10T01:00:00.000Z', '2024-07-11T01:00:00.000Z', '2024-07-12T01:00:00.000Z']],
    ['0 3 1 * *', '2024-01-01T03:00:00Z', 'UTC', ['2024-02-01T03:00:00.000Z', '2024-03-01T03:00:00.000Z', '2024-04-01T03:00:00.000Z']],
    ['0 0 1,15 * 1', '2024-01-01T00:00:00Z', 'UTC', ['2024-01-08T00:00:00.000Z', '2024-01-15T00:00:00.000Z', '2024-01-22T00:00:00.000Z']],
  ])('%s from %s in %s', (cron, from, tz, expected) => {
    expect(nextRuns(cron, new Date(from), 3, tz).map((d) => d.toISOString())).toEqual(expected);
  });

  it('parseCron expands names, 7 = Sunday and steps', () => {
    const s = parseCron('*/20 1-3 * jan-mar sun,7');
    expect(s.minutes).toEqual([0, 20, 40]);
    expect(s.hours).toEqual([1, 2, 3]);
    expect(s.months).toEqual([1, 2, 3]);
    expect(s.daysOfWeek).toEqual([0]);
  });
});

describe('renderSystemdUnits', () => {
  const units = renderSystemdUnits({
    policyFile: '/etc/triad/fin ance%.yaml',
    policyName: 'finance',
    triadBin: '/usr/local/bin/triad',
    job: 'backup',
    cron: '0 0 1,15 * 1',
    user: 'triad',
    envFile: '/etc/triad/finance.env',
    readWritePaths: ['/var/lib/triad', '/mnt/nas/triad'],
  });

  it('names the units after policy and job', () => {
    expect([units.serviceName, units.timerName]).toEqual(['triad-finance-backup.service', 'triad-finance-backup.timer']);
  });

  it('renders a hardened oneshot service with a quoted, specifier-safe command line', () => {
    const lines = units.service.split('\n');
    expect(lines).toContain('ExecStart=/usr/local/bin/triad backup -p "/etc/triad/fin ance%%.yaml"');
    expect(lines).toContain('Type=oneshot');
    expect(lines).toContain('User=triad');
    expect(lines).toContain('EnvironmentFile=/etc/triad/finance.env');
    expect(lines).toContain('ProtectSystem=strict');
    expect(lines).toContain('PrivateTmp=yes');
    expect(lines).toContain('NoNewPrivileges=yes');
    expect(lines).toContain('ReadWritePaths=/var/lib/triad /mnt/nas/triad');
  });

  it('renders one OnCalendar line per spec, persistent and randomised', () => {
    const lines = units.timer.split('\n');
    expect(lines.filter((l) => l.startsWith('OnCalendar='))).toEqual(['OnCalendar=*-*-01,15 00:00:00', 'OnCalendar=Mon *-*-* 00:00:00']);
    expect(lines).toContain('Persistent=true');
    expect(lines).toContain('RandomizedDelaySec=300');
    expect(lines).toContain('Unit=triad-finance-backup.service');
    expect(lines).toContain('WantedBy=timers.target');
  });

  it.each([
    [{ policyFile: 'finance.yaml' }, /absolute path/],
    [{ policyName: 'Fin Ance' }, /unit name/],
    [{ mode: 'user' as const, user: 'root' }, /--user units/],
    [{ cron: undefined }, /no schedule/],
    [{ cron: '0 0 L * *' }, /non-standard/],
  ])('refuses %o', (patch, message) => {
    expect(() => renderSystemdUnits({ policyFile: '/etc/triad/f.yaml', policyName: 'finance', triadBin: '/usr/bin/triad', job: 'check', cron: '0 5 * * 0', ...patch })).toThrow(message);
  });
});

const NOW = new Date('2026-03-01T00:00:00Z');

describe('renderCrontab', () => {
  it('renders flock-guarded lines, escaping % for cron, standard output discarded (cron mails only stderr)', () => {
    const { text } = renderCrontab({
      policyFile: '/etc/triad/fin%.yaml',
      policyName: 'finance',
      triadBin: '/usr/bin/triad',
      jobs: [{ job: 'backup', cron: '0 */4 * * *' }, { job: 'prune', cron: '30 4 * * 0' }],
      systemZone: 'UTC',
      now: NOW,
    });
    expect(text.split('\n')).toEqual([
      '# triad: policy finance (/etc/triad/fin%.yaml)',
      '0 */4 * * * flock -n /run/lock/triad-finance-backup.lock /usr/bin/triad backup -p /etc/triad/fin\\%.yaml >/dev/null',
      '30 4 * * 0 flock -n /run/lock/triad-finance-prune.lock /usr/bin/triad prune -p /etc/triad/fin\\%.yaml >/dev/null',
      '',
    ]);
  });

  it('renders /etc/cron.d lines with a user, an environment file and CRON_TZ', () => {
    const { text, zoneDependent } = renderCrontab({
      policyFile: '/etc/triad/finance.yaml',
      policyName: 'finance',
      triadBin: '/usr/bin/triad',
      jobs: [{ job: 'restore-test', cron: '@monthly' }],
      format: 'system',
      user: 'triad',
      envFile: "/etc/triad/it's.env",
      lockDir: '/var/lock/',
      timezone: 'Europe/Paris',
      // Midnight in Paris is 23:00 or 22:00 UTC the day before: no UTC expression matches all year.
      systemZone: 'UTC',
      now: NOW,
    });
    expect(zoneDependent).toEqual(['restore-test']);
    const lines = text.trimEnd().split('\n');
    expect(lines[3]).toBe('CRON_TZ=Europe/Paris');
    expect(lines[4]).toBe(
      `0 0 1 * * triad flock -n /var/lock/triad-finance-restore-test.lock sh -c 'set -a && . '\\''/etc/triad/it'\\''\\'\\'''\\''s.env'\\'' && set +a && exec /usr/bin/triad restore-test -p /etc/triad/finance.yaml >/dev/null'`,
    );
    expect(lines[5]).toBe('CRON_TZ=UTC');
  });

  it('needs a user for /etc/cron.d and a valid cron expression', () => {
    const base = { policyFile: '/p.yaml', policyName: 'p', triadBin: '/t', jobs: [{ job: 'check' as const, cron: '0 5 * * 0' }] };
    expect(() => renderCrontab({ ...base, format: 'system' })).toThrow(/user column/);
    expect(() => renderCrontab({ ...base, jobs: [{ job: 'check', cron: '0 5 * *' }] })).toThrow(/5 fields/);
  });
});
