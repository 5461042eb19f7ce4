import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GcsStorage, openGcsStorage } from '../../src/backends/gcs.js';
import { openStorage } from '../../src/backends/open.js';
import type { Storage } from '../../src/backends/storage.js';
import { closedPort, startGcs, startRecordingProxy, type GcsEmulator, type RecordedRequest } from '../helpers/emulators.js';
import { describeStorageContract } from './contract.js';

let emu: GcsEmulator;
let dir: string;
let run = 0;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'triad-gcs-'));
  emu = await startGcs(dir);
});
afterAll(async () => {
  await emu?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describeStorageContract('gcs (firebase storage emulator)', {
  make: () => openGcsStorage(emu.target({ prefix: `contract-${++run}/` })),
  // The emulator ignores ifGenerationMatch (EMULATORS.md).
  enforcesIfAbsent: false,
  abortsInFlight: true,
  unreachable: async () => openGcsStorage(emu.target({ endpoint: `http://127.0.0.1:${await closedPort()}` })),
  // No missingContainer case: in the emulator buckets spring into existence on first write,
  // and listing an unknown bucket answers with an empty list.
});

describe('GcsStorage specifics (emulator)', () => {
  it('talks to the explicit endpoint without STORAGE_EMULATOR_HOST and without credentials', async () => {
    expect(process.env.STORAGE_EMULATOR_HOST).toBeUndefined();
    const s = await openStorage(emu.target({ prefix: 'ep/' }), { env: {} });
    const _conforms: Storage = s;
    await _conforms.save('config', Buffer.from('gcs'));
    expect((await s.load('config')).toString()).toBe('gcs');
    expect(s.location).toBe(`gs://${emu.bucket}/ep/`);
  });

  it('sends the MD5, the storage class and ifGenerationMatch=0 (for ifAbsent) with each upload', async () => {
    const proxy = await startRecordingProxy(emu.endpoint);
    try {
      const s = await openGcsStorage(emu.target({ prefix: 'meta/', storage_class: 'NEARLINE', endpoint: proxy.endpoint }));
      expect(s).toBeInstanceOf(GcsStorage);
      await s.save('data/aa/p', Buffer.from('pack-bytes'), { ifAbsent: true });
      await s.save('data/aa/q', Buffer.from('other'));
      const uploads = proxy.requests.filter((r) => r.method === 'POST' && r.url.includes('/upload/'));
      expect(uploads.length).toBe(2);
      const [first, second] = uploads as [RecordedRequest, RecordedRequest];
      expect(new URL(first.url, 'http://x').searchParams.get('ifGenerationMatch')).toBe('0');
      expect(new URL(second.url, 'http://x').searchParams.get('ifGenerationMatch')).toBeNull();
      expect(new URL(first.url, 'http://x').searchParams.get('uploadType')).toBe('multipart');
      const body = first.body.toString('latin1');
      expect(body).toContain(`"md5Hash":"${createHash('md5').update('pack-bytes').digest('base64')}"`);
      expect(body).toContain('"storageClass":"NEARLINE"');
      expect((await s.load('data/aa/p')).toString()).toBe('pack-bytes');
    } finally {
      await proxy.stop();
    }
  });
});
