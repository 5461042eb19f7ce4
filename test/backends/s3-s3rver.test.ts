import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openS3Storage } from '../../src/backends/s3.js';
import { startS3rver, type S3Emulator } from '../helpers/emulators.js';
import { describeStorageContract } from './contract.js';

let emu: S3Emulator;
let dir: string;
let run = 0;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'triad-s3rver-'));
  emu = await startS3rver(path.join(dir, 'data'));
});
afterAll(async () => {
  await emu?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describeStorageContract('s3 (s3rver, checksums: when_required)', {
  make: () => openS3Storage(emu.target({ prefix: `contract-${++run}` }), { env: emu.env }),
  enforcesIfAbsent: false,
  missingContainer: { make: () => openS3Storage(emu.target({ bucket: 'no-such-bucket' }), { env: emu.env }), kind: 'no-container' },
  // s3rver checks the access key id (not the signature's secret): an unknown id is rejected.
  wrongCredentials: () =>
    openS3Storage(emu.target(), { env: { ...emu.env, [emu.credentialsEnv.access_key_id]: 'WRONG-KEY-ID', [emu.credentialsEnv.secret_access_key]: 'wrong-secret' } }),
});

describe('s3rver specifics', () => {
  it('stores the exact bytes in when_required mode (no aws-chunked framing in the data)', async () => {
    const s = await openS3Storage(emu.target({ prefix: 'exact/' }), { env: emu.env });
    const data = Buffer.from('exact bytes, no framing');
    await s.save('config', data);
    expect((await s.stat('config')).size).toBe(data.length);
    expect((await s.load('config')).equals(data)).toBe(true);
    await s.close();
  });
});
