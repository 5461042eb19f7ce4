// `npm run bench -- --fleet-hosts 8 [--files N] [--backups B]`: several hosts sharing one
// bucket (fauxqs, in this process). Part one: each host backs up a small tree of its own
// (N files, a fifth of them the same on every host) alone into a bucket prefix of its own,
// then all hosts at once into one shared prefix: total throughput against one host alone.
// Part two: B more backups per host into the shared repository (each after changing one
// file, all hosts at once), then the time to load the index (list index/, load and merge
// every file) before and after the compaction `prune` does.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { parseFlags, wholeNumber } from './args.mjs';
import { startS3 } from './s3.mjs';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const ROOT = path.resolve(HERE, '..');
const BIN = path.join(ROOT, 'bin', 'triad');
const PASSPHRASE = 'fleet bench passphrase';
const BUCKET = 'fleet';

const USAGE = `usage: npm run bench -- --fleet-hosts H [--files N] [--backups B] [--keep]
  --fleet-hosts H  hosts backing up at once (default 8)
  --files N        files in each host's tree (default 500; a fifth the same on every host)
  --backups B      backups per host for the index part (default 50)
environment: TRIAD_BENCH_DIR (default bench/.corpus) holds the work dir (bench/.corpus/fleet-hosts).`;

function parseArgs(argv) {
  const o = { hosts: 8, files: 500, backups: 50, keep: false };
  const whole = (v, name) => wholeNumber(v, name, 1, USAGE);
  parseFlags(
    argv,
    {
      '--fleet-hosts': (value) => (o.hosts = whole(value(), '--fleet-hosts')),
      '--files': (value) => (o.files = whole(value(), '--files')),
      '--backups': (value) => (o.backups = whole(value(), '--backups')),
      '--keep': () => (o.keep = true),
    },
    USAGE,
  );
  return o;
}

/** A small deterministic file: ~1-4 KiB, the same on every host when `shared`. */
function content(host, i, shared) {
  const line = shared ? `shared file ${i}\n` : `host ${host} file ${i}\n`;
  return line.repeat(Math.ceil((1024 + ((i * 2654435761) >>> 0) % 3072) / line.length));
}

/** The tree of one host: N files, every fifth one the same on every host; its byte count. */
function generate(src, host, n) {
  fs.rmSync(src, { recursive: true, force: true });
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const dir = path.join(src, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) fs.mkdirSync(dir, { recursive: true });
    const data = content(host, i, i % 5 === 0);
    fs.writeFileSync(path.join(dir, `f${i}.txt`), data);
    bytes += data.length;
  }
  return bytes;
}

function policyFile(work, host, src, endpoint, prefix) {
  const file = path.join(work, host, `${prefix.replace(/\/$/, '')}.yaml`);
  const doc = {
    version: 1,
    policy: 'fleet',
    host,
    catalog: path.join(work, host, `${prefix.replace(/\/$/, '')}.db`),
    sources: [{ path: src }],
    encryption: { passphrase_env: 'TRIAD_BENCH_PASSPHRASE' },
    targets: { cloud: { type: 's3', bucket: BUCKET, prefix, endpoint, region: 'us-east-1', credentials_env: { access_key_id: 'BENCH_AK', secret_access_key: 'BENCH_SK' }, media: 'object-storage', offsite: true } },
    rule: 'none',
  };
  // JSON is valid YAML.
  fs.writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  return file;
}

const ENV = { ...process.env, TRIAD_BENCH_PASSPHRASE: PASSPHRASE, BENCH_AK: 'bench', BENCH_SK: 'bench-secret', NO_COLOR: '1' };

/** Runs triad; resolves with its wall time in ms, rejects with its stderr on a non-zero exit. */
function triad(args) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [BIN, ...args], { env: ENV, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`triad ${args.join(' ')}: exit ${code}\n${err}`))));
  });
}

/** Index files in the shared repository, and the time to load the index, in this process. */
async function indexLoad(endpoint, prefix) {
  const { openStorage } = await import(path.join(ROOT, 'dist/backends/open.js'));
  const { Repository } = await import(path.join(ROOT, 'dist/repo/repository.js'));
  const { MasterIndex } = await import(path.join(ROOT, 'dist/repo/index/index.js'));
  const target = { name: 'cloud', type: 's3', bucket: BUCKET, prefix, endpoint, region: 'us-east-1', credentials_env: { access_key_id: 'BENCH_AK', secret_access_key: 'BENCH_SK' }, media: 'object-storage', offsite: true, immutable: false, upload_limit: 0 };
  const storage = await openStorage(target, { env: ENV });
  try {
    const repo = await Repository.open('cloud', storage, PASSPHRASE);
    let files = 0;
    for await (const _ of storage.list('index/')) files++;
    const t0 = performance.now();
    const index = await MasterIndex.load(repo);
    return { files, ms: performance.now() - t0, packs: index.packs.size };
  } finally {
    await storage.close();
  }
}

const mib = (b) => (b / 1048576).toFixed(2);
const rate = (bytes, ms) => `${(bytes / 1048576 / (ms / 1000)).toFixed(2)} MiB/s`;

export async function runFleet(argv) {
  const o = parseArgs(argv);
  const base = process.env.TRIAD_BENCH_DIR ? path.resolve(process.env.TRIAD_BENCH_DIR) : path.join(HERE, '.corpus');
  const work = path.join(base, 'fleet-hosts');
  fs.rmSync(work, { recursive: true, force: true });
  const s3 = await startS3();
  if (s3.error) {
    console.error(s3.error);
    return 1;
  }
  try {
    await s3.bucket(BUCKET);
    const hosts = Array.from({ length: o.hosts }, (_, i) => `host${i + 1}`);
    const trees = new Map();
    for (const h of hosts) {
      const src = path.join(work, h, 'src');
      trees.set(h, { src, bytes: generate(src, h, o.files) });
    }
    const total = [...trees.values()].reduce((a, t) => a + t.bytes, 0);
    console.log(`fleet bench: ${o.hosts} hosts, ${o.files} files each (${mib(total / o.hosts)} MiB per host, a fifth shared), fauxqs`);

    // Part one: one host alone (each in a repository of its own, the median), then all at once.
    const alone = [];
    for (const h of hosts.slice(0, Math.min(3, hosts.length))) {
      const policy = policyFile(work, h, trees.get(h).src, s3.endpoint, `solo-${h}/`);
      await triad(['init', '-p', policy]);
      alone.push(await triad(['backup', '-p', policy]));
    }
    const oneMs = alone.sort((a, b) => a - b)[alone.length >> 1];
    const shared = hosts.map((h) => policyFile(work, h, trees.get(h).src, s3.endpoint, 'shared/'));
    await triad(['init', '-p', shared[0]]);
    const t0 = performance.now();
    await Promise.all(shared.map((p) => triad(['backup', '-p', p])));
    const allMs = performance.now() - t0;
    const oneBytes = trees.get(hosts[0]).bytes;
    console.log(`one host alone:      ${(oneMs / 1000).toFixed(1)} s for ${mib(oneBytes)} MiB, ${rate(oneBytes, oneMs)}`);
    console.log(`${o.hosts} hosts at once:    ${(allMs / 1000).toFixed(1)} s for ${mib(total)} MiB, ${rate(total, allMs)} (${(oneBytes / oneMs > 0 ? total / allMs / (oneBytes / oneMs) : 0).toFixed(2)}x one host)`);

    // Part two: B backups per host (all hosts at once each time), then the index before and after prune.
    for (let b = 1; b < o.backups; b++) {
      for (const h of hosts) fs.writeFileSync(path.join(trees.get(h).src, 'changed.txt'), `${h} backup ${b}\n`);
      await Promise.all(shared.map((p) => triad(['backup', '-p', p])));
    }
    const before = await indexLoad(s3.endpoint, 'shared/');
    const pruneMs = await triad(['prune', '-p', shared[0]]);
    const after = await indexLoad(s3.endpoint, 'shared/');
    console.log(`${o.hosts} hosts x ${o.backups} backups: index load ${before.ms.toFixed(0)} ms over ${before.files} index files (${before.packs} packs)`);
    console.log(`after prune (${(pruneMs / 1000).toFixed(1)} s): index load ${after.ms.toFixed(0)} ms over ${after.files} index file(s) (${after.packs} packs)`);
    return 0;
  } finally {
    await s3.stop();
    if (!o.keep) fs.rmSync(work, { recursive: true, force: true });
  }
}
