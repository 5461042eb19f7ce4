import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAzureStorage, SINGLE_PUT_MAX } from '../../src/backends/azure.js';
import { fixedClock } from '../../src/core/clock.js';
import { startAzurite, startRecordingProxy, type AzureEmulator, type RecordedRequest } from '../helpers/emulators.js';

/**
 * azurite does not enforce (or keep) blob immutability policies, so these tests assert on what
 * is sent: every write goes through a recording proxy in front of azurite.
 */
let emu: AzureEmulator;
let dir: string;
let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
beforeAll(async () => {
  // On disk: the in-memory store (256 MiB) cannot hold the block-list case.
  dir = await mkdtemp(path.join(tmpdir(), 'triad-azure-imm-'));
  emu = await startAzurite({ location: path.join(dir, 'azurite') });
  proxy = await startRecordingProxy(emu.endpoint);
});
afterAll(async () => {
  await proxy?.stop();
  await emu?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The emulator's connection string, with the blob endpoint moved to the proxy. */
const viaProxy = (): Record<string, string> => ({
  [emu.connectionStringEnv]: emu.connectionString.replace(/BlobEndpoint=[^;]+;/, `BlobEndpoint=${proxy.endpoint}/${emu.account};`),
});

const header = (r: RecordedRequest, name: string): string | undefined => {
  const v = r.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
};

/** PUT requests for blobs under `prefix` in the test container, in order. */
const putsUnder = (prefix: string): RecordedRequest[] =>
  proxy.requests.filter((r) => r.method === 'PUT' && new URL(r.url, 'http://x').pathname.startsWith(`/${emu.account}/${emu.container}/${prefix}`));

describe('AzureStorage immutability policy (azurite via recording proxy)', () => {
  it('sends the immutability policy (clock + days, mode) on every Put Blob', async () => {
    const s = await openAzureStorage(emu.target({ prefix: 'imm-locked/', immutable: true, immutability: { mode: 'locked', days: 30 } }), {
      env: viaProxy(),
      clock: fixedClock('2026-03-01T12:00:00Z'),
    });
    await s.save('snapshots/one', Buffer.from('snapshot'));
    await s.save('data/aa/pack', Buffer.alloc(1024, 7), { ifAbsent: true });
    const puts = putsUnder('imm-locked/');
    expect(puts.map((r) => new URL(r.url, 'http://x').pathname)).toEqual([
      `/${emu.account}/${emu.container}/imm-locked/snapshots/one`,
      `/${emu.account}/${emu.container}/imm-locked/data/aa/pack`,
    ]);
    for (const r of puts) {
      expect(header(r, 'x-ms-blob-type')).toBe('BlockBlob');
      expect(header(r, 'x-ms-immutability-policy-mode')).toBe('Locked');
      // RFC 1123 on the wire: 2026-03-01T12:00Z + 30 days.
      expect(header(r, 'x-ms-immutability-policy-until-date')).toBe('Tue, 31 Mar 2026 12:00:00 GMT');
    }
    expect(header(puts[1]!, 'if-none-match')).toBe('*');
    // azurite accepts the request (it does not enforce the policy): the data is stored.
    expect((await s.load('snapshots/one')).toString()).toBe('snapshot');
  });

  it('maps mode unlocked to Unlocked and uses the days of the policy', async () => {
    const s = await openAzureStorage(emu.target({ prefix: 'imm-unlocked/', immutable: true, immutability: { mode: 'unlocked', days: 7 } }), {
      env: viaProxy(),
      clock: fixedClock('2026-12-28T00:00:00Z'),
    });
    await s.save('config', Buffer.from('cfg'));
    const [put, ...rest] = putsUnder('imm-unlocked/');
    expect(rest).toEqual([]);
    expect(header(put!, 'x-ms-immutability-policy-mode')).toBe('Unlocked');
    expect(header(put!, 'x-ms-immutability-policy-until-date')).toBe('Mon, 04 Jan 2027 00:00:00 GMT');
  });

  it('sends no immutability headers without `immutability`, even on an immutable: true target', async () => {
    const s = await openAzureStorage(emu.target({ prefix: 'imm-none/', immutable: true }), { env: viaProxy(), clock: fixedClock('2026-03-01T12:00:00Z') });
    await s.save('config', Buffer.from('cfg'));
    const puts = putsUnder('imm-none/');
    expect(puts.length).toBe(1);
    expect(Object.keys(puts[0]!.headers).filter((k) => k.startsWith('x-ms-immutability'))).toEqual([]);
  });

  it('sends the policy on the Put Block List of a blob above the single-put limit, not on its blocks', async () => {
    const s = await openAzureStorage(emu.target({ prefix: 'imm-big/', immutable: true, immutability: { mode: 'locked', days: 1 } }), {
      env: viaProxy(),
      clock: fixedClock('2026-03-01T12:00:00Z'),
    });
    const data = Buffer.alloc(SINGLE_PUT_MAX + 1, 3);
    await s.save('data/bb/big', data);
    const puts = putsUnder('imm-big/');
    const comp = (r: RecordedRequest): string | null => new URL(r.url, 'http://x').searchParams.get('comp');
    expect(puts.map(comp)).toEqual(['block', 'block', 'blocklist']);
    const commit = puts[2]!;
    expect(header(commit, 'x-ms-immutability-policy-mode')).toBe('Locked');
    expect(header(commit, 'x-ms-immutability-policy-until-date')).toBe('Mon, 02 Mar 2026 12:00:00 GMT');
    for (const block of puts.slice(0, 2)) expect(header(block, 'x-ms-immutability-policy-mode')).toBeUndefined();
    expect((await s.stat('data/bb/big')).size).toBe(data.length);
  }, 120_000);
});
