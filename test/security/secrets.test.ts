/**
 * Secrets never leak: a full scenario through the real CLI with distinctive passphrases and
 * cloud keys, then a search of everything it left behind — command output, catalogue (bytes
 * and rows), reports, units, webhook bodies, the journal (through a catalogue rebuilt from
 * it), the repository files, hook environments and the command lines of running processes.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { startFauxqs, type S3Emulator } from '../helpers/emulators.js';
import { startRecorder, type Recorder } from '../helpers/http-recorder.js';
import { ENTRY, ROOT, scratchDir, tempDir, triadAsync, writePolicy, type RunResult } from '../helpers/triad.js';

const SECRETS = {
  passphrase: 'pp-first-Zq7Wx3Kd9Lm2',
  newPassphrase: 'pp-second-Rt4Yn8Bv3Cj6',
  accessKeyId: 'AKIDLEAKTEST7Q9W2E4R',
  secretAccessKey: 'sk-leak-9Hh2Jd7Pq4Zz0Lx5Mc8Nv',
};

/** Every form in which a secret could be written: as is, base64, hex. */
function forms(secret: string): string[] {
  const b = Buffer.from(secret);
  return [secret, b.toString('base64').replace(/=+$/, ''), b.toString('hex')];
}

/** The artefacts (name → bytes) in which any form of any secret occurs. */
function leaks(artefacts: Map<string, Buffer>): string[] {
  const found: string[] = [];
  for (const [name, bytes] of artefacts) {
    const text = bytes.toString('latin1');
    for (const [which, secret] of Object.entries(SECRETS)) {
      for (const f of forms(secret)) if (text.includes(f)) found.push(`${which} in ${name}`);
    }
  }
  return found;
}

function filesUnder(dir: string, skip: (path: string) => boolean, out = new Map<string, Buffer>()): Map<string, Buffer> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (skip(p)) continue;
    if (statSync(p).isDirectory()) filesUnder(p, skip, out);
    else out.set(p, readFileSync(p));
  }
  return out;
}

/** Every row of every table of a SQLite file, as text (blobs as latin1). */
function sqliteDump(file: string): Buffer {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all() as { name: string; sql: string }[];
    const lines: string[] = [];
    for (const t of tables) {
      lines.push(t.sql);
      for (const row of db.prepare(`SELECT * FROM "${t.name}"`).raw().all() as unknown[][]) {
        lines.push(row.map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v))).join('|'));
      }
    }
    return Buffer.from(lines.join('\n'), 'latin1');
  } finally {
    db.close();
  }
}

/** Pids of a process and all its descendants, from /proc. */
function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // The process ended between the listing and the read.
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parent) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

/** Runs the CLI and samples the command lines of it and its children every few ms while it runs. */
function triadWatched(args: string[], env: Record<string, string>): Promise<RunResult & { cmdlines: Set<string> }> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [ENTRY, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env } });
    const cmdlines = new Set<string>();
    const sample = setInterval(() => {
      for (const pid of processTree(p.pid!)) {
        try {
          cmdlines.add(readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
        } catch {
          // Gone already.
        }
      }
    }, 5);
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', rej);
    p.on('close', (code) => {
      clearInterval(sample);
      res({ code: code ?? 1, stdout: out, stderr: err, cmdlines });
    });
  });
}

describe('secrets never leak', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('a full scenario leaves no passphrase or cloud key in any artefact', async () => {
    const work = scratchDir('triad-secrets-');
    cleanup.push(() => rmSync(work, { recursive: true, force: true }));
    const s3: S3Emulator = await startFauxqs();
    cleanup.push(() => s3.stop());
    const hook: Recorder = await startRecorder();
    cleanup.push(() => hook.close());

    const src = join(work, 'src');
    mkdirSync(src);
    for (let i = 0; i < 8; i++) writeFileSync(join(src, `f${i}.bin`), randomBytes(1024 * 1024));
    writeFileSync(join(src, 'notes.txt'), 'ordinary data');
    const creds = { [s3.credentialsEnv.access_key_id]: SECRETS.accessKeyId, [s3.credentialsEnv.secret_access_key]: SECRETS.secretAccessKey };
    const targets = {
      nas: { type: 'local', path: join(work, 'nas'), media: 'nas', offsite: false },
      usb: { type: 'local', path: join(work, 'usb'), media: 'removable', offsite: true },
      cloud: s3.policyFields(),
    };
    const extra = (encryption: Record<string, unknown>) => ({
      encryption,
      hooks: { before: [`env > ${join(work, 'hook-before.env')}`], after: [`env > ${join(work, 'hook-after.env')}`] },
      notify: { webhook: `${hook.base}/hook` },
      schedule: { backup: '0 * * * *', restore_test: '0 3 * * 0' },
    });
    const policy = writePolicy(work, { name: 'fin', sources: [src], targets, extra: extra({ passphrase_env: 'TRIAD_PASSPHRASE' }) });
    const env = { TRIAD_PASSPHRASE: SECRETS.passphrase, ...creds };

    const runs: [string, RunResult][] = [];
    const run = async (label: string, args: string[], e: Record<string, string> = env, expected = 0): Promise<RunResult> => {
      const r = await triadAsync(args, { env: e });
      runs.push([label, r]);
      expect(r.code, `${label}: ${r.stderr}`).toBe(expected);
      return r;
    };

    await run('init', ['init', '-p', policy]);
    const watched = await triadWatched(['backup', '-p', policy], env);
    runs.push(['backup (watched)', watched]);
    expect(watched.code, watched.stderr).toBe(0);
    expect([...watched.cmdlines].some((c) => c.includes(`backup\0-p\0${policy}`))).toBe(true);
    writeFileSync(join(src, 'notes.txt'), 'changed data');
    await run('backup --json', ['backup', '-p', policy, '--json', '-v']);
    mkdirSync(join(work, 'scratch'));
    await run('restore-test', ['restore-test', '-p', policy, '--files', '5', '--scratch', join(work, 'scratch'), '--json']);
    for (const format of ['table', 'json', 'markdown', 'html', 'prometheus']) {
      await run(`report ${format}`, ['report', '-p', policy, '--format', format, '--output', join(work, `report.${format}`)]);
    }
    await run('report stdout', ['report', '-p', policy]);
    mkdirSync(join(work, 'units'));
    await run('schedule install', ['schedule', 'install', '-p', policy, '--systemd', '--dir', join(work, 'units'), '--environment-file', join(work, 'triad.env')]);
    await run('schedule install --cron', ['schedule', 'install', '-p', policy, '--cron']);
    await run('key passwd', ['key', 'passwd', '-p', policy, '--new-passphrase-env', 'NEW_PASSPHRASE'], { ...env, NEW_PASSPHRASE: SECRETS.newPassphrase });

    // The rotated passphrase now comes from a command (its file is the one place it may be).
    const passFile = join(work, 'secret', 'pass');
    mkdirSync(join(work, 'secret'), { mode: 0o700 });
    writeFileSync(passFile, SECRETS.newPassphrase + '\n', { mode: 0o600 });
    mkdirSync(join(work, 'policy2'));
    const policy2 = writePolicy(join(work, 'policy2'), { name: 'fin', sources: [src], targets, extra: { ...extra({ passphrase_command: `cat ${passFile}` }), catalog: join(work, 'catalog.db') } });
    const env2 = { ...creds };
    await run('snapshots (command)', ['snapshots', '-p', policy2, '--json'], env2);
    const watched2 = await triadWatched(['backup', '-p', policy2, '--json'], env2);
    runs.push(['backup (command, watched)', watched2]);
    expect(watched2.code, watched2.stderr).toBe(0);
    await run('key list', ['key', 'list', '-p', policy2, '--json'], env2);
    await run('catalog rebuild', ['catalog', 'rebuild', '-p', policy2, '--target', 'nas', '--catalog', join(work, 'rebuilt', 'journal.db')], env2);
    await run('check', ['check', '-p', policy2], env2);

    await s3.stop();
    const failing = await run('backup, cloud stopped', ['backup', '-p', policy2, '--retry-for', '1s', '-v'], env2, 1);
    expect(failing.stderr + failing.stdout).toMatch(/cloud/);
    await run('backup, cloud stopped --json', ['backup', '-p', policy2, '--retry-for', '1s', '--json'], env2, 1);

    const artefacts = filesUnder(work, (p) => p === src || p === join(work, 'secret'));
    for (const db of ['catalog.db', join('rebuilt', 'journal.db')]) artefacts.set(`${db} rows`, sqliteDump(join(work, db)));
    for (const [label, r] of runs) {
      artefacts.set(`${label}: stdout`, Buffer.from(r.stdout));
      artefacts.set(`${label}: stderr`, Buffer.from(r.stderr));
    }
    for (const [i, c] of [...watched.cmdlines, ...watched2.cmdlines].entries()) artefacts.set(`process title ${i}: ${c.replaceAll('\0', ' ')}`, Buffer.from(c, 'latin1'));
    hook.received.forEach((h, i) => artefacts.set(`webhook ${i} ${h.path}`, Buffer.from(h.body)));

    // The search reaches what it must: each kind of artefact is there and not empty.
    const names = [...artefacts.keys()];
    for (const must of ['catalog.db', 'journal.db rows', 'report.html', 'report.json', 'report.markdown', 'triad-fin-backup.service', 'hook-before.env', 'hook-after.env', join('nas', 'keys'), join('nas', 'data'), 'webhook 0']) {
      expect(names.some((n) => n.includes(must)), must).toBe(true);
    }
    expect(hook.received.length).toBeGreaterThanOrEqual(3);
    expect(readFileSync(join(work, 'hook-after.env'), 'utf8')).toContain('TRIAD_RESULT=');
    // The journal was read: the rebuilt catalogue holds the runs.
    expect(sqliteDump(join(work, 'rebuilt', 'journal.db')).toString('latin1')).toContain('backup');

    expect(leaks(artefacts)).toEqual([]);
    // The test can see a leak: the passphrase file it wrote is found.
    expect(leaks(new Map([['pass', readFileSync(passFile)]]))).toEqual(['newPassphrase in pass']);
  }, 240_000);

  it('a passphrase_command that hangs is stopped after passphrase_command_timeout with a clear error (exit 1)', async () => {
    const work = tempDir();
    mkdirSync(join(work, 'src'));
    const policy = writePolicy(work, {
      sources: [join(work, 'src')],
      targets: { nas: { type: 'local', path: join(work, 'nas'), media: 'nas' } },
      rule: 'none',
      extra: { encryption: { passphrase_command: 'sleep 60', passphrase_command_timeout: '1s' } },
    });
    const started = performance.now();
    const r = await triadAsync(['snapshots', '-p', policy]);
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('passphrase command `sleep 60` did not finish within 1s and was stopped');
    expect(r.stderr).toContain('passphrase_command_timeout');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const json = await triadAsync(['snapshots', '-p', policy, '--json']);
    expect(json.code).toBe(1);
    expect(json.stdout + json.stderr).toContain('E_PASSPHRASE_UNAVAILABLE');
  }, 60_000);

  it('passphrase_command_timeout without passphrase_command is an invalid policy', async () => {
    const work = tempDir();
    const policy = writePolicy(work, { sources: ['/srv'], targets: { nas: { type: 'local', path: join(work, 'nas'), media: 'nas' } }, rule: 'none', extra: { encryption: { passphrase_env: 'X', passphrase_command_timeout: '1s' } } });
    const r = await triadAsync(['policy', 'check', policy]);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toContain('passphrase_command_timeout is set but the passphrase does not come from passphrase_command');
  });
});
