/**
 * What a person reads: times in the policy's time zone (UTC with --utc, ISO 8601 UTC in JSON),
 * a snapshot listing that fits 100 columns with tags and filters, and plain ASCII whenever the
 * output is not a terminal.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PASS, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';

/** A server's layout: long host name, three sources with long paths, three targets, tags. */
function realisticSetup(): { dir: string; policy: string; sources: string[] } {
  const dir = tempDir('triad-display-');
  const sources = ['srv/finance/ledgers/2026/quarterly-closing', 'var/backups/postgresql/nightly-dumps', 'etc'].map((p) => join(dir, p));
  for (const [i, s] of sources.entries()) {
    mkdirSync(s, { recursive: true });
    writeFileSync(join(s, `file-${i}.txt`), `content ${i}\n`.repeat(100));
  }
  const policy = writeLocalPolicy(dir, {
    sources,
    targets: {
      'nas-building-a': { path: join(dir, 'nas'), media: 'nas' },
      'usb-rotation-weekly': { path: join(dir, 'usb'), media: 'removable', offsite: true },
      'second-nas-offsite': { path: join(dir, 'nas2'), media: 'disk', offsite: true },
    },
    extra: 'timezone: Europe/Paris\nhost: fileserver-01.finance.example.internal',
  });
  expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
  return { dir, policy, sources };
}

function backup(policy: string, time: string, tags: string[]): void {
  const r = triad(['backup', '-p', policy, '--time', time, ...tags.flatMap((t) => ['--tag', t])], { env: PASS });
  expect(r.code, r.stderr).toBe(0);
}

describe('snapshots listing', () => {
  it('fits 100 columns with realistic data, shows tags and local times, and filters by tag, host and path', () => {
    const s = realisticSetup();
    backup(s.policy, '2026-12-06T10:02:00Z', ['daily', 'before-upgrade-to-postgres-16']);
    backup(s.policy, '2026-07-01T22:30:00Z', ['monthly']);
    const r = triad(['snapshots', '-p', s.policy], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4); // header, rule, two snapshots
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(100);
    expect(lines[0]).toMatch(/^id\s+time\s+host\s+size\s+files\s+tags\s+complete on\s+paths$/);
    // Europe/Paris: 10:02 UTC in December is 11:02 CET; 22:30 UTC in July is 00:30 CEST the next day.
    expect(r.stdout).toContain('2026-12-06 11:02 CET');
    expect(r.stdout).toContain('2026-07-02 00:30 CEST');
    expect(r.stdout).toMatch(/\bmonthly\b/);
    const json = JSON.parse(triad(['snapshots', '-p', s.policy, '--json'], { env: PASS }).stdout) as { snapshots: { id: string; time: string; tags: string[] }[] };
    expect(json.snapshots.map((x) => x.time)).toEqual(['2026-07-01T22:30:00.000Z', '2026-12-06T10:02:00.000Z']);
    // The default view shows short ids only; --long the full ones.
    expect(r.stdout).not.toContain(json.snapshots[0]!.id);
    const long = triad(['snapshots', '-p', s.policy, '--long'], { env: PASS });
    for (const x of json.snapshots) expect(long.stdout).toContain(x.id);

    const ids = (args: string[]) => (JSON.parse(triad(['snapshots', '-p', s.policy, '--json', ...args], { env: PASS }).stdout) as { snapshots: { id: string }[] }).snapshots.map((x) => x.id);
    const [july, december] = json.snapshots.map((x) => x.id);
    expect(ids(['--tag', 'monthly'])).toEqual([july]);
    expect(ids(['--tag', 'daily', '--tag', 'before-upgrade-to-postgres-16'])).toEqual([december]);
    expect(ids(['--tag', 'daily', '--tag', 'monthly'])).toEqual([]);
    expect(ids(['--host', 'fileserver-01.finance.example.internal'])).toEqual([july, december]);
    expect(ids(['--host', 'other'])).toEqual([]);
    expect(ids(['--path', s.sources[1]! + '/'])).toEqual([july, december]);
    expect(ids(['--path', join(s.dir, 'var')])).toEqual([]);
    const none = triad(['snapshots', '-p', s.policy, '--tag', 'weekly'], { env: PASS });
    expect(none.stdout).toBe('no snapshots\n');
  });

  it('--utc shows the same snapshots in UTC', () => {
    const s = realisticSetup();
    backup(s.policy, '2026-12-06T10:02:00Z', []);
    const r = triad(['--utc', 'snapshots', '-p', s.policy], { env: PASS });
    expect(r.stdout).toContain('2026-12-06 10:02 UTC');
    expect(r.stdout).not.toContain('CET');
    const ls = triad(['ls', '-p', s.policy, 'latest', '-l', '--utc'], { env: PASS });
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    const lsLocal = triad(['ls', '-p', s.policy, 'latest', '-l'], { env: PASS });
    expect(lsLocal.stdout).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d CES?T/);
  });
});

describe('plain ASCII off a terminal', () => {
  it('commands piped into another program print only ASCII besides the user data', () => {
    const dir = tempDir('triad-ascii-');
    // Two sources named etc: policy check explains the names with an arrow on a terminal.
    const sources = [join(dir, 'etc'), join(dir, 'opt', 'etc')];
    for (const s of sources) {
      mkdirSync(s, { recursive: true });
      writeFileSync(join(s, 'café.conf'), 'x\n');
    }
    const policy = writeLocalPolicy(dir, { sources, extra: 'timezone: Europe/Paris\nhost: srv\nretention:\n  keep_last: 1\nschedule:\n  backup: "0 * * * *"' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    backup(policy, '2026-12-05T10:00:00Z', ['t']);
    backup(policy, '2026-12-06T10:00:00Z', ['t']);
    const runs = [
      ['--help'],
      ['policy', 'check', policy],
      ['snapshots', '-p', policy],
      ['ls', '-p', policy, 'latest', '-l'],
      ['forget', '-p', policy, '--dry-run'],
      ['check', '-p', policy],
      ['prune', '-p', policy, '--dry-run'],
      ['status', '-p', policy],
      ['report', '-p', policy],
      ['report', '-p', policy, '--format', 'markdown'],
      ['restore-test', '-p', policy],
      ['schedule', 'list', '-p', policy],
      ['doctor', '-p', policy],
      ['key', 'list', '-p', policy],
      ['snapshots', '-p', policy, '--tag'], // a usage error
    ].map((args) => ({ args, r: triad(args, { env: PASS }) }));
    // Every run went through; a missing arrow below would not prove anything otherwise.
    expect(runs.find((x) => x.args[0] === 'policy')!.r.stderr).toContain(`${sources[0]} -> `);
    expect(runs.find((x) => x.args[0] === 'forget')!.r.stdout).toContain('remove');
    for (const { args, r } of runs) {
      for (const [stream, text] of [['stdout', r.stdout], ['stderr', r.stderr]] as const) {
        // File names are the user's: café.conf may appear as it is.
        const foreign = [...text.replaceAll('café.conf', '')].filter((ch) => ch.charCodeAt(0) >= 0x80);
        expect(foreign, `triad ${args.join(' ')} ${stream}:\n${text}`).toEqual([]);
      }
    }
    const ls = runs.find((x) => x.args[0] === 'ls')!.r;
    expect(ls.stdout).toContain('café.conf');
    // The report, the schedule and the restore test speak the policy's zone too, UTC under --utc.
    const report = runs.find((x) => x.args[0] === 'report')!.r;
    expect(report.stdout).toMatch(/^Policy test .* at \d{4}-\d\d-\d\d \d\d:\d\d CET, window/m);
    expect(runs.find((x) => x.args[0] === 'schedule')!.r.stdout).toMatch(/\d\d:00 CET/);
    expect(runs.find((x) => x.args[0] === 'restore-test')!.r.stdout).toMatch(/snapshot [0-9a-f]{8} of 2026-12-06 11:00 CET/);
    expect(triad(['report', '-p', policy, '--utc'], { env: PASS }).stdout).toMatch(/^Policy test .* at \d{4}-\d\d-\d\d \d\d:\d\d UTC, window/m);
  });
});
