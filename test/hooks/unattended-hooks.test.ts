/**
 * Hooks that cannot fail silently, and a job lock taken before any hook: real `triad`
 * processes, real shells, a real local HTTP server for the notifications.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPolicies } from '../../src/app/policy-check.js';
import { startRecorder, type Recorder } from '../helpers/http-recorder.js';
import { PASS, tempDir, triadAsync, writePolicy } from '../helpers/triad.js';

let server: Recorder;
beforeAll(async () => {
  server = await startRecorder();
});
afterAll(() => server.close());

/** `extra` may name paths in the test's directory and source. */
function setup(name: string, extra: Record<string, unknown> | ((dir: string, src: string) => Record<string, unknown>)): { dir: string; src: string; policy: string } {
  const dir = tempDir('triad-uh-');
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'ledger.csv'), 'id,amount\n1,100\n');
  const policy = writePolicy(dir, {
    name,
    sources: [src],
    targets: {
      nas: { type: 'local', path: join(dir, 'nas'), media: 'nas', offsite: false },
      usb: { type: 'local', path: join(dir, 'usb'), media: 'removable', offsite: true },
    },
    extra: typeof extra === 'function' ? extra(dir, src) : extra,
  });
  return { dir, src, policy };
}

describe('hooks fail loudly', () => {
  it('a pipeline whose first command fails fails the hook (pipefail), and its declared output is removed', async () => {
    // The classic: the dump tool fails, gzip succeeds and leaves a 20-byte file.
    const hookFor = (dir: string, src: string) => `sqlite3-missing-tool ${join(dir, 'missing.db')} .dump | gzip > '${join(src, 'app.sql.gz')}'`;
    const s = setup('dumper', (dir, src) => ({ hooks: { before: [{ run: hookFor(dir, src), timeout: '30s', output: join(src, 'app.sql.gz') }] } }));
    const dump = join(s.src, 'app.sql.gz');
    const hook = hookFor(s.dir, s.src);
    expect((await triadAsync(['init', '-p', s.policy], { env: PASS })).code).toBe(0);
    const r = await triadAsync(['backup', '-p', s.policy], { env: PASS });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`before hook "${hook}" exited with code 127; its output ${dump} was removed so that it is not backed up; the backup was not run`);
    expect(existsSync(dump)).toBe(false);
    const snaps = JSON.parse((await triadAsync(['snapshots', '-p', s.policy, '--json'], { env: PASS })).stdout) as { snapshots: unknown[] };
    expect(snaps.snapshots).toHaveLength(0);
  });

  it('policy check warns about pipelines only where hooks would run without pipefail', async () => {
    const s = setup('piped', { hooks: { before: [{ run: 'pg_dump app | gzip > /var/backups/app.gz' }, { run: "echo 'a|b' || true" }] } });
    const [sh] = await checkPolicies([s.policy], { env: PASS, hookShell: '/bin/sh' });
    expect(sh!.warnings).toEqual([
      'hook `pg_dump app | gzip > /var/backups/app.gz` is a pipeline and runs under /bin/sh without pipefail: it succeeds when any command but the last fails; install bash (hooks then run with -o pipefail) or make the command check each step',
    ]);
    const [bash] = await checkPolicies([s.policy], { env: PASS, hookShell: '/bin/bash' });
    expect(bash!.warnings).toEqual([]);
  });
});

describe('the job lock comes first', () => {
  it('a second backup started while the first runs its before hook runs no hook, exits 11, pings no /fail and reports skipped', async () => {
    const s = setup('overlap', (dir) => {
      const log = join(dir, 'hook.log');
      const hook = `echo "start $$" >> '${log}'; sleep 4; echo "end $$" >> '${log}'`;
      return { hooks: { before: [{ run: hook, timeout: '1m' }] }, notify: { webhook: `${server.base}/overlap/hook`, heartbeat: `${server.base}/overlap/hb` } };
    });
    const log = join(s.dir, 'hook.log');
    expect((await triadAsync(['init', '-p', s.policy], { env: PASS })).code).toBe(0);
    const first = triadAsync(['backup', '-p', s.policy], { env: PASS });
    // Wait until the first run's hook has started, then start the second.
    const until = Date.now() + 30_000;
    while (!(existsSync(log) && readFileSync(log, 'utf8').includes('start')) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    const second = await triadAsync(['backup', '-p', s.policy], { env: PASS });
    expect(second.code, second.stderr).toBe(11);
    expect(second.stderr).toContain('policy overlap is already running on this machine');
    const done = await first;
    expect(done.code, done.stderr).toBe(0);

    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines.filter((l) => l.startsWith('start'))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('end'))).toHaveLength(1);
    const got = server.received.filter((x) => x.path.startsWith('/overlap/'));
    expect(got.filter((x) => x.path === '/overlap/hb/fail')).toHaveLength(0);
    expect(got.filter((x) => x.path === '/overlap/hb/start')).toHaveLength(1);
    const hooks = got.filter((x) => x.path === '/overlap/hook').map((x) => JSON.parse(x.body) as { status: string; exitCode: number; hooks?: unknown[] });
    expect(hooks.map((h) => h.status).sort()).toEqual(['ok', 'skipped']);
    const skipped = hooks.find((h) => h.status === 'skipped')!;
    expect(skipped.exitCode).toBe(11);
    expect(skipped.hooks).toEqual([]);
  });
});
