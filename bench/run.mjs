#!/usr/bin/env node
// `npm run bench`: triad against restic and borg on one deterministic corpus, same run,
// same machine state. See bench/README.md for the figures and how they are measured.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { applyChanges, diskUsage, ensureCorpus, revertChanges, treeStats, walk, warmCache } from './corpus.mjs';
import { detectGnuTime, killCurrent, method, forgetDeletions, run, settle } from './measure.mjs';
import { firstLine, tools } from './tools.mjs';
import { startS3 } from './s3.mjs';
import { printTables } from './report.mjs';
import { parseFlags } from './args.mjs';

const HERE = path.dirname(new URL(import.meta.url).pathname);

const USAGE = `usage: node bench/run.mjs [options]   (npm run bench -- [options])
  --small            ~100 MiB corpus instead of ~1 GiB (also TRIAD_BENCH_SCALE=small)
  --json FILE        also write every figure to FILE
  --tools LIST       comma-separated subset of triad,restic,borg (default: all available)
  --runs N           repeat each tool's scenarios N times and report medians (default 1)
  --no-s3            skip the upload scenario against the S3 emulator
  --verify           compare restored trees with the source byte for byte (untimed)
  --keep             keep repositories and restores in the work dir after the run
  --scale            the scale bench instead (bench/scale.mjs; --files N --history H, see --scale --help)
  --fleet            the fleet report bench instead (bench/fleet.mjs; --hosts N --snapshots S)
  --fleet-hosts H    the fleet bench instead (bench/fleet-hosts.mjs: H hosts into one fauxqs bucket; see --fleet-hosts 8 --help)
  --scenarios LIST   only these scenarios (keys as in SCENARIOS; backups they need still run, unrecorded)
environment: TRIAD_BENCH_DIR (default bench/.corpus) holds the cached corpus and the work dir.`;

// The fleet bench (bench/fleet.mjs): `fleet report` over many hosts' history in one repository.
if (process.argv.includes('--fleet')) {
  const { runFleet } = await import('./fleet.mjs');
  process.exit(await runFleet(process.argv.slice(2).filter((a) => a !== '--fleet')));
}

// The scale bench (bench/scale.mjs) is a run of its own: history length and file count, not tools.
// So is the fleet hosts bench (bench/fleet-hosts.mjs): hosts sharing one bucket.
if (process.argv.includes('--fleet-hosts')) {
  const { runFleet } = await import('./fleet-hosts.mjs');
  process.exit(await runFleet(process.argv.slice(2)));
}
if (process.argv.includes('--scale')) {
  const { runScale } = await import('./scale.mjs');
  process.exit(await runScale(process.argv.slice(2).filter((a) => a !== '--scale')));
}

function parseArgs(argv) {
  const o = { scale: process.env.TRIAD_BENCH_SCALE || 'full', json: null, tools: null, runs: 1, s3: true, verify: false, keep: false, scenarios: null };
  parseFlags(
    argv,
    {
      '--small': () => (o.scale = 'small'),
      '--full': () => (o.scale = 'full'),
      '--json': (value) => (o.json = value()),
      '--tools': (value) => (o.tools = value().split(',')),
      '--runs': (value) => (o.runs = Math.max(1, Number(value()) || 1)),
      '--no-s3': () => (o.s3 = false),
      '--verify': () => (o.verify = true),
      '--keep': () => (o.keep = true),
      '--scenarios': (value) => (o.scenarios = new Set(value().split(','))),
    },
    USAGE,
  );
  if (!['full', 'small'].includes(o.scale)) {
    console.error(`TRIAD_BENCH_SCALE must be "full" or "small", not "${o.scale}"`);
    process.exit(2);
  }
  if (o.json && !o.json.length) o.json = null;
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const log = (s = '') => console.log(s);
const root = path.resolve(process.env.TRIAD_BENCH_DIR || path.join(HERE, '.corpus'));
const workRoot = path.join(root, 'work');
const logDir = path.join(workRoot, 'logs');

export const SCENARIOS = [
  ['backup_first', 'first backup'],
  ['backup_nochange', 'backup, no change'],
  ['backup_change', 'backup after ~1% change'],
  ['restore', 'full restore'],
  ['check', 'check, read all data'],
  ['repo_size', 'repository size (MB)'],
  ['s3_upload', 'S3 upload, 3 big files'],
  // triad only: what reading part of a repository downloads (bytes-fetched column).
  ['restore_test_5', 'restore-test 5 %'],
  ['restore_include_1', 'restore --include 1 %'],
  ['s3_restore', 'restore from S3 (fauxqs)'],
];
/** Scenarios of triad alone: the peers have no counterpart measured here. */
const TRIAD_ONLY = new Set(['restore_test_5', 'restore_include_1', 's3_restore']);
const wantedScenario = (key) => !opts.scenarios || opts.scenarios.has(key);

// ---- interruption: put the corpus back, stop the emulator, kill the measured command ----
let corpus = null;
let s3 = null;
let edited = false;
let interrupted = false;
async function cleanupAndExit(code) {
  if (interrupted) process.exit(code);
  interrupted = true;
  killCurrent();
  if (edited && corpus) revertChanges(corpus.dir);
  if (s3 && !s3.error) await s3.stop().catch(() => {});
  try {
    log('\ninterrupted: figures so far');
    finish();
  } catch {
    /* interrupted before anything was measured */
  }
  process.exit(code);
}
process.on('SIGINT', () => cleanupAndExit(130));
process.on('SIGTERM', () => cleanupAndExit(143));

// ---- header ----
const machine = {
  nproc: os.availableParallelism(),
  cpu: os.cpus()[0]?.model ?? 'unknown',
  mem_gib: +(os.totalmem() / 2 ** 30).toFixed(1),
  node: process.version,
  kernel: os.release(),
  time: detectGnuTime() ?? 'GNU time not found (apt-get install -y time)',
};
log(`triad bench — ${new Date().toISOString()}`);
log(`machine: ${machine.nproc} CPUs (${machine.cpu}), ${machine.mem_gib} GiB RAM, node ${machine.node}, kernel ${machine.kernel}`);
log(`measured with: ${method}`);
const load = os.loadavg()[0];
machine.load1_at_start = load;
if (load > machine.nproc * 0.5) log(`WARNING: load average ${load.toFixed(1)} on ${machine.nproc} CPUs — other work is running; absolute times will be inflated (ratios of one run hold better)`);

corpus = ensureCorpus(root, opts.scale, log);
const base = corpus.manifest;
log(`corpus: ${corpus.scale}, ${corpus.kind === 'linux' ? `Linux 6.1 tree (linux-source-6.1 ${base.key.linuxPackage}), files ≤ 100 KiB` : 'GENERATED source-like tree'} + 3 mixed files`);
log(`        ${base.files} files, ${base.dirs} dirs, ${base.symlinks} symlinks, ${(base.bytes / 1e6).toFixed(0)} MB (${(base.bytes / 2 ** 30).toFixed(2)} GiB) in ${corpus.src}`);

// ---- tools ----
const wanted = opts.tools ?? Object.keys(tools);
const avail = {};
for (const name of wanted) {
  if (!tools[name]) {
    console.error(`unknown tool ${name}`);
    process.exit(2);
  }
  avail[name] = tools[name].detect();
  log(`${name.padEnd(7)}: ${avail[name].ok ? avail[name].version : `not run — ${avail[name].reason}`}`);
}
log();

fs.rmSync(workRoot, { recursive: true, force: true });
fs.mkdirSync(logDir, { recursive: true });

let changes = '';
const results = {}; // tool → scenario → [measurement]
const notes = {}; // tool → [text]
const note = (tool, s) => {
  (notes[tool] ??= []).push(s);
  log(`  ${tool}: ${s}`);
};
const record = (tool, key, m) => ((results[tool] ??= {})[key] ??= []).push(m);

function fmtStep(tool, key, m, bytes) {
  if (m.exit !== 0 && !m.partial) {
    const why = firstLine(m.stderr) || firstLine(m.stdout) || 'no output';
    return `  ${tool.padEnd(6)} ${key.padEnd(16)} FAILED (exit ${m.exit}) ${why}`;
  }
  const rate = bytes ? `${(bytes / 1e6 / m.wall_s).toFixed(0).padStart(5)} MB/s` : '';
  return `  ${tool.padEnd(6)} ${key.padEnd(16)} ${m.wall_s.toFixed(2).padStart(7)} s ${rate}  cpu ${m.cpu_s.toFixed(1)} s  rss ${m.peak_rss_mib.toFixed(0)} MiB${m.partial ? `  PARTIAL (exit 3): ${m.partial}` : ''}`;
}

async function step(tool, key, spec, bytes, runTag) {
  settle();
  const m = await run(spec.cmd, spec.args, { cwd: spec.cwd, env: spec.env, logDir, name: `${tool}${runTag}-${key}` });
  m.bytes = bytes;
  // exit 3 = snapshot completed but some files were not read: figures kept, flagged partial
  if (m.exit === 3 && (key.startsWith('backup') || key === 's3_upload')) m.partial = firstLine(m.stderr) || 'exit 3';
  if ((m.exit === 0 || m.partial) && bytes) m.mb_per_s = bytes / 1e6 / m.wall_s;
  if (m.exit !== 0) {
    m.error = firstLine(m.stderr) || firstLine(m.stdout) || `exit ${m.exit}`;
    m.stderr_tail = m.stderr.trim().split('\n').slice(-8).join('\n');
  }
  if (tool === 'triad' && TRIAD_ONLY.has(key) && m.stdout.trim().startsWith('{')) {
    // The whole result (m.stdout holds only its head).
    fetchedFigures(m, JSON.parse(fs.readFileSync(path.join(logDir, `${tool}${runTag}-${key}.out`), 'utf8')));
  }
  if ((key.startsWith('backup') || key === 's3_upload') && tool === 'triad' && m.exit === 0) {
    try {
      m.summary = JSON.parse(m.stdout);
    } catch {
      /* not JSON: keep the raw log */
    }
  }
  delete m.stdout;
  delete m.stderr;
  log(fmtStep(tool, key, { ...m, stderr: m.error }, bytes));
  record(tool, key, m);
  return m;
}

/** Bytes fetched and requests made, from a triad restore or restore-test --json result. */
function fetchedFigures(m, r) {
  const targets = r.targets ?? [r];
  m.fetched_mb = targets.reduce((n, t) => n + (t.bytesFetched ?? 0), 0) / 1e6;
  m.requests = targets.reduce((n, t) => n + (t.requests ?? 0), 0);
  if (r.sample) m.needed_mb = r.sample.bytes / 1e6;
}

/** The directory in a restore that corresponds to the source root (tools lay it out differently). */
function restoredRoot(dir, src) {
  const marker = fs.readdirSync(path.join(src, 'tree')).sort()[0];
  const isRoot = (d) => fs.existsSync(path.join(d, 'tree', marker));
  // breadth-first, so a "tree" dir deep inside the corpus cannot be taken for the root
  let level = [dir];
  for (let depth = 0; depth < 16 && level.length; depth++) {
    const next = [];
    for (const d of level) {
      if (isRoot(d)) return d;
      try {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) next.push(path.join(d, e.name));
      } catch {
        /* unreadable */
      }
    }
    level = next;
  }
  return null;
}

let warnedCache = false;
async function localSequence(tool, runTag) {
  const work = path.join(workRoot, `${tool}${runTag}`);
  fs.mkdirSync(work, { recursive: true });
  const t = tools[tool].setup(work, corpus.src);
  if (!forgetDeletions() && !warnedCache) {
    warnedCache = true;
    log('WARNING: could not drop the page cache (needs root): restores may be slowed by the files deleted before them (bench/README.md)');
  }
  warmCache(corpus.src);
  try {
    settle();
    const spec = t.init();
    const init = await run(spec.cmd, spec.args, { ...spec, logDir, name: `${tool}${runTag}-init` });
    if (init.exit !== 0) {
      const why = firstLine(init.stderr) || firstLine(init.stdout) || `exit ${init.exit}`;
      note(tool, `init failed (exit ${init.exit}): ${why} — its local scenarios are skipped`);
      for (const [key] of SCENARIOS.slice(0, 6)) record(tool, key, { exit: init.exit, error: `init failed: ${why}` });
      return;
    }
    await step(tool, 'backup_first', t.backup(), base.bytes, runTag);
    const firstSize = diskUsage(t.repo);
    if (tool === 'triad') await partialReads(t, work, runTag);
    if (opts.scenarios && !['backup_nochange', 'backup_change', 'restore', 'check', 'repo_size'].some(wantedScenario)) return;
    await step(tool, 'backup_nochange', t.backup(), base.bytes, runTag);
    edited = true;
    const change = applyChanges(corpus);
    changes = change.text;
    const after = treeStats(corpus.src);
    await step(tool, 'backup_change', t.backup(), after.bytes, runTag);

    const restoreDir = path.join(work, 'restore');
    fs.mkdirSync(restoreDir);
    const r = await step(tool, 'restore', t.restore(restoreDir), after.bytes, runTag);
    if (r.exit === 0) {
      const rr = restoredRoot(restoreDir, corpus.src);
      if (!rr) note(tool, 'restore: the source tree was not found in the restore directory');
      else {
        const got = treeStats(rr);
        const same = got.files === after.files && got.bytes === after.bytes && got.symlinks === after.symlinks;
        r.verified = same ? 'counts' : 'MISMATCH';
        if (!same) note(tool, `restore MISMATCH: ${got.files} files / ${got.bytes} bytes / ${got.symlinks} symlinks restored, expected ${after.files} / ${after.bytes} / ${after.symlinks}`);
        if (same && opts.verify) {
          const d = spawnSync('diff', ['-r', '-q', '--no-dereference', corpus.src, rr], { encoding: 'utf8', maxBuffer: 1 << 26 });
          r.verified = d.status === 0 ? 'bytes' : 'DIFFERS';
          if (d.status !== 0) note(tool, `restore differs from the source: ${firstLine(d.stdout) || firstLine(d.stderr)}`);
        }
      }
    }
    fs.rmSync(restoreDir, { recursive: true, force: true });
    revertChanges(corpus.dir);
    edited = false;

    await step(tool, 'check', t.check(), after.bytes, runTag);
    const size = diskUsage(t.repo);
    record(tool, 'repo_size', { exit: 0, size_mb: size.apparent / 1e6, disk_mb: size.disk / 1e6, after_first_mb: firstSize.apparent / 1e6 });
    log(`  ${tool.padEnd(6)} ${'repo_size'.padEnd(16)} ${(size.apparent / 1e6).toFixed(0).padStart(7)} MB after 3 backups (${(firstSize.apparent / 1e6).toFixed(0)} MB after the first)`);
  } catch (e) {
    note(tool, `harness error: ${e.stack ?? e}`);
  } finally {
    if (edited) revertChanges(corpus.dir);
    edited = false;
    if (!opts.keep) fs.rmSync(work, { recursive: true, force: true });
  }
}

/** restore-test of 5 % and restore --include of 1 % of the files, on the first backup. */
async function partialReads(t, work, runTag) {
  if (wantedScenario('restore_test_5')) {
    const scratch = path.join(work, 'scratch');
    fs.mkdirSync(scratch, { recursive: true });
    await step('triad', 'restore_test_5', t.restoreTest('5%', scratch), undefined, runTag);
  }
  if (wantedScenario('restore_include_1')) {
    const files = [];
    walk(corpus.src, (rel, e) => {
      if (e.isFile()) files.push(rel);
    });
    const chosen = files.filter((_, i) => i % 100 === 50);
    const needed = chosen.reduce((n, rel) => n + fs.statSync(path.join(corpus.src, rel)).size, 0);
    const dir = path.join(work, 'restore-include');
    fs.mkdirSync(dir);
    const m = await step('triad', 'restore_include_1', t.restoreJson(dir, chosen.map((rel) => path.join(corpus.src, rel))), needed, runTag);
    m.needed_mb = needed / 1e6;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function s3Sequence(tool, runTag) {
  const work = path.join(workRoot, `${tool}${runTag}-s3`);
  fs.mkdirSync(work, { recursive: true });
  const skip = (why) => {
    record(tool, 's3_upload', { exit: -1, skipped: why });
    log(`  ${tool.padEnd(6)} ${'s3_upload'.padEnd(16)} skipped: ${why}`);
  };
  s3 = await startS3();
  try {
    if (s3.error) return skip(s3.error);
    const bucket = `${tool}-bench`;
    s3.bucket(bucket);
    const t = tools[tool].setup(work, corpus.bigDir, { type: 's3', bucket, prefix: 'bench/', endpoint: s3.endpoint });
    if (!t) return;
    const bytes = corpus.big.reduce((n, f) => n + fs.statSync(f).size, 0);
    const spec = t.init();
    const init = await run(spec.cmd, spec.args, { ...spec, logDir, name: `${tool}${runTag}-s3-init` });
    if (init.exit !== 0) return skip(firstLine(init.stderr) || firstLine(init.stdout) || `init exit ${init.exit}`);
    const m = await step(tool, 's3_upload', t.backup(), bytes, runTag);
    if (tool === 'triad' && m.exit === 0 && wantedScenario('s3_restore')) {
      const dir = path.join(work, 'restore');
      fs.mkdirSync(dir);
      const r = await step(tool, 's3_restore', t.restoreJson(dir), bytes, runTag);
      // Everything the backup wrote to the bucket (packs, index, snapshot): the most a restore may need.
      r.stored_mb = (m.summary?.targets ?? []).reduce((n, x) => n + (x.bytesWritten ?? 0), 0) / 1e6;
      fs.rmSync(dir, { recursive: true, force: true });
    }
    if (m.exit !== 0 && !m.partial && tool === 'triad' && /not (yet )?(supported|implemented)|unsupported|unknown target type/i.test(m.error)) {
      // an s3 target the CLI does not support yet is a skip, not a benchmark failure
      const r = results[tool].s3_upload;
      r[r.length - 1] = { exit: -1, skipped: firstLine(m.error) };
    }
  } catch (e) {
    skip(`harness error: ${e.message}`);
  } finally {
    if (!s3.error) await s3.stop().catch(() => {});
    s3 = null;
    if (!opts.keep) fs.rmSync(work, { recursive: true, force: true });
  }
}

const ran = Object.keys(avail).filter((n) => avail[n].ok);
for (let i = 1; i <= opts.runs; i++) {
  const runTag = opts.runs > 1 ? `-run${i}` : '';
  if (opts.runs > 1) log(`--- run ${i} of ${opts.runs}`);
  // Every other run takes the tools in reverse order: a tool's restore is slower right after
  // another tool's files were deleted (see bench/README.md), so no tool always comes second.
  for (const tool of i % 2 === 1 ? ran : [...ran].reverse()) {
    log(`${tool}: local target`);
    await localSequence(tool, runTag);
  }
  if (opts.s3) {
    for (const tool of ran.filter((t) => t !== 'borg')) {
      log(`${tool}: S3 emulator target (source: the 3 big files)`);
      await s3Sequence(tool, runTag);
    }
  }
}
log();
log(`~1% change: ${changes}`);

finish();

function finish() {
  const summary = printTables({ results, avail, scenarios: SCENARIOS, log });
  for (const [tool, list] of Object.entries(notes)) for (const n of list) log(`note (${tool}): ${n.split('\n')[0]}`);
  log(`logs of every command: ${logDir}`);
  if (!opts.json) return;
  const out = {
    generated_at: new Date().toISOString(),
    machine,
    method,
    corpus: { scale: corpus.scale, kind: corpus.kind, dir: corpus.src, ...base },
    change: changes,
    runs: opts.runs,
    complete: !interrupted,
    tools: Object.fromEntries(Object.entries(avail).map(([n, a]) => [n, { ...a, scenarios: results[n] ?? {}, notes: notes[n] ?? [] }])),
    summary,
  };
  fs.writeFileSync(opts.json, JSON.stringify(out, null, 2) + '\n');
  log(`figures written to ${opts.json}`);
}
