// What the backup's check for lost or cut-short packs costs: one listing of data/ per target,
// compared with the index. Lists N pack objects (empty, named like packs) on a local
// directory, on fauxqs (in this process) and on s3rver (a child process), counting the
// storage requests and timing the listing and the comparison.
//   npm run build && node bench/list-packs.mjs [counts...]      (default: 100 10000)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { openLocalStorage } from '../dist/backends/local.js';
import { openS3Storage } from '../dist/backends/s3.js';
import { absentPacks, listPacks, MasterIndex } from '../dist/repo/index-store.js';

const require = createRequire(import.meta.url);
const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);
const RUNS = 5;

function packIds(n) {
  return Array.from({ length: n }, () => randomBytes(32).toString('hex'));
}

/** An index naming every pack with its (zero) size, so the comparison finds nothing absent. */
function indexOf(ids) {
  const idx = new MasterIndex();
  for (const id of ids) idx.addPack(id, 0, [{ id: Buffer.from(id, 'hex'), type: 'data', offset: 0, length: 0, rawLength: 0 }]);
  return idx;
}

async function measure(storage, ids, countRequests) {
  const repo = { storage };
  const index = indexOf(ids);
  const times = [];
  let requests = 0;
  let compareMs = 0;
  for (let r = 0; r < RUNS; r++) {
    const before = countRequests();
    const t0 = performance.now();
    const listed = await listPacks(repo);
    const t1 = performance.now();
    const absent = absentPacks(index, listed);
    compareMs = performance.now() - t1;
    if (listed.length !== ids.length || absent.length !== 0) throw new Error(`listed ${listed.length} of ${ids.length}, ${absent.length} absent`);
    times.push(t1 - t0);
    requests = countRequests() - before;
  }
  times.sort((a, b) => a - b);
  return { requests, medianMs: times[Math.floor(RUNS / 2)], minMs: times[0], maxMs: times[RUNS - 1], compareMs };
}

async function local(ids) {
  const root = mkdtempSync(join(tmpdir(), 'triad-list-'));
  try {
    for (const id of ids) {
      mkdirSync(join(root, 'data', id.slice(0, 2)), { recursive: true });
      writeFileSync(join(root, 'data', id.slice(0, 2), id), '');
    }
    const storage = await openLocalStorage(root);
    // Each directory read is one request to the file system (one readdir).
    let readdirs = 0;
    const real = fsp.readdir;
    fsp.default.readdir = async (...a) => (readdirs++, real(...a));
    try {
      return await measure(storage, ids, () => readdirs);
    } finally {
      fsp.default.readdir = real;
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function upload(endpoint, bucket, ids) {
  const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  await client.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => undefined);
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < ids.length) {
        const id = ids[next++];
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: `r/data/${id.slice(0, 2)}/${id}`, Body: '' }));
      }
    }),
  );
  client.destroy();
}

async function s3(endpoint, bucket, ids) {
  await upload(endpoint, bucket, ids);
  const env = { AK: 'S3RVER', SK: 'S3RVER' };
  const target = { name: 'bench', type: 's3', bucket, prefix: 'r/', region: 'us-east-1', endpoint, force_path_style: true, checksums: 'when_required', credentials_env: { access_key_id: 'AK', secret_access_key: 'SK' }, media: 'object-storage', offsite: true, immutable: false, upload_limit: 0 };
  const storage = await openS3Storage(target, { env });
  let sent = 0;
  storage.client.middlewareStack.add((next) => (args) => (sent++, next(args)), { step: 'initialize' });
  try {
    return await measure(storage, ids, () => sent);
  } finally {
    await storage.close();
  }
}

async function withFauxqs(fn) {
  const { startFauxqs } = await import('fauxqs');
  const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  try {
    return await fn(`http://127.0.0.1:${server.port}`, (b) => server.createBucket(b));
  } finally {
    await server.stop();
  }
}

async function withS3rver(fn) {
  const dir = mkdtempSync(join(tmpdir(), 'triad-s3rver-'));
  const pkg = require.resolve('s3rver/package.json');
  const child = spawn(process.execPath, ['--openssl-legacy-provider', join(dirname(pkg), require(pkg).bin.s3rver), '-d', dir, '-a', '127.0.0.1', '-p', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const port = await new Promise((res, rej) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /listening on [^:\s]+:(\d+)/.exec(out);
        if (m) res(Number(m[1]));
      });
      child.once('exit', (c) => rej(new Error(`s3rver exited ${c}`)));
    });
    return await fn(`http://127.0.0.1:${port}`);
  } finally {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows = [];
for (const n of counts.length ? counts : [100, 10_000]) {
  const ids = packIds(n);
  rows.push({ store: 'local (ext4, page cache warm)', packs: n, ...(await local(ids)) });
  rows.push({ store: 'fauxqs', packs: n, ...(await withFauxqs(async (endpoint, create) => (create(`b${n}`), s3(endpoint, `b${n}`, ids)))) });
  rows.push({ store: 's3rver', packs: n, ...(await withS3rver((endpoint) => s3(endpoint, `b${n}`, ids))) });
}
console.log('| store | packs | requests | listing, median of 5 (min–max) | comparison with the index |');
console.log('|---|---:|---:|---|---:|');
for (const r of rows) console.log(`| ${r.store} | ${r.packs} | ${r.requests} | ${r.medianMs.toFixed(1)} ms (${r.minMs.toFixed(1)}–${r.maxMs.toFixed(1)}) | ${r.compareMs.toFixed(2)} ms |`);
