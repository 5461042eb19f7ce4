import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASS, scratchDir, triad, triadAsync, writePolicy } from '../helpers/triad.js';

/**
 * Day one, on the real clock and real processes: a correct set-up (init, a first backup, a
 * restore test) is compliant at once; `status` and `status --nagios` agree on it. RPO
 * obligations start at the first committed snapshot, or at `objectives.since` when the
 * contract began earlier, in which case the time before the first backup is a breach.
 */
let dir: string;
let src: string;
let file: string;
const H = 3_600_000;

interface StatusJson {
  policies: { policy: string; verdict: string; findings: { code: string; severity: string }[]; rpo: { breaches: { scope: string; start: string }[] } }[];
}

function policy(name: string, objectives: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return writePolicy(dir, {
    name,
    sources: [src],
    targets: {
      nas: { type: 'local', path: join(dir, 'nas'), media: 'nas', offsite: false },
      usb: { type: 'local', path: join(dir, 'usb'), media: 'removable', offsite: true },
    },
    extra: { objectives, schedule: { backup: '0 * * * *' }, restore_test: { every: '30d' }, ...extra },
  });
}

function findingCodes(json: string): string[] {
  return (JSON.parse(json) as StatusJson).policies[0]!.findings.map((f) => f.code);
}

beforeAll(() => {
  dir = scratchDir('triad-day-one-');
  src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'ledger.txt'), 'ledger 2026\n'.repeat(5_000));
  file = policy('dayone', { rpo: '4h', rto: '2h', window: '30d' });
  const init = triad(['init', '-p', file], { env: PASS });
  expect(init.code, init.stderr).toBe(0);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('day-one verdicts', () => {
  it('before any backup: not yet judged, a warning that says so (status 0, Nagios WARNING), no breach', () => {
    const status = triad(['status', '-p', file], { env: PASS });
    expect(status.code, status.stdout + status.stderr).toBe(0);
    const nagios = triad(['status', '-p', file, '--nagios'], { env: PASS });
    expect(nagios.code).toBe(1);
    expect(nagios.stdout).toMatch(/^TRIAD WARNING - dayone: /);
    const json = triad(['report', '-p', file, '--format', 'json'], { env: PASS });
    expect(json.code).toBe(0);
    const codes = findingCodes(json.stdout);
    expect(codes).toContain('no-history');
    expect(codes).not.toContain('rpo-breach');
    expect(codes).not.toContain('rule-data');
    expect(codes).not.toContain('rto-no-evidence');
  });

  it('during the first backup: still no breach; right after it and a restore test, status and Nagios are OK', async () => {
    // The first backup's before-hook waits for a flag, so the check below runs while it is in progress.
    const started = join(dir, 'hook-started');
    const release = join(dir, 'hook-release');
    const hook = `touch ${started}; for i in $(seq 1 300); do [ -e ${release} ] && exit 0; sleep 0.1; done; exit 1`;
    const during = policy('dayone', { rpo: '4h', rto: '2h', window: '30d' }, { hooks: { before: [{ run: hook, timeout: '60s' }] } });
    const backup = triadAsync(['backup', '-p', during], { env: PASS });
    for (let i = 0; i < 300 && !existsSync(started); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(started)).toBe(true);
    const mid = triad(['report', '-p', file, '--format', 'json'], { env: PASS });
    expect(mid.code, mid.stdout + mid.stderr).toBe(0);
    expect(findingCodes(mid.stdout)).not.toContain('rpo-breach');
    writeFileSync(release, '');
    const done = await backup;
    expect(done.code, done.stderr).toBe(0);
    policy('dayone', { rpo: '4h', rto: '2h', window: '30d' });

    const rt = triad(['restore-test', '-p', file], { env: PASS });
    expect(rt.code, rt.stdout + rt.stderr).toBe(0);
    const status = triad(['status', '-p', file], { env: PASS });
    expect(status.code, status.stdout).toBe(0);
    const nagios = triad(['status', '-p', file, '--nagios'], { env: PASS });
    expect(nagios.stdout).toMatch(/^TRIAD OK - dayone: /);
    expect(nagios.code).toBe(0);
    const json = triad(['report', '-p', file, '--format', 'json'], { env: PASS });
    const report = JSON.parse(json.stdout) as StatusJson;
    expect(report.policies[0]!.rpo.breaches).toEqual([]);
    expect(report.policies[0]!.findings.filter((f) => f.severity !== 'ok')).toEqual([]);
  });

  it('with objectives.since a day before the first backup, that day is a breach: in the window now, a finding as of before the backup', () => {
    const since = new Date(Date.now() - 24 * H);
    const contract = policy('dayone', { rpo: '4h', rto: '2h', window: '30d', since: since.toISOString().replace(/\.\d{3}Z$/, 'Z') });
    const json = triad(['report', '-p', contract, '--format', 'json'], { env: PASS });
    // Within the RPO now, so compliant, but the window shows the breach from `since` to the first backup.
    expect(json.code, json.stdout + json.stderr).toBe(0);
    const r = JSON.parse(json.stdout) as StatusJson;
    const overall = r.policies[0]!.rpo.breaches.filter((b) => b.scope === 'overall');
    expect(overall).toHaveLength(1);
    expect(Math.abs(Date.parse(overall[0]!.start) - Math.floor(since.getTime() / 1000) * 1000)).toBe(0);
    expect(findingCodes(json.stdout)).toContain('rpo-window');
    const nagios = triad(['status', '-p', contract, '--nagios'], { env: PASS });
    expect(nagios.code).toBe(1);
    // As of two hours before the first backup, the contract was already being breached.
    const before = new Date(Date.now() - 2 * H).toISOString();
    const then = triad(['status', '-p', contract, '--at', before, '--nagios'], { env: PASS });
    expect(then.code, then.stdout).toBe(2);
    expect(then.stdout).toMatch(/^TRIAD CRITICAL - dayone: /);
    expect(then.stdout).toContain('rpo_within=0%');
    const plain = triad(['report', '-p', contract, '--at', before, '--format', 'json'], { env: PASS });
    expect(plain.code).toBe(4);
    const breach = (JSON.parse(plain.stdout) as StatusJson).policies[0]!.rpo.breaches.find((b) => b.scope === 'overall');
    expect(Date.parse(breach!.start)).toBe(Math.floor(since.getTime() / 1000) * 1000);
    expect(findingCodes(plain.stdout)).toEqual(expect.arrayContaining(['rule-data', 'rpo-breach']));
  });

  it('a malformed since is a policy error naming the field', () => {
    const bad = policy('bad-since', { rpo: '4h', since: '2026-01-01 08:00' });
    const r = triad(['policy', 'check', bad], { env: PASS });
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/objectives\.since: expected an ISO 8601 date/);
  });
});
