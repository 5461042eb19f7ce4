import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASS, scratchDir, triad, writePolicy } from '../helpers/triad.js';

/**
 * One evaluation, one level: `report`, `status` and `status --nagios` show the same OK /
 * WARNING / CRITICAL for the same state. Real backups and a real restore test at pinned
 * times on two local targets; RPO 4h, warn_at default 80 % (3h 12m).
 *   00:00 and 00:00:15 backups → nas, usb (more data the second time)      00:30 restore test
 * At 02:00 exposure 2h: OK. At 03:30 exposure 3h 30m: WARNING (within contract).
 * At 05:00 exposure 5h: CRITICAL (breach since 04:00:15).
 * Two backups 15 s apart are no history to forecast from: no growth, days left or run-time trend.
 */
const t = (hhmm: string, ss = '00'): string => `2026-05-04T${hhmm}:${ss}Z`;
let dir: string;
let file: string;

interface ReportJson {
  policies: { severity: string; verdict: string; exitCode: number; nagios: { status: number }; findings: { code: string; severity: string }[] }[];
}

beforeAll(() => {
  dir = scratchDir('triad-levels-');
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'ledger.txt'), 'ledger 2026\n'.repeat(5_000));
  file = writePolicy(dir, {
    name: 'levels',
    sources: [src],
    targets: {
      nas: { type: 'local', path: join(dir, 'nas'), media: 'nas', offsite: false },
      usb: { type: 'local', path: join(dir, 'usb'), media: 'removable', offsite: true },
    },
    extra: { objectives: { rpo: '4h', rto: '2h', window: '1d' }, schedule: { backup: '0 */4 * * *' }, restore_test: { every: '30d' } },
  });
  const env = (now: string): Record<string, string> => ({ ...PASS, TRIAD_TEST_NOW: now });
  const run = (args: string[], now: string): void => {
    const r = triad(args, { env: env(now) });
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  };
  run(['init', '-p', file], t('00:00'));
  run(['backup', '-p', file, '--time', t('00:00')], t('00:00'));
  writeFileSync(join(src, 'journal.bin'), Buffer.alloc(2_000_000, 3));
  run(['backup', '-p', file, '--time', t('00:00', '15')], t('00:00', '15'));
  run(['restore-test', '-p', file], t('00:30'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('report, status and status --nagios agree on the level', () => {
  it.each([
    { at: t('02:00'), level: 'OK', severity: 'ok', exit: 0, nagios: 0, contract: 'within contract', codes: [] as string[] },
    { at: t('03:30'), level: 'WARNING', severity: 'warning', exit: 0, nagios: 1, contract: 'within contract', codes: ['rpo-near'] },
    { at: t('05:00'), level: 'CRITICAL', severity: 'critical', exit: 4, nagios: 2, contract: 'out of contract', codes: ['rule-data', 'rpo-breach', 'rpo-target-breach', 'rpo-target-breach'] },
  ])('at $at: $level everywhere', ({ at, level, severity, exit, nagios, contract, codes }) => {
    const json = triad(['report', '-p', file, '--at', at, '--format', 'json'], { env: PASS });
    expect(json.code, json.stderr).toBe(exit);
    const p = (JSON.parse(json.stdout) as ReportJson).policies[0]!;
    expect([p.severity, p.exitCode, p.nagios.status]).toEqual([severity, exit, nagios]);
    expect(p.findings.filter((f) => f.severity !== 'ok').map((f) => f.code)).toEqual(codes);

    const table = triad(['report', '-p', file, '--at', at], { env: PASS });
    expect(table.code).toBe(exit);
    expect(table.stdout).toContain(`Policy levels  ${level} (${contract})  at `);

    const status = triad(['status', '-p', file, '--at', at], { env: PASS });
    expect(status.code).toBe(exit);
    expect(status.stdout).toMatch(new RegExp(`^levels ${level} rule 3-2-1 `));

    const check = triad(['status', '-p', file, '--at', at, '--nagios'], { env: PASS });
    expect(check.code).toBe(nagios);
    expect(check.stdout).toMatch(new RegExp(`^TRIAD ${level} - levels: `));
    // The thresholds travel with the values: warn at 80 % of the RPO, critical at the RPO.
    expect(check.stdout).toMatch(/ \| exposure=\d+s;11520;14400;0 /);
  });
});

describe('no forecast from too little history', () => {
  it('two backups 15 s apart: no growth, no days left, no run-time trend; the report says why', () => {
    const json = triad(['report', '-p', file, '--at', t('02:00'), '--format', 'json'], { env: PASS });
    const p = JSON.parse(json.stdout) as {
      policies: { capacity: { target: string; storedBytes: number; growthBytesPerDay: number | null; daysLeft: number | null; history: { points: number; spanMs: number; enough: boolean } }[]; backups: { trend: { runs: number; slopeMsPerDay: number | null; history: { enough: boolean } } }[] }[];
    };
    const cap = p.policies[0]!.capacity.find((c) => c.target === 'nas')!;
    expect(cap.storedBytes).toBeGreaterThan(0);
    expect(cap.history).toEqual({ points: 2, spanMs: expect.any(Number) as number, enough: false });
    expect(cap.history.spanMs).toBeLessThan(60_000);
    expect([cap.growthBytesPerDay, cap.daysLeft]).toEqual([null, null]);
    const trend = p.policies[0]!.backups[0]!.trend;
    expect([trend.runs, trend.slopeMsPerDay, trend.history.enough]).toEqual([2, null, false]);

    const table = triad(['report', '-p', file, '--at', t('02:00')], { env: PASS }).stdout;
    expect(table).toMatch(/^nas\s+\S+%\s+.+\s+not enough history\s+not enough history\s+\S+x$/m);
    expect(table).toMatch(/^nas\s+2026-05-04 00:00 UTC\s+-\s+0\s+0\s+\S+\s+not enough history$/m);
    expect(table).toContain('(forecasts and trends need 3 samples over 3d)');
  });
});

describe('suggested commands run as written', () => {
  it('the CRITICAL finding says `triad backup -p FILE`; running exactly that brings the policy back within contract', () => {
    const json = triad(['report', '-p', file, '--at', t('05:00'), '--format', 'json'], { env: PASS });
    const findings = (JSON.parse(json.stdout) as { policies: { findings: { code: string; action?: string }[] }[] }).policies[0]!.findings;
    const action = findings.find((f) => f.code === 'rpo-breach')!.action!;
    const command = /`triad ([^`]+)`/.exec(action)![1]!;
    expect(command).toBe(`backup -p ${file}`);
    const html = triad(['report', '-p', file, '--at', t('05:00'), '--format', 'html'], { env: PASS }).stdout;
    expect(html).toContain(`<code>triad backup -p ${file}</code>`);
    expect(html).not.toContain('`');
    const r = triad(command.split(' '), { env: { ...PASS, TRIAD_TEST_NOW: t('05:00') } });
    expect(r.code, r.stderr).toBe(0);
    const after = triad(['status', '-p', file, '--at', t('05:01')], { env: PASS });
    expect(after.code).toBe(0);
    // Within the RPO again; the breach of the last hour keeps a WARNING for the window.
    expect(after.stdout).toMatch(/^levels WARNING rule 3-2-1 met rpo ok \(exposure 1m\/4h\) rto met - RPO met \d+\.\d+% of the last 1d \(1 breach\)$/m);
  });
});
