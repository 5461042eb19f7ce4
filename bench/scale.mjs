// `npm run bench -- --scale [--files N] [--history H]`: how triad's costs grow with the number
// of files and the length of the history. A deterministic tree of N small files in nested
// directories; a first backup; H backups one hour apart (`backup --time`), each after changing
// ~0.2 % of the files, and one more without change; per backup: wall, CPU, peak RSS, catalogue
// and repository bytes added.
// Then `report` and `restore-test` over that history, a `forget` of half the snapshots and the
// catalogue size after it; restic's first and no-change backups of the same tree when installed.
// Part two: one year of hourly runs (8,760) put in a catalogue through its own API, and the
// times of `report` and `status --nagios` over them (the policy's 30-day window), and of a
// `report --window 400d` that evaluates the whole year.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { parseFlags, wholeNumber } from './args.mjs';
import { run, method } from './measure.mjs';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const ROOT = path.resolve(HERE, '..');
const BIN = path.join(ROOT, 'bin', 'triad');
const T0 = Date.parse('2026-01-01T00:00:00Z');
const HOUR = 3_600_000;
const PASSPHRASE = 'scale bench passphrase';

const USAGE = `usage: npm run bench -- --scale [--files N] [--history H] [--year-runs N] [--no-restic] [--keep]
  --files N       files in the generated tree (default 1000000)
  --history H     backups after the first, one hour apart, ~0.2 % of files changed before each (default 50)
  --year-runs N   hourly runs inserted for part two (default 8760)
environment: TRIAD_BENCH_DIR (default bench/.corpus) holds the work dir (bench/.corpus/scale).`;

function parseArgs(argv) {
  const o = { files: 1_000_000, history: 50, yearRuns: 8760, restic: true, keep: false };
  const whole = (v, name) => wholeNumber(v, name, 0, USAGE);
  parseFlags(
    argv,
    {
      '--files': (value) => (o.files = Math.max(1, whole(value(), '--files'))),
      '--history': (value) => (o.history = whole(value(), '--history')),
      '--year-runs': (value) => (o.yearRuns = whole(value(), '--year-runs')),
      '--no-restic': () => (o.restic = false),
      '--keep': () => (o.keep = true),
    },
    USAGE,
  );
  return o;
}

/** The relative path of file i: 100 files per directory, 100 directories per parent. */
function fileRel(i) {
  const pad = (n, w) => String(n).padStart(w, '0');
  return path.join(`d${pad(Math.floor(i / 10_000), 3)}`, `d${pad(Math.floor(i / 100) % 100, 2)}`, `f${pad(i % 100, 2)}.txt`);
}

/** A small deterministic content for file i at version v (50 to ~550 bytes). */
function content(i, v) {
  const line = `file ${i} version ${v}\n`;
  return line.repeat(1 + ((i * 2654435761) >>> 0) % Math.ceil(500 / line.length));
}

/** Whether backup h (1-based) changes file i: ~0.2 % of the files, a different set each time. */
function changedAt(i, h) {
  return (((i + 1) * 2246822519 + h * 3266489917) >>> 0) % 500 === 0;
}

function generate(src, n) {
  fs.rmSync(src, { recursive: true, force: true });
  let dir = '';
  const mtime = new Date(T0 - 24 * HOUR);
  for (let i = 0; i < n; i++) {
    const file = path.join(src, fileRel(i));
    if (path.dirname(file) !== dir) fs.mkdirSync((dir = path.dirname(file)), { recursive: true });
    fs.writeFileSync(file, content(i, 0));
    fs.utimesSync(file, mtime, mtime);
  }
}

function change(src, n, h) {
  let changed = 0;
  const mtime = new Date(T0 + h * HOUR - HOUR / 2);
  for (let i = 0; i < n; i++) {
    if (!changedAt(i, h)) continue;
    const file = path.join(src, fileRel(i));
    fs.writeFileSync(file, content(i, h));
    fs.utimesSync(file, mtime, mtime);
    changed++;
  }
  return changed;
}

function duBytes(dir) {
  let total = 0;
  const visit = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) visit(p);
      else if (e.isFile()) total += fs.statSync(p).size;
    }
  };
  if (fs.existsSync(dir)) visit(dir);
  return total;
}

/** The catalogue's size once its WAL is folded in: the file, and the bytes of pages in use. */
function catalogueSize(file) {
  const db = new Database(file);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
    const page = db.pragma('page_size', { simple: true });
    const pages = db.pragma('page_count', { simple: true });
    const free = db.pragma('freelist_count', { simple: true });
    const tables = Object.fromEntries(db.prepare("SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC LIMIT 6").all().map((r) => [r.name, r.bytes]));
    return { file: fs.statSync(file).size, used: (pages - free) * page, tables };
  } catch {
    return { file: fs.statSync(file).size, used: fs.statSync(file).size, tables: {} };
  } finally {
    db.close();
  }
}

const mib = (b) => (b / 1048576).toFixed(1);
const fmt = (m) => `wall ${m.wall_s.toFixed(2)} s  cpu ${m.cpu_s?.toFixed(2) ?? '?'} s  peak ${m.peak_rss_mib.toFixed(0)} MiB`;

function writePolicy(file, o) {
  fs.writeFileSync(
    file,
    [
      'version: 1',
      `policy: ${o.name}`,
      `catalog: ${o.catalog}`,
      'sources:',
      `  - path: ${JSON.stringify(o.src)}`,
      'encryption:',
      '  passphrase_env: TRIAD_SCALE_PASSPHRASE',
      'targets:',
      '  nas:',
      '    type: local',
      `    path: ${JSON.stringify(o.repo)}`,
      '    media: nas',
      '    offsite: false',
      'rule: none',
      'objectives: {rpo: 2h, rto: 4h, window: 30d}',
      `retention: {keep_last: ${o.keepLast}}`,
      '',
    ].join('\n'),
  );
}

export async function runScale(argv) {
  const o = parseArgs(argv);
  const root = path.resolve(process.env.TRIAD_BENCH_DIR || path.join(HERE, '.corpus'), 'scale');
  const src = path.join(root, 'src');
  const repo = path.join(root, 'nas');
  const catalog = path.join(root, 'catalog.db');
  const logDir = path.join(root, 'logs');
  for (const p of [repo, catalog, `${catalog}-wal`, `${catalog}-shm`, path.join(root, 'restic'), logDir]) fs.rmSync(p, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? root, TRIAD_SCALE_PASSPHRASE: PASSPHRASE };
  const policy = path.join(root, 'scale.yaml');
  writePolicy(policy, { name: 'scale', catalog, src, repo, keepLast: Math.ceil((o.history + 1) / 2) });
  const triad = (name, args) => run(process.execPath, [BIN, ...args], { cwd: root, env, logDir, name });
  const must = (m, what) => {
    if (m.exit !== 0) throw new Error(`${what} exited ${m.exit}: ${m.stderr.slice(0, 2000)}`);
    return m;
  };

  console.log(`scale bench: ${o.files} files, ${o.history} backups after the first; measured with ${method}`);
  let t = Date.now();
  generate(src, o.files);
  console.log(`tree generated in ${((Date.now() - t) / 1000).toFixed(1)} s under ${src}`);
  must(await triad('init', ['init', '-p', policy]), 'init');

  const rows = [];
  let cat = 0;
  let rep = duBytes(repo);
  let firstCatalogue = 0;
  for (let h = 0; h <= o.history; h++) {
    const changed = h === 0 ? o.files : change(src, o.files, h);
    const at = new Date(T0 + h * HOUR).toISOString();
    const m = must(await triad(`backup-${h}`, ['backup', '-p', policy, '--time', at, '--quiet']), `backup ${h}`);
    const size = catalogueSize(catalog);
    const repNow = duBytes(repo);
    const row = { h, changed, wall_s: m.wall_s, cpu_s: m.cpu_s, peak_rss_mib: m.peak_rss_mib, catalogue_added: size.used - cat, repository_added: repNow - rep, catalogue: size.used };
    rows.push(row);
    if (h === 0) {
      firstCatalogue = size.used;
      console.log(`catalogue after the first backup: ${mib(size.used)} MiB, ${(size.used / o.files).toFixed(1)} bytes per file; largest: ${JSON.stringify(size.tables)}`);
    }
    cat = size.used;
    rep = repNow;
    console.log(`backup ${String(h).padStart(3)}  changed ${String(changed).padStart(8)}  ${fmt(m)}  catalogue +${row.catalogue_added} B  repository +${row.repository_added} B`);
  }
  const noChangeAt = new Date(T0 + (o.history + 1) * HOUR).toISOString();
  const same = must(await triad('backup-no-change', ['backup', '-p', policy, '--time', noChangeAt, '--quiet']), 'no-change backup');
  const sameSize = catalogueSize(catalog);
  console.log(`no-change backup: ${fmt(same)}  catalogue +${sameSize.used - cat} B  repository +${duBytes(repo) - rep} B`);
  const last = sameSize;
  console.log(`catalogue after ${o.history + 1} more backups: ${mib(last.used)} MiB = ${(last.used / firstCatalogue).toFixed(3)} × after the first; largest: ${JSON.stringify(last.tables)}`);

  const report = await triad('report', ['report', '-p', policy, '--json']);
  console.log(`report: ${fmt(report)} (exit ${report.exit})`);
  const rt = await triad('restore-test', ['restore-test', '-p', policy, '--files', '100', '--seed', '1', '--snapshots', 'random:2']);
  console.log(`restore-test (100 files of 2 snapshots): ${fmt(rt)} (exit ${rt.exit})`);
  const forget = must(await triad('forget', ['forget', '-p', policy]), 'forget');
  const after = catalogueSize(catalog);
  console.log(`forget of half: ${fmt(forget)}; catalogue after: ${mib(after.used)} MiB in use (file ${mib(after.file)} MiB)`);

  if (o.restic && spawnSync('restic', ['version']).status === 0) {
    const rEnv = { ...env, RESTIC_PASSWORD: PASSPHRASE, RESTIC_REPOSITORY: path.join(root, 'restic') };
    const restic = (name, args) => run('restic', args, { cwd: root, env: rEnv, logDir, name });
    must(await restic('restic-init', ['init']), 'restic init');
    const first = must(await restic('restic-first', ['backup', '--quiet', src]), 'restic backup');
    const again = must(await restic('restic-nochange', ['backup', '--quiet', src]), 'restic backup');
    console.log(`restic first backup: ${fmt(first)}\nrestic no-change backup: ${fmt(again)}`);
  } else console.log('restic: not run (not installed, or --no-restic)');

  await yearOfRuns(root, env, logDir, o.yearRuns);
  if (!o.keep) fs.rmSync(path.join(root, 'restic'), { recursive: true, force: true });
  return 0;
}

/** Part two: hourly snapshots and runs for a year, put in through the catalogue's API; then report and status over them. */
async function yearOfRuns(root, env, logDir, n) {
  const { openCatalog } = await import(path.join(ROOT, 'dist', 'catalog', 'index.js'));
  const file = path.join(root, 'year.db');
  for (const p of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(p, { force: true });
  const policy = path.join(root, 'year.yaml');
  writePolicy(policy, { name: 'year', catalog: file, src: path.join(root, 'src'), repo: path.join(root, 'nas'), keepLast: 1 });
  const cat = openCatalog(file);
  const t = Date.now();
  try {
    cat.upsertTarget({ policy: 'year', name: 'nas', type: 'local', location: path.join(root, 'nas'), media: 'nas', offsite: false });
    const start = Date.now() - n * HOUR;
    cat.transaction(() => {
      for (let i = 0; i < n; i++) {
        const at = new Date(start + i * HOUR);
        const done = new Date(start + i * HOUR + 60_000);
        const id = (i.toString(16).padStart(8, '0') + 'ab'.repeat(28)).slice(0, 64);
        const run = cat.startRun({ policy: 'year', kind: 'backup', target: null, started_at: at, details: { targets: ['nas'] } });
        cat.upsertSnapshot({ id, policy: 'year', host: 'bench', paths: ['/srv'], time: at, finished_at: done, tree: 'cd'.repeat(32), files: 1000, dirs: 10, bytes: 1 << 20 });
        cat.markComplete(id, 'nas', done);
        cat.finishRun(run, { finished_at: done, status: 'ok', exit_code: 0, files: 1000, bytes_read: 1 << 20, bytes_written: 4096, details: { targets: ['nas'], snapshot: id } });
      }
    });
  } finally {
    cat.close();
  }
  console.log(`year of runs: ${n} hourly snapshots and runs inserted in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const triad = (name, args) => run(process.execPath, [BIN, ...args], { cwd: root, env, logDir, name });
  const report = await triad('year-report', ['report', '-p', policy, '--json']);
  console.log(`year of runs: report ${fmt(report)} (exit ${report.exit})`);
  const status = await triad('year-status', ['status', '-p', policy, '--nagios']);
  console.log(`year of runs: status --nagios ${fmt(status)} (exit ${status.exit}): ${status.stdout.split('\n')[0].slice(0, 160)}`);
  const whole = await triad('year-report-400d', ['report', '-p', policy, '--json', '--window', '400d']);
  console.log(`year of runs: report --window 400d (the whole year) ${fmt(whole)} (exit ${whole.exit})`);
}
