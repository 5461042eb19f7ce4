import type { BlockBlobUploadOptions } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureStorage, openAzureStorage } from '../../src/backends/azure.js';
import { openStorage } from '../../src/backends/open.js';
import type { Storage } from '../../src/backends/storage.js';
import { TriadError } from '../../src/core/errors.js';
import { azuriteAccountKey, closedPort, startAzurite, type AzureEmulator } from '../helpers/emulators.js';
import { describeStorageContract, expectKind } from './contract.js';

let emu: AzureEmulator;
let run = 0;
beforeAll(async () => {
  emu = await startAzurite();
});
afterAll(async () => {
  await emu?.stop();
});

const withEndpoint = (cs: string, endpoint: string): string => cs.replace(/BlobEndpoint=[^;]+;/, `BlobEndpoint=${endpoint}/devstoreaccount1;`);

describeStorageContract('azure (azurite)', {
  make: () => openAzureStorage(emu.target({ prefix: `contract-${++run}/` }), { env: emu.env }),
  enforcesIfAbsent: true,
  abortsInFlight: true,
  missingContainer: { make: () => openAzureStorage(emu.target({ container: 'no-such-container' }), { env: emu.env }), kind: 'no-container' },
  unreachable: async () => {
    const env = { [emu.connectionStringEnv]: withEndpoint(emu.connectionString, `http://127.0.0.1:${await closedPort()}`) };
    return openAzureStorage(emu.target(), { env });
  },
  wrongCredentials: () => {
    const wrongKey = Buffer.alloc(64, 1).toString('base64');
    return openAzureStorage(emu.target({ connection_string_env: 'CS' }), { env: { CS: emu.connectionString.replace(/AccountKey=[^;]+;/, `AccountKey=${wrongKey};`) } });
  },
});

describe('AzureStorage specifics (azurite)', () => {
  it('authenticates with account + key variables and an explicit endpoint', async () => {
    const s = await openAzureStorage(
      emu.target({ connection_string_env: undefined, account: emu.account, account_key_env: 'AZ_KEY', endpoint: `${emu.endpoint}/${emu.account}`, prefix: 'key-mode/' }),
      { env: { AZ_KEY: azuriteAccountKey } },
    );
    const _conforms: Storage = s;
    await _conforms.save('config', Buffer.from('cfg'));
    expect((await s.load('config')).toString()).toBe('cfg');
    expect(s.location).toBe(`azure://${emu.account}/${emu.container}/key-mode/`);
    expect(s.location).not.toContain(azuriteAccountKey);
  });

  it('has the service check Content-MD5 on upload (the option path save relies on)', async () => {
    const s = await openAzureStorage(emu.target({ prefix: 'md5/' }), { env: emu.env });
    const blob = s.service.getContainerClient(emu.container).getBlockBlobClient('md5/bad');
    const wrongMd5 = Buffer.alloc(16, 9);
    const err = await blob.upload(Buffer.from('data'), 4, { transactionalContentMD5: wrongMd5 } as BlockBlobUploadOptions).catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 400 });
    await expectKind(s.stat('bad'), 'not-found');
    await s.save('good', Buffer.from('data'));
    expect((await s.load('good')).toString()).toBe('data');
  });

  it('sets the access tier on upload', async () => {
    const s = await openAzureStorage(emu.target({ prefix: 'tier/', access_tier: 'Cool' }), { env: emu.env });
    await s.save('data/aa/p', Buffer.from('pack'));
    const props = await s.service.getContainerClient(emu.container).getBlobClient('tier/data/aa/p').getProperties();
    expect(props.accessTier).toBe('Cool');
    expect(props.contentMD5?.length).toBe(16);
  });

  it('creates a missing container with create: true', async () => {
    const s = await openStorage(emu.target({ container: 'created-by-init' }), { env: emu.env, create: true });
    await s.save('config', Buffer.from('x'));
    expect((await s.stat('config')).size).toBe(1);
    expect(s).not.toBeInstanceOf(AzureStorage); // wrapped in retry
  });

  it('names the variable when the connection string is missing or malformed, never its value', async () => {
    const missing = await openAzureStorage(emu.target({ name: 'azure-offsite' }), { env: {} }).catch((err: unknown) => err);
    expect(missing).toBeInstanceOf(TriadError);
    expect(missing).toMatchObject({ code: 'E_BACKEND_AUTH', message: `target "azure-offsite": environment variable ${emu.connectionStringEnv} is not set` });
    let caught: unknown;
    try {
      const s = await openAzureStorage(emu.target(), { env: { [emu.connectionStringEnv]: 'garbage;AccountKey=SEEKRIT' } });
      await s.load('config');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    expect(String((caught as Error).message)).not.toContain('SEEKRIT');
  });

  it("classifies an overwrite conflict with ifAbsent as 'exists' even for the first block of a new name", async () => {
    const s = await openAzureStorage(emu.target({ prefix: 'race/' }), { env: emu.env });
    const results = await Promise.allSettled([1, 2, 3].map((i) => s.save('locks/race', Buffer.from(`writer-${i}`), { ifAbsent: true })));
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason.kind).toBe('exists');
    await expectKind(s.save('locks/race', Buffer.from('late'), { ifAbsent: true }), 'exists');
  });
});
