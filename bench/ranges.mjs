#!/usr/bin/env node
// Measures what a range request costs on a local directory and on the S3 emulators (fauxqs
// in this process, s3rver as a child), through triad's own storage (retry wrapper included):
// the time of one small range request, the transfer rate of whole 16 MiB objects, the gap
// where one request for both sides costs as much as two (latency × rate), and the rate of
// 1 MiB and 64 KiB ranges at 1 to 16 requests in flight. Defaults in src/repo/read/read-plan.ts
// come from these figures (bench/RESULTS.md, "Range reads").
//   node bench/ranges.mjs [--quick]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

const { openStorage } = await import('../dist/backends/open.js');
const require = createRequire(import.meta.url);
const quick = process.argv.includes('--quick');
const MiB = 1 << 20;
const OBJECT = 16 * MiB;
const now = () => performance.now();

async function s3Storage(endpoint, bucket, credentials, checksums) {
  const env = { K: credentials.accessKeyId, S: credentials.secretAccessKey };
  const spec = { name: 's3', type: 's3', media: 'object-storage', offsite: true, immutable: false, upload_limit: 0, bucket, prefix: 'ranges/', region: 'us-east-1', endpoint, force_path_style: true, checksums, credentials_env: { access_key_id: 'K', secret_access_key: 'S' } };
  return openStorage(spec, { env, create: true });
}

async function startS3rver(dir) {
  const pkg = require.resolve('s3rver/package.json');
  const meta = require(pkg);
  const bin = path.join(path.dirname(pkg), typeof meta.bin === 'string' ? meta.bin : meta.bin.s3rver);
  const child = spawn(process.execPath, ['--openssl-legacy-provider', bin, '-d', dir, '-a', '127.0.0.1', '-p', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on [^:\s]+:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (c) => reject(new Error(`s3rver exited ${c}: ${out}`)));
  });
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  await client.send(new CreateBucketCommand({ Bucket: 'ranges' }));
  client.destroy();
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

/** Runs `jobs` (functions) with `n` in flight; returns elapsed ms. */
async function inFlight(jobs, n) {
  const t = now();
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < jobs.length) await jobs[next++]();
  }));
  return now() - t;
}

async function measure(label, storage) {
  const names = Array.from({ length: 4 }, (_, i) => `data/00/obj${i}`);
  for (const n of names) await storage.save(n, randomBytes(OBJECT));
  const small = quick ? 60 : 200;
  const t0 = now();
  for (let i = 0; i < small; i++) await storage.load(names[i % 4], { offset: Math.floor(Math.random() * (OBJECT - 4096)), length: 4096 });
  const latencyMs = (now() - t0) / small;
  const whole = quick ? 4 : 12;
  const t1 = now();
  for (let i = 0; i < whole; i++) await storage.load(names[i % 4]);
  const rate = (whole * OBJECT) / ((now() - t1) / 1000);
  const breakEven = (latencyMs / 1000) * rate;
  const rows = [];
  for (const size of [MiB, 64 * 1024]) {
    const count = size === MiB ? (quick ? 32 : 64) : quick ? 100 : 300;
    const row = { size };
    for (const n of [1, 2, 4, 8, 16]) {
      const jobs = Array.from({ length: count }, (_, i) => () => storage.load(names[i % 4], { offset: ((i * 7) % 16) * (OBJECT / 16), length: size }));
      const ms = await inFlight(jobs, n);
      row[n] = (count * size) / (ms / 1000);
    }
    rows.push(row);
  }
  for (const n of names) await storage.remove(n);
  const mb = (x) => (x / 1e6).toFixed(0);
  console.log(`${label}: one 4 KiB range ${latencyMs.toFixed(2)} ms; whole 16 MiB objects ${mb(rate)} MB/s; break-even gap ${(breakEven / 1024).toFixed(0)} KiB`);
  for (const r of rows) console.log(`  ${r.size / 1024} KiB ranges, MB/s at 1/2/4/8/16 in flight: ${[1, 2, 4, 8, 16].map((n) => mb(r[n])).join(' / ')}`);
  return { label, latencyMs, rate, breakEven, rows };
}

const dir = mkdtempSync(path.join(tmpdir(), 'triad-ranges-'));
try {
  await measure('local', await openStorage({ name: 'local', type: 'local', path: path.join(dir, 'local'), media: 'disk', offsite: false, immutable: false, upload_limit: 0 }, { env: {}, create: true }));
  const { startFauxqs } = await import('fauxqs');
  const fq = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  fq.createBucket('ranges');
  await measure('fauxqs', await s3Storage(`http://127.0.0.1:${fq.port}`, 'ranges', { accessKeyId: 'a', secretAccessKey: 'b' }, 'when_supported'));
  await fq.stop();
  const s3rver = await startS3rver(path.join(dir, 's3rver'));
  try {
    await measure('s3rver', await s3Storage(s3rver.endpoint, 'ranges', { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, 'when_required'));
  } finally {
    s3rver.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
