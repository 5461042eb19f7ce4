import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withRetry } from '../../src/backends/retry.js';
import { FaultyStorage } from '../../src/backends/faulty.js';
import { openStorage } from '../../src/backends/open.js';
import { openS3Storage, S3Storage } from '../../src/backends/s3.js';
import type { Storage } from '../../src/backends/storage.js';
import { fixedClock } from '../../src/core/clock.js';
import { TriadError } from '../../src/core/errors.js';
import { closedPort, startFauxqs, type S3Emulator } from '../helpers/emulators.js';
import { describeStorageContract, expectKind } from './contract.js';

let emu: S3Emulator;
let run = 0;
beforeAll(async () => {
  emu = await startFauxqs();
});
afterAll(async () => {
  await emu?.stop();
});

describeStorageContract('s3 (fauxqs)', {
  make: () => openS3Storage(emu.target({ prefix: `contract-${++run}/` }), { env: emu.env }),
  enforcesIfAbsent: false,
  abortsInFlight: true,
  missingContainer: { make: () => openS3Storage(emu.target({ bucket: 'no-such-bucket' }), { env: emu.env }), kind: 'no-container' },
  unreachable: async () => openS3Storage(emu.target({ endpoint: `http://127.0.0.1:${await closedPort()}` }), { env: emu.env }),
});

/** Records the headers of every request the client sends (after signing). */
function captureHeaders(client: S3Client, into: Record<string, string>[]): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      const req = args.request as { headers?: Record<string, string>; method?: string };
      if (req.headers) into.push({ ':method': req.method ?? '', ...req.headers });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'triadCaptureHeaders' },
  );
}

describe('S3Storage requests (fauxqs)', () => {
  it('sends Object Lock mode and retain-until (clock + days), storage class and a checksum on every PUT', async () => {
    const seen: Record<string, string>[] = [];
    const s = await openS3Storage(
      emu.target({ prefix: 'lock/', object_lock: { mode: 'COMPLIANCE', days: 30 }, immutable: true, storage_class: 'STANDARD_IA' }),
      { env: emu.env, clock: fixedClock('2026-03-01T12:00:00Z'), configure: (c) => captureHeaders(c, seen) },
    );
    const _conforms: Storage = s;
    await s.save('snapshots/one', Buffer.from('snapshot'));
    await s.save('data/aa/pack', Buffer.alloc(1024, 7));
    const puts = seen.filter((h) => h[':method'] === 'PUT');
    expect(puts.length).toBe(2);
    for (const h of puts) {
      expect(h['x-amz-object-lock-mode']).toBe('COMPLIANCE');
      expect(new Date(h['x-amz-object-lock-retain-until-date'] as string).toISOString()).toBe('2026-03-31T12:00:00.000Z');
      expect(h['x-amz-storage-class']).toBe('STANDARD_IA');
      expect(h['content-md5']).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    }
    expect((await _conforms.load('snapshots/one')).toString()).toBe('snapshot');
  });

  it("sends If-None-Match: * for ifAbsent and no lock headers without object_lock", async () => {
    const seen: Record<string, string>[] = [];
    const s = await openS3Storage(emu.target({ prefix: 'cond/' }), { env: emu.env, configure: (c) => captureHeaders(c, seen) });
    await s.save('locks/l1', Buffer.from('x'), { ifAbsent: true });
    await s.save('locks/l2', Buffer.from('x'));
    const puts = seen.filter((h) => h[':method'] === 'PUT');
    expect(puts[0]?.['if-none-match']).toBe('*');
    expect(puts[1]?.['if-none-match']).toBeUndefined();
    expect(puts.some((h) => 'x-amz-object-lock-mode' in h)).toBe(false);
    // when_supported mode: the SDK's flexible checksum, no MD5 needed.
    expect(puts.every((h) => Object.keys(h).some((k) => k.startsWith('x-amz-checksum-') || k === 'x-amz-trailer'))).toBe(true);
  });

  it('uploads objects above the multipart threshold and reads them back whole and ranged', async () => {
    const s = await openS3Storage(emu.target({ prefix: 'big/' }), { env: emu.env });
    const data = Buffer.alloc(17 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i);
    await s.save('data/bb/big', data);
    expect((await s.stat('data/bb/big')).size).toBe(data.length);
    expect((await s.load('data/bb/big')).equals(data)).toBe(true);
    expect((await s.load('data/bb/big', { offset: 16 * 1024 * 1024, length: 8192 })).equals(data.subarray(16 * 1024 * 1024, 16 * 1024 * 1024 + 8192))).toBe(true);
  });

  it('stores a 12 MiB pack, above what fauxqs accepts in one request body (11 MiB)', async () => {
    const s = await openS3Storage(emu.target({ prefix: 'mid/' }), { env: emu.env });
    const data = Buffer.alloc(12 * 1024 * 1024, 7);
    await s.save('data/cc/mid', data);
    expect((await s.load('data/cc/mid')).equals(data)).toBe(true);
  });

  it('names the target and the variable when a credential variable is missing, never a value', async () => {
    let caught: unknown;
    try {
      await openStorage(emu.target({ name: 'offsite' }), { env: { [emu.credentialsEnv.access_key_id]: 'AKIA-SECRET-VALUE' } });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TriadError);
    const e = caught as TriadError;
    expect(e.code).toBe('E_BACKEND_AUTH');
    expect(e.message).toContain('"offsite"');
    expect(e.message).toContain(emu.credentialsEnv.secret_access_key);
    expect(e.message).not.toContain('AKIA-SECRET-VALUE');
  });

  it('retries transient faults injected over a real S3 store and then succeeds', async () => {
    const inner = await openS3Storage(emu.target({ prefix: 'retry/' }), { env: emu.env });
    const faulty = new FaultyStorage(inner).fail({ op: 'save', kind: 'transient', times: 2 }).fail({ op: 'load', kind: 'unreachable', times: 1 });
    const retries: string[] = [];
    const s = withRetry(faulty, { sleep: async () => undefined, random: () => 0.5, onRetry: (op, name, err) => retries.push(`${op} ${name} ${err.kind}`) });
    await s.save('index/x', Buffer.from('payload'));
    expect((await s.load('index/x')).toString()).toBe('payload');
    expect(faulty.calls.save).toBe(3);
    expect(faulty.calls.load).toBe(2);
    expect(retries).toEqual(['save index/x transient', 'save index/x transient', 'load index/x unreachable']);
    // Permanent: not-found is not retried.
    await expectKind(s.load('index/absent'), 'not-found');
    expect(faulty.calls.load).toBe(3);
  });

  it('creates a missing bucket with create: true, idempotently', async () => {
    const target = emu.target({ bucket: 'made-by-init' });
    await expectKind(openS3Storage(target, { env: emu.env }).then((s) => s.load('config')), 'no-container');
    const s = await openStorage(target, { env: emu.env, create: true });
    await s.save('config', Buffer.from('c'));
    const again = await openStorage(target, { env: emu.env, create: true });
    expect((await again.load('config')).toString()).toBe('c');
  });

  it('is the S3Storage the factory wraps', async () => {
    const s = await openS3Storage(emu.target(), { env: emu.env });
    expect(s).toBeInstanceOf(S3Storage);
    expect(s.location).toBe(`s3://${emu.bucket}/`);
    const wrapped = await openStorage(emu.target({ prefix: 'p' }), { env: emu.env });
    expect(wrapped.location).toBe(`s3://${emu.bucket}/p/`);
  });
});
