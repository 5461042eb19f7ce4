import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { childJobRunner } from '../../src/app/schedule-child-runner.js';
import { scheduledArguments } from '../../src/app/schedule-policies.js';
import { loadPolicy } from '../../src/policy/load.js';
import { cronForZone } from '../../src/scheduler/cron-zone.js';
import { nextRuns } from '../../src/scheduler/cron.js';
import { BIN, PASS, ROOT, tempDir, triad, triadShipped, writeLocalPolicy } from '../helpers/triad.js';

const NOW = new Date('2026-12-06T00:00:00Z');

/** The cron fields of a crontab line (before the flock command). */
const timesOf = (line: string): string => line.split(' flock ')[0]!;

describe('cron expressions translated into the system zone', () => {
  // Accepted translations must fire at the same instants as the original, checked with
  // cron-parser (a different implementation) over the first 400 runs.
  it.each([
    ['0 3 * * *', 'Asia/Tokyo', 'UTC', '0 18 * * *'],
    ['0 23 * * 1', 'Asia/Tokyo', 'UTC', '0 14 * * 1'],
    ['15 * * * *', 'Europe/Paris', 'UTC', '15 * * * *'],
    ['0 3 * * *', 'Europe/Paris', 'Europe/Berlin', '0 3 * * *'],
    ['30 2 * * *', 'Asia/Kolkata', 'Asia/Colombo', '30 2 * * *'],
    ['0 1 * * *', 'UTC', 'Asia/Tokyo', '0 10 * * *'],
  ])('%s in %s → %s: %s', (cron, from, to, expected) => {
    const got = cronForZone(cron, from, to, NOW);
    expect(got).toBe(expected);
    const a = nextRuns(cron, NOW, 400, from).map((d) => d.toISOString());
    const b = nextRuns(got!, NOW, 400, to).map((d) => d.toISOString());
    expect(b).toEqual(a);
  });

  it.each([
    ['0 3 * * *', 'Europe/Paris', 'UTC'],
    ['0 */4 * * *', 'America/New_York', 'UTC'],
    ['0 3 * * 1', 'Asia/Tokyo', 'UTC'],
  ])('%s in %s has no equivalent in %s (refused, not approximated)', (cron, from, to) => {
    expect(cronForZone(cron, from, to, NOW)).toBeUndefined();
    // The naive reading (same clock times in the other zone) is indeed wrong somewhere in the year.
    const a = nextRuns(cron, NOW, 400, from).map((d) => d.toISOString());
    const b = nextRuns(cron, NOW, 400, to).map((d) => d.toISOString());
    expect(b).not.toEqual(a);
  });
});

describe('schedule install: units and crontab lines do what the policy says', () => {
  it('every shipped policy gives units that systemd-analyze verifies; retention runs unattended; hook paths are writable', () => {
    const dir = tempDir();
    const files = readdirSync(join(ROOT, 'policies')).filter((f) => f.endsWith('.yaml')).map((f) => join(ROOT, 'policies', f));
    const units = join(dir, 'units');
    for (const f of files) {
      const r = triadShipped(['schedule', 'install', '-p', f, '--systemd', '--dir', units]);
      if (r.stderr.includes('has no schedule')) continue;
      expect(r.code, r.stderr).toBe(0);
    }
    const all = readdirSync(units).map((f) => join(units, f));
    expect(all.length).toBeGreaterThanOrEqual(8);
    const v = spawnSync('systemd-analyze', ['verify', '--man=no', ...all], { encoding: 'utf8', env: { ...process.env, SYSTEMD_COLORS: '0' } });
    expect(v.stderr).toBe('');
    expect(v.status).toBe(0);

    const prune = readFileSync(join(units, 'triad-billing-db-prune.service'), 'utf8').split('\n');
    expect(prune).toContain(`ExecStart=${BIN} forget --prune -p ${join(ROOT, 'policies', 'postgres-azure.yaml')}`);
    expect(prune).toContain('Description=triad retention (forget and prune) of policy billing-db');
    // The scheduled check reads the rolling share of packs: run daily, it covers every stored byte within verify.every.
    const check = readFileSync(join(units, 'triad-demo-check.service'), 'utf8').split('\n');
    expect(check).toContain(`ExecStart=${BIN} check --read-data-subset auto -p ${join(ROOT, 'policies', 'demo.yaml')}`);
    const backup = readFileSync(join(units, 'triad-billing-db-backup.service'), 'utf8').split('\n');
    expect(backup.find((l) => l.startsWith('ReadWritePaths='))!.split(' ')).toContain('-/var/backups/pg');
  });

  it('a prune job without retention rules stays `prune` and install says no snapshot is ever forgotten', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'data'));
    const file = writeLocalPolicy(dir, { sources: [join(dir, 'data')], extra: 'schedule:\n  prune: "0 4 * * *"' });
    const r = triadShipped(['schedule', 'install', '-p', file, '--systemd', '--dir', join(dir, 'units')]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'units', 'triad-test-prune.service'), 'utf8')).toContain(`ExecStart=${BIN} prune -p ${file}`);
    expect(r.stderr).toContain('warning: policy test: schedule.prune is set but not every target has retention rules');
  });

  it('cron: times written in the system zone when they can be, CRON_TZ= and a warning when they cannot', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'data'));
    const tokyo = writeLocalPolicy(dir, { name: 'tokyo', sources: [join(dir, 'data')], extra: 'timezone: Asia/Tokyo\nschedule:\n  backup: "0 3 * * *"\n  check: "30 * * * *"' });
    const paris = writeLocalPolicy(dir, { name: 'paris', sources: [join(dir, 'data')], extra: 'timezone: Europe/Paris\nschedule:\n  backup: "0 3 * * *"' });
    const r = triadShipped(['schedule', 'install', '-p', tokyo, '-p', paris, '--cron'], { env: { TZ: 'UTC' } });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const tokyoBlock = lines.slice(0, lines.findIndex((l) => l.includes('policy paris')));
    expect(tokyoBlock.some((l) => l.startsWith('CRON_TZ'))).toBe(false);
    expect(tokyoBlock.filter((l) => l.includes(' flock ')).map(timesOf)).toEqual(['0 18 * * *', '30 * * * *']);
    const parisBlock = lines.slice(lines.findIndex((l) => l.includes('policy paris')));
    expect(parisBlock).toContain('CRON_TZ=Europe/Paris');
    expect(parisBlock.filter((l) => l.includes(' flock ')).map(timesOf)).toEqual(['0 3 * * *']);
    // Lines that could follow (another policy) are back in the system zone.
    expect(parisBlock.filter((l) => l.startsWith('CRON_TZ')).pop()).toBe('CRON_TZ=UTC');
    expect(r.stderr).toContain("policy paris: the backup schedule in Europe/Paris has no equivalent in the system zone (UTC); the lines rely on CRON_TZ=, which Debian's cron ignores");
    expect(r.stderr).not.toContain('policy tokyo: the');
  });

  it('a cron line is quiet when the job succeeds and speaks when it fails', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'a.txt'), 'cron\n');
    const file = writeLocalPolicy(dir, { sources: [join(dir, 'data')], extra: 'schedule:\n  backup: "0 * * * *"' });
    expect(triad(['init', '-p', file], { env: PASS }).code).toBe(0);
    const envFile = join(dir, 'triad.env');
    writeFileSync(envFile, `TEST_PASSPHRASE='${PASS.TEST_PASSPHRASE}'\n`, { mode: 0o600 });
    const r = triadShipped(['schedule', 'install', '-p', file, '--cron', '--environment-file', envFile], { env: { XDG_RUNTIME_DIR: dir } });
    expect(r.code).toBe(0);
    const line = r.stdout.split('\n').find((l) => l.includes(' backup -p '))!;
    const command = line.slice(timesOf(line).length + 1);
    // What cron runs: the command under sh, with a bare environment.
    const ok = spawnSync('sh', ['-c', command], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: dir } });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('');
    expect(JSON.parse(triad(['snapshots', '-p', file, '--json'], { env: PASS }).stdout).snapshots).toHaveLength(1);

    writeFileSync(envFile, "TEST_PASSPHRASE='wrong'\n", { mode: 0o600 });
    const bad = spawnSync('sh', ['-c', command], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: dir } });
    expect(bad.status).toBe(12);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/passphrase/i);
  });

  it("the daemon's prune job applies the retention rules (forget --prune), as the units do", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'data'));
    const file = writeLocalPolicy(dir, { sources: [join(dir, 'data')], extra: 'retention:\n  keep_last: 1\nschedule:\n  prune: "0 4 * * *"' });
    expect(triad(['init', '-p', file], { env: PASS }).code).toBe(0);
    for (const text of ['one', 'two']) {
      writeFileSync(join(dir, 'data', 'f'), text);
      expect(triad(['backup', '-p', file], { env: PASS }).code).toBe(0);
    }
    const policy = await loadPolicy(file, { env: PASS });
    expect(scheduledArguments(policy, file, 'prune')).toEqual(['forget', '--prune', '-p', file]);
    const runner = childJobRunner({ execPath: process.execPath, entry: BIN, env: { ...process.env, ...PASS }, cwd: dir, argsFor: (req) => scheduledArguments(policy, req.file, req.job) });
    const outcome = await runner({ policy: 'test', file, job: 'prune', reason: 'schedule', scheduledFor: NOW, signal: new AbortController().signal });
    expect(outcome.status, outcome.message).toBe('ok');
    expect(JSON.parse(triad(['snapshots', '-p', file, '--json'], { env: PASS }).stdout).snapshots).toHaveLength(1);
  });
});

describe('policy check: hooks that write where a scheduled unit cannot', () => {
  it('warns and names the field to set; quiet once hooks.writable_paths covers the path', () => {
    const dir = tempDir();
    const shipped = readFileSync(join(ROOT, 'policies', 'postgres-azure.yaml'), 'utf8');
    const without = join(dir, 'without.yaml');
    writeFileSync(without, shipped.replace(/^\s*writable_paths:.*$/m, ''));
    const r = triad(['policy', 'check', without]);
    expect(r.stderr).toContain(`warning: ${without}: hook \`pg_dump --format=custom --file=/var/backups/pg/billing.dump billing\` writes /var/backups/pg/billing.dump, which a scheduled systemd unit cannot write (ProtectSystem=strict): add /var/backups/pg to hooks.writable_paths`);
    const withPaths = join(dir, 'with.yaml');
    cpSync(join(ROOT, 'policies', 'postgres-azure.yaml'), withPaths);
    const ok = triad(['policy', 'check', withPaths]);
    expect(ok.code).toBe(r.code);
    expect(ok.stderr).not.toContain('writable_paths');
  });
});
