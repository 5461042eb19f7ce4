/**
 * `triad backup` end to end with the policy's hooks and notifications (issue 8): the CLI runs
 * as a subprocess, as cron or a systemd timer would run it; a local HTTP server (127.0.0.1
 * only) in this process plays the webhook receiver and the healthchecks.io-style monitor.
 * The CLI is spawned asynchronously (triadAsync) so the server can answer while it runs.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3rver, type S3Emulator } from '../helpers/emulators.js';
import { startRecorder, type Received, type Recorder } from '../helpers/http-recorder.js';
import { PASS, scratchDir, tempDir, triadAsync, writePolicy, type RunResult } from '../helpers/triad.js';

let server: Recorder;
let base: string;
let received: Received[];

beforeAll(async () => {
  server = await startRecorder();
  ({ base, received } = server);
});

afterAll(() => server.close());

/** Requests whose path is `prefix` or lies below it, in arrival order (each test uses its own prefix). */
function under(prefix: string): Received[] {
  return received.filter((r) => r.path === prefix || r.path.startsWith(`${prefix}/`) || r.path.startsWith(`${prefix}?`));
}

const SECRET = PASS.TEST_PASSPHRASE;
const q = (p: string) => `'${p}'`; // temp paths hold no single quote

interface Setup {
  dir: string;
  src: string;
  policy: string;
}

/** A source directory with one ordinary file, two local targets (3-2-1 holds), hooks and notify as given. */
function setup(extra: Record<string, unknown>): Setup {
  const dir = tempDir('triad-bh-');
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'ledger.csv'), 'id,amount\n1,100\n');
  const policy = write(dir, src, extra);
  return { dir, src, policy };
}

function write(dir: string, src: string, extra: Record<string, unknown>): string {
  return writePolicy(dir, {
    name: 'hooked',
    sources: [src],
    targets: {
      nas: { type: 'local', path: join(dir, 'nas'), media: 'nas', offsite: false },
      usb: { type: 'local', path: join(dir, 'usb'), media: 'removable', offsite: true },
    },
    extra,
  });
}

async function run(args: string[]): Promise<RunResult> {
  return triadAsync(args, { env: PASS });
}

async function init(policy: string): Promise<void> {
  const r = await run(['init', '-p', policy]);
  expect(r.code, r.stderr).toBe(0);
}

async function snapshotIds(policy: string): Promise<string[]> {
  const r = await run(['snapshots', '-p', policy, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout).snapshots as { id: string }[]).map((s) => s.id).sort();
}

/** Snapshot objects on a local target's disk: a second witness besides `triad snapshots`. */
function snapshotFiles(target: string): string[] {
  const d = join(target, 'snapshots');
  return existsSync(d) ? readdirSync(d, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort() : [];
}

function expectNoSecret(...texts: string[]): void {
  for (const t of texts) expect(t).not.toContain(SECRET);
}

/** Alive and not a zombie (a reparented child may linger as a zombie if PID 1 does not reap). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('triad backup runs the policy hooks and notifications (CLI as a subprocess)', () => {
  it('a before hook (database dump) runs first: its file is in the snapshot, and --json lists the hook', async () => {
    const s = setup({});
    const dumpFile = join(s.src, 'finance.dump');
    const content = `PGDMP finance\nCOPY ledger FROM stdin;\n1\t100\n`;
    // The hook writes the dump (content built by the shell at run time) and reports on stdout.
    const hook = `printf 'PGDMP %s\\nCOPY ledger FROM stdin;\\n1\\t100\\n' "$(echo finance)" > ${q(dumpFile)} && echo "dumped for $TRIAD_POLICY/$TRIAD_JOB"`;
    write(s.dir, s.src, { hooks: { before: [{ run: hook, timeout: '30s' }] } });
    await init(s.policy);
    expect(existsSync(dumpFile)).toBe(false);

    const r = await run(['backup', '-p', s.policy, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.snapshot).toMatch(/^[0-9a-f]{64}$/);
    expect(out.hooks).toEqual([
      expect.objectContaining({ kind: 'before', run: hook, exitCode: 0, timedOut: false, stdout: 'dumped for hooked/backup\n' }),
    ]);
    expect(readFileSync(dumpFile, 'utf8')).toBe(content);

    // The snapshot holds the dump: listed by `ls`, and restored byte for byte.
    const ls = await run(['ls', '-p', s.policy, out.snapshot, '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    const paths = (JSON.parse(ls.stdout).entries as { path: string }[]).map((e) => e.path);
    const dumpPath = paths.find((p) => p.endsWith('finance.dump'));
    expect(dumpPath, paths.join('\n')).toBeDefined();
    const to = join(s.dir, 'restored');
    const rs = await run(['restore', '-p', s.policy, out.snapshot, '--to', to, '--json']);
    expect(rs.code, rs.stderr).toBe(0);
    expect(readFileSync(join(to, dumpPath!), 'utf8')).toBe(content);
    expectNoSecret(r.stdout, r.stderr);
  });

  it('a failing before hook: exit 1 naming the hook and its code, no snapshot, on_failure runs, /start then /fail, webhook with the error, no secret anywhere', async () => {
    const s = setup({});
    await init(s.policy);
    // One good snapshot first, with a policy without hooks, so "unchanged" means something.
    const first = await run(['backup', '-p', s.policy, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const before = await snapshotIds(s.policy);
    expect(before).toEqual([JSON.parse(first.stdout).snapshot]);
    const filesBefore = snapshotFiles(join(s.dir, 'nas'));
    expect(filesBefore).toHaveLength(1);

    const marker = join(s.dir, 'on_failure.txt');
    const afterMarker = join(s.dir, 'after.txt');
    // The failing hook prints the passphrase variable last: it must be stripped from the hook's
    // environment, or it would show in the hint, the --json details and the run record.
    const failing = `echo "dumping…"; echo "pg_dump: connection refused (pw=$TEST_PASSPHRASE)" >&2; exit 3`;
    write(s.dir, s.src, {
      hooks: {
        before: [{ run: failing, timeout: '30s' }],
        after: [`touch ${q(afterMarker)}`],
        on_failure: [`printf '%s|%s|%s|%s' "$TRIAD_HOOK" "$TRIAD_RESULT" "$TRIAD_EXIT_CODE" "$TRIAD_ERROR" > ${q(marker)}`],
      },
      notify: { webhook: `${base}/wh-fail`, heartbeat: `${base}/hb-fail` },
    });

    const r = await run(['backup', '-p', s.policy]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`before hook "${failing}" exited with code 3`);
    expect(r.stderr).toContain('E_HOOK_FAILED');
    expect(r.stdout).not.toMatch(/snapshot [0-9a-f]{8} saved/);

    // No snapshot: neither in the listing nor on disk; the after hook did not run.
    expect(await snapshotIds(s.policy)).toEqual(before);
    expect(snapshotFiles(join(s.dir, 'nas'))).toEqual(filesBefore);
    expect(snapshotFiles(join(s.dir, 'usb'))).toEqual(filesBefore);
    expect(existsSync(afterMarker)).toBe(false);

    // on_failure ran with the run's result and the error.
    expect(existsSync(marker)).toBe(true);
    const [kind, result, exitCode, error] = readFileSync(marker, 'utf8').split('|');
    expect(kind).toBe('on_failure');
    expect(result).toBe('failed');
    expect(exitCode).toBe('1');
    expect(error).toContain('exited with code 3');

    // Heartbeat: /start, then /fail (never the bare success URL).
    const hb = under('/hb-fail');
    expect(hb.map((x) => `${x.method} ${x.path}`)).toEqual(['POST /hb-fail/start', 'POST /hb-fail/fail']);
    expect(hb[1]!.body).toContain('failed');

    // Webhook: one JSON POST carrying the error.
    const wh = under('/wh-fail');
    expect(wh).toHaveLength(1);
    expect(wh[0]!.method).toBe('POST');
    expect(wh[0]!.contentType).toBe('application/json');
    const payload = JSON.parse(wh[0]!.body);
    expect(payload).toMatchObject({ source: 'triad', event: 'backup.failed', policy: 'hooked', job: 'backup', status: 'failed', exitCode: 1, errorCode: 'E_HOOK_FAILED' });
    expect(payload.error).toContain(`before hook "${failing}" exited with code 3`);
    expect(payload.snapshot).toBeUndefined();
    expect(payload.hooks).toEqual([
      { kind: 'before', run: failing, exitCode: 3, timedOut: false },
      expect.objectContaining({ kind: 'on_failure', exitCode: 0 }),
    ]);

    // The same failure with --json: the error object carries the hook record (output tail), still no secret.
    const j = await run(['backup', '-p', s.policy, '--json']);
    expect(j.code, j.stderr).toBe(1);
    const err = JSON.parse(j.stdout).error;
    expect(err.code).toBe('E_HOOK_FAILED');
    expect(err.hooks).toEqual([expect.objectContaining({ kind: 'before', exitCode: 3, stderr: 'pg_dump: connection refused (pw=)\n' })]);
    expect(await snapshotIds(s.policy)).toEqual(before);

    expectNoSecret(r.stdout, r.stderr, j.stdout, j.stderr, readFileSync(marker, 'utf8'), ...under('/hb-fail').map((x) => x.path + x.body), ...under('/wh-fail').map((x) => x.path + x.body));
  });

  it('a before hook that outlives its timeout is killed: exit 1 well before the sleep ends, no snapshot', async () => {
    const s = setup({});
    const pidFile = join(s.dir, 'sleep.pid');
    const slow = `sleep 30 & echo $! > ${q(pidFile)}; wait`;
    write(s.dir, s.src, { hooks: { before: [{ run: slow, timeout: '1s' }] } });
    await init(s.policy);

    const t0 = Date.now();
    const r = await run(['backup', '-p', s.policy]);
    const elapsed = Date.now() - t0;
    expect(r.code, r.stderr).toBe(1);
    expect(elapsed).toBeLessThan(15_000);
    expect(r.stderr).toContain(`before hook "${slow}" timed out after 1s and was killed`);
    expect(r.stderr).toContain('E_HOOK_FAILED');
    // The whole process group went, not only the shell.
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    expect(pid).toBeGreaterThan(1);
    expect(processAlive(pid)).toBe(false);
    expect(await snapshotIds(s.policy)).toEqual([]);
    expect(snapshotFiles(join(s.dir, 'nas'))).toEqual([]);
  });

  it('a successful run: /start then the bare URL, webhook with the snapshot id and ok, after hook sees TRIAD_SNAPSHOT and TRIAD_RESULT', async () => {
    const s = setup({});
    const seen = join(s.dir, 'after.txt');
    const failMarker = join(s.dir, 'on_failure.txt');
    write(s.dir, s.src, {
      hooks: {
        after: [{ run: `printf '%s %s %s' "$TRIAD_SNAPSHOT" "$TRIAD_RESULT" "\${TEST_PASSPHRASE:-stripped}" > ${q(seen)}`, timeout: '30s' }],
        on_failure: [`touch ${q(failMarker)}`],
      },
      notify: { webhook: `${base}/wh-ok`, heartbeat: `${base}/hb-ok` },
    });
    await init(s.policy);

    const r = await run(['backup', '-p', s.policy, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const id: string = out.snapshot;
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(await snapshotIds(s.policy)).toEqual([id]);

    // The after hook saw the snapshot id and the result, and not the passphrase.
    expect(readFileSync(seen, 'utf8')).toBe(`${id} ok stripped`);
    expect(existsSync(failMarker)).toBe(false);
    expect(out.hooks).toEqual([expect.objectContaining({ kind: 'after', exitCode: 0, timedOut: false })]);

    const hb = under('/hb-ok');
    expect(hb.map((x) => `${x.method} ${x.path}`)).toEqual(['POST /hb-ok/start', 'POST /hb-ok']);
    expect(hb[1]!.body).toContain(id);

    const wh = under('/wh-ok');
    expect(wh).toHaveLength(1);
    expect(wh[0]!.contentType).toBe('application/json');
    const payload = JSON.parse(wh[0]!.body);
    expect(payload).toMatchObject({ source: 'triad', event: 'backup.ok', policy: 'hooked', job: 'backup', status: 'ok', exitCode: 0, snapshot: id, files: out.summary.files });
    expect(payload.error).toBeUndefined();
    expect(payload.targets).toEqual([
      { name: 'nas', ok: true },
      { name: 'usb', ok: true },
    ]);
    expect(payload.hooks).toEqual([expect.objectContaining({ kind: 'after', exitCode: 0 })]);

    expectNoSecret(r.stdout, r.stderr, ...hb.map((x) => x.path + x.body), ...wh.map((x) => x.path + x.body));
  });
});

describe('hooks never see cloud credentials, even those the SDKs read on their own', () => {
  let s3: S3Emulator;
  const work = scratchDir('triad-hook-env-');
  beforeAll(async () => {
    s3 = await startS3rver(join(work, 's3rver'));
  }, 60_000);
  afterAll(async () => {
    await s3?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('an S3 target on the default credential chain: backup works, the hook environment has no AWS_*, AZURE_*, GOOGLE_* or passphrase variable', async () => {
    const src = join(work, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.txt'), 'alpha\n');
    const seen = join(work, 'hook-env.txt');
    const { credentials_env: _named, ...cloud } = s3.policyFields({ prefix: 'default-chain/' });
    const policy = writePolicy(work, {
      name: 'chain',
      sources: [src],
      targets: { nas: { type: 'local', path: join(work, 'nas'), media: 'nas', offsite: false }, cloud },
      extra: { hooks: { before: [{ run: `env > ${q(seen)}`, timeout: '30s' }] } },
    });
    const env = {
      ...PASS,
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      AWS_SESSION_TOKEN: 'session-token-value',
      AZURE_STORAGE_CONNECTION_STRING: 'DefaultEndpointsProtocol=https;AccountKey=azure-key-value',
      AZURE_CLIENT_SECRET: 'azure-client-secret-value',
      GOOGLE_APPLICATION_CREDENTIALS: '/etc/gcs-key.json',
      IDENTITY_HEADER: 'managed-identity-header-value',
      TRIAD_PASSPHRASE: 'another-passphrase-value',
      KEEP_ME: 'yes',
    };
    expect((await triadAsync(['init', '-p', policy], { env })).code).toBe(0);
    const r = await triadAsync(['backup', '-p', policy, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).targets.map((t: { target: string; status: string }) => `${t.target} ${t.status}`).sort()).toEqual(['cloud committed', 'nas committed']);
    const hookEnv = Object.fromEntries(
      readFileSync(seen, 'utf8')
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(hookEnv.KEEP_ME).toBe('yes');
    expect(hookEnv.TRIAD_HOOK).toBe('before');
    for (const name of Object.keys(env).filter((n) => n !== 'KEEP_ME')) expect(hookEnv[name], name).toBeUndefined();
    expect(Object.keys(hookEnv).filter((n) => /^(AWS|AZURE|GOOGLE)_/.test(n))).toEqual([]);
  }, 120_000);
});
