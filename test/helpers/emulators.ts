/**
 * Starts the local cloud emulators (EMULATORS.md) on free ports for tests.
 *
 * Every start function returns an endpoint on 127.0.0.1, a `stop()`, the env variables a
 * triad process needs (credentials are passed by variable NAME in targets), and `target()` /
 * `policyFields()` for a policy pointing at the emulator. Children are guarded twice against
 * outliving the test process: a kill list run on 'exit', and a preloaded guard that exits the
 * emulator when its stdin (held by the test process) closes, which also covers SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { afterAll, beforeAll } from 'vitest';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AzureTarget, GcsTarget, S3Target } from '../../src/policy/types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const require = createRequire(import.meta.url);
const GUARD = path.join(here, 'orphan-guard.cjs');

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of children) c.kill('SIGKILL');
    });
  }
}

export interface RunningEmulator {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  readonly port: number;
  /** Environment a triad process needs to reach it (credential variables named by the target). */
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

interface StartedChild {
  child: ChildProcess;
  match: RegExpMatchArray;
  output: () => string;
}

/** Spawns `node [nodeArgs] -r guard script args`, resolving when stdout matches `ready`. */
async function startChild(opts: { script: string; args: string[]; nodeArgs?: string[]; ready: RegExp; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; label: string }): Promise<StartedChild> {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '-r', GUARD, opts.script, ...opts.args], {
    cwd: opts.cwd ?? repoRoot,
    env: opts.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  const output = (): string => out;
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`${opts.label} did not start within ${opts.timeoutMs ?? 20_000} ms:\n${out}`));
    }, opts.timeoutMs ?? 20_000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      if (out.length > 64_000) out = out.slice(-32_000);
      const m = out.match(opts.ready);
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = (code: number | null, sig: string | null): void => {
      cleanup();
      reject(new Error(`${opts.label} exited (${code ?? sig}) before it was ready:\n${out}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
  // Keep draining so a chatty emulator never blocks on a full pipe.
  child.stdout?.on('data', () => undefined);
  child.stderr?.on('data', () => undefined);
  return { child, match, output };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function binScript(pkg: string, bin: string): string {
  const pkgJson = require.resolve(`${pkg}/package.json`);
  const meta = require(pkgJson) as { bin?: string | Record<string, string> };
  const rel = typeof meta.bin === 'string' ? meta.bin : meta.bin?.[bin];
  if (!rel) throw new Error(`${pkg} has no bin ${bin}`);
  return path.join(path.dirname(pkgJson), rel);
}

// ---------------------------------------------------------------- S3

export interface S3Emulator extends RunningEmulator {
  readonly kind: 'fauxqs' | 's3rver';
  readonly bucket: string;
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** Names of the env variables (in `env`) holding the credentials. */
  readonly credentialsEnv: { access_key_id: string; secret_access_key: string };
  createBucket(name: string): Promise<void>;
  /** A normalised target; `prefix` defaults to '' and `name` to the emulator kind. */
  target(overrides?: Partial<S3Target>): S3Target;
  /** The fields a YAML policy target needs (written form). */
  policyFields(overrides?: Record<string, unknown>): Record<string, unknown>;
}

const S3_ENV = { access_key_id: 'TRIAD_TEST_S3_ACCESS_KEY_ID', secret_access_key: 'TRIAD_TEST_S3_SECRET_ACCESS_KEY' };

function s3Emulator(base: {
  kind: 'fauxqs' | 's3rver';
  port: number;
  bucket: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  checksums: 'when_supported' | 'when_required';
  createBucket: (name: string) => Promise<void>;
  stop: () => Promise<void>;
}): S3Emulator {
  const endpoint = `http://127.0.0.1:${base.port}`;
  const region = 'us-east-1';
  const env = { [S3_ENV.access_key_id]: base.credentials.accessKeyId, [S3_ENV.secret_access_key]: base.credentials.secretAccessKey };
  const fields = (): Record<string, unknown> => ({
    type: 's3',
    bucket: base.bucket,
    region,
    endpoint,
    force_path_style: true,
    checksums: base.checksums,
    credentials_env: { ...S3_ENV },
  });
  return {
    kind: base.kind,
    endpoint,
    port: base.port,
    env,
    bucket: base.bucket,
    region,
    credentials: base.credentials,
    credentialsEnv: { ...S3_ENV },
    createBucket: base.createBucket,
    stop: base.stop,
    target: (overrides = {}) => ({
      name: base.kind,
      type: 's3',
      media: 'object-storage',
      offsite: true,
      immutable: false,
      upload_limit: 0,
      bucket: base.bucket,
      prefix: '',
      region,
      endpoint,
      force_path_style: true,
      checksums: base.checksums,
      credentials_env: { ...S3_ENV },
      ...overrides,
    }),
    policyFields: (overrides = {}) => ({ ...fields(), media: 'object-storage', offsite: true, ...overrides }),
  };
}

/**
 * An s3rver under `dir` for the tests of one describe block (started before them, stopped and
 * `dir` removed after), with an SDK client on its bucket for changing objects behind triad's back.
 */
export function s3rverForSuite(dir: string): { readonly s3: S3Emulator; readonly client: import('@aws-sdk/client-s3').S3Client } {
  const suite = {} as { s3: S3Emulator; client: import('@aws-sdk/client-s3').S3Client };
  beforeAll(async () => {
    const { S3Client } = await import('@aws-sdk/client-s3');
    suite.s3 = await startS3rver(path.join(dir, 's3rver'));
    const { endpoint, region, credentials } = suite.s3;
    suite.client = new S3Client({ endpoint, region, forcePathStyle: true, credentials, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  });
  afterAll(async () => {
    suite.client?.destroy();
    await suite.s3?.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return suite;
}

async function s3CreateBucket(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }, name: string, checksums: 'when_supported' | 'when_required'): Promise<void> {
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials,
    ...(checksums === 'when_required' ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {}),
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  } catch (err) {
    const n = (err as { name?: string }).name;
    if (n !== 'BucketAlreadyOwnedByYou' && n !== 'BucketAlreadyExists') throw err;
  } finally {
    client.destroy();
  }
}

/**
 * fauxqs, in this process (in memory; its data is lost on stop). It does not check
 * credentials, `If-None-Match` or Object Lock. Pass `port` to restart on the same port.
 */
export async function startFauxqs(opts: { port?: number; bucket?: string } = {}): Promise<S3Emulator> {
  const { startFauxqs: start } = await import('fauxqs');
  const server = await start({ port: opts.port ?? 0, host: '127.0.0.1', logger: false });
  const bucket = opts.bucket ?? 'triad-test';
  server.createBucket(bucket);
  let stopped = false;
  return s3Emulator({
    kind: 'fauxqs',
    port: server.port,
    bucket,
    credentials: { accessKeyId: 'fauxqs-key', secretAccessKey: 'fauxqs-secret' },
    checksums: 'when_supported',
    createBucket: async (name) => {
      server.createBucket(name);
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.stop();
    },
  });
}

const S3RVER_ATOMIC_PUT = path.join(here, 's3rver-atomic-put.cjs');

/**
 * s3rver in a child process, storing under `dir` (so a restart with the same dir and `port`
 * keeps the data). Checks SigV4 signatures with the credentials S3RVER/S3RVER; needs the
 * `when_required` checksum mode (the returned target sets it). A PUT whose body is cut short
 * leaves no object, as on S3 (see s3rver-atomic-put.cjs).
 */
export async function startS3rver(dir: string, opts: { port?: number; bucket?: string } = {}): Promise<S3Emulator> {
  await mkdir(dir, { recursive: true });
  const { child, match } = await startChild({
    label: 's3rver',
    script: binScript('s3rver', 's3rver'),
    nodeArgs: ['--openssl-legacy-provider', '-r', S3RVER_ATOMIC_PUT],
    args: ['-d', dir, '-a', '127.0.0.1', '-p', String(opts.port ?? 0)],
    ready: /S3rver listening on [^:\s]+:(\d+)/,
  });
  const port = Number(match[1]);
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  const endpoint = `http://127.0.0.1:${port}`;
  const bucket = opts.bucket ?? 'triad-test';
  await s3CreateBucket(endpoint, credentials, bucket, 'when_required');
  return s3Emulator({
    kind: 's3rver',
    port,
    bucket,
    credentials,
    checksums: 'when_required',
    createBucket: (name) => s3CreateBucket(endpoint, credentials, name, 'when_required'),
    stop: () => stopChild(child),
  });
}

// ---------------------------------------------------------------- Azure

export interface AzureEmulator extends RunningEmulator {
  readonly container: string;
  readonly account: string;
  /** Full connection string (contains the well-known devstoreaccount1 key). */
  readonly connectionString: string;
  /** Name of the env variable (in `env`) holding the connection string. */
  readonly connectionStringEnv: string;
  createContainer(name: string): Promise<void>;
  target(overrides?: Partial<AzureTarget>): AzureTarget;
  policyFields(overrides?: Record<string, unknown>): Record<string, unknown>;
}

/** The public, documented azurite development account (not a secret). */
const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const AZURE_ENV = 'TRIAD_TEST_AZURE_CONNECTION_STRING';

/** azurite (blob service) in a child process; in memory unless `location` is given. */
export async function startAzurite(opts: { port?: number; location?: string; container?: string } = {}): Promise<AzureEmulator> {
  const storageArgs = opts.location ? ['--location', opts.location] : ['--inMemoryPersistence', '--extentMemoryLimit', '256'];
  if (opts.location) await mkdir(opts.location, { recursive: true });
  const { match, child } = await startChild({
    label: 'azurite',
    script: binScript('azurite', 'azurite-blob'),
    args: ['--blobHost', '127.0.0.1', '--blobPort', String(opts.port ?? 0), ...storageArgs, '--skipApiVersionCheck', '--disableTelemetry', '--silent'],
    ready: /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/,
  });
  const port = Number(match[1]);
  const endpoint = `http://127.0.0.1:${port}`;
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint}/${AZURITE_ACCOUNT};`;
  const container = opts.container ?? 'triad-test';
  const createContainer = async (name: string): Promise<void> => {
    const { BlobServiceClient } = await import('@azure/storage-blob');
    await BlobServiceClient.fromConnectionString(connectionString).getContainerClient(name).createIfNotExists();
  };
  await createContainer(container);
  return {
    endpoint,
    port,
    env: { [AZURE_ENV]: connectionString },
    container,
    account: AZURITE_ACCOUNT,
    connectionString,
    connectionStringEnv: AZURE_ENV,
    createContainer,
    stop: () => stopChild(child),
    target: (overrides = {}) => ({
      name: 'azurite',
      type: 'azure',
      media: 'object-storage',
      offsite: true,
      immutable: false,
      upload_limit: 0,
      container,
      prefix: '',
      connection_string_env: AZURE_ENV,
      ...overrides,
    }),
    policyFields: (overrides = {}) => ({ type: 'azure', container, connection_string_env: AZURE_ENV, media: 'object-storage', offsite: true, ...overrides }),
  };
}

/** An azurite (in memory) for the tests of one describe block: started before them, stopped after. */
export function azuriteForSuite(): { readonly az: AzureEmulator } {
  const suite = {} as { az: AzureEmulator };
  beforeAll(async () => {
    suite.az = await startAzurite();
  }, 60_000);
  afterAll(async () => {
    await suite.az?.stop();
  });
  return suite;
}

/** Account key of the azurite development account, for tests of the account+key mode. */
export const azuriteAccountKey = AZURITE_KEY;

// ---------------------------------------------------------------- GCS

export interface GcsEmulator extends RunningEmulator {
  readonly bucket: string;
  readonly projectId: string;
  target(overrides?: Partial<GcsTarget>): GcsTarget;
  policyFields(overrides?: Record<string, unknown>): Record<string, unknown>;
}

/**
 * firebase-tools' Cloud Storage emulator through test/helpers/gcs-emulator.cjs, with TMPDIR
 * set to `tmpdir` (blobs go to `$TMPDIR/firebase/storage/blobs`). Buckets need no creation;
 * `ifGenerationMatch` is not enforced.
 */
export async function startGcs(tmpdir: string, opts: { port?: number; bucket?: string; projectId?: string } = {}): Promise<GcsEmulator> {
  await mkdir(tmpdir, { recursive: true });
  const projectId = opts.projectId ?? 'demo-test';
  const { match, child } = await startChild({
    label: 'gcs emulator',
    script: path.join(here, 'gcs-emulator.cjs'),
    args: [String(opts.port ?? 0), projectId],
    cwd: tmpdir,
    env: { ...process.env, TMPDIR: tmpdir, STORAGE_EMULATOR_HOST: undefined },
    ready: /triad-gcs-emulator ready http:\/\/127\.0\.0\.1:(\d+)/,
  });
  const port = Number(match[1]);
  const endpoint = `http://127.0.0.1:${port}`;
  const bucket = opts.bucket ?? 'triad-test';
  return {
    endpoint,
    port,
    env: {},
    bucket,
    projectId,
    stop: () => stopChild(child),
    target: (overrides = {}) => ({
      name: 'gcs',
      type: 'gcs',
      media: 'object-storage',
      offsite: true,
      immutable: false,
      upload_limit: 0,
      bucket,
      prefix: '',
      project_id: projectId,
      endpoint,
      ...overrides,
    }),
    policyFields: (overrides = {}) => ({ type: 'gcs', bucket, project_id: projectId, endpoint, media: 'object-storage', offsite: true, ...overrides }),
  };
}

/** A TCP port that was free a moment ago and is now closed: for 'unreachable' tests. */
export async function closedPort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * A pass-through HTTP proxy in front of an emulator that records every request, for
 * asserting what a backend sends where the emulator ignores it (preconditions, storage class).
 */
export async function startRecordingProxy(upstream: string): Promise<{ endpoint: string; requests: RecordedRequest[]; stop(): Promise<void> }> {
  const http = await import('node:http');
  const target = new URL(upstream);
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const out = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      out.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      out.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
