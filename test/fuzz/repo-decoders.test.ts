import { TEST_KDF_COST } from '../helpers/kdf.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/backends/memory.js';
import { fixedClock } from '../../src/core/clock.js';
import { ExitCode, TriadError } from '../../src/core/errors.js';
import { PackBuilder, parsePackHeader, frame } from '../../src/repo/blob/index.js';
import { findMasterKey, newMasterKey, open, seal, wrapMasterKey } from '../../src/repo/crypto/index.js';
import { AAD } from '../../src/repo/format.js';
import { decodeIndexFile, encodeIndex, loadIndexRoutingAround, MasterIndex, readPackHeader } from '../../src/repo/index/index.js';
import { packObjectName } from '../../src/repo/format.js';
import { decodeLockRecord, parseJobLock } from '../../src/repo/lock/index.js';
import { LOCK_AAD, listLocks } from '../../src/repo/lock/repo-lock.js';
import { decodeTree, encodeTree, loadSnapshots, readJournal, sealSnapshot, type JournalRecord, type SnapshotManifest, type TreeNode } from '../../src/repo/model/index.js';
import { decodeConfig, Repository } from '../../src/repo/repository.js';
import { bytesFor, decodesOrNamesDamage, jsonWithWrongValue, mutated, runs } from './mutate.js';

/*
 * Every decoder of repository objects gets random bytes and mutations of valid objects built
 * by the real encoders with a real key. Encrypted objects are mutated twice over: as stored
 * (decryption must fail as damage) and as plaintext sealed again with the key (what a crafted
 * or buggy writer stores: the shape checks must refuse it as damage).
 */

const clock = fixedClock('2030-01-01T00:00:00Z');
let repo: Repository;

beforeAll(async () => {
  repo = await Repository.create('fuzz', new MemoryStorage(), 'fuzz passphrase', { clock, host: 'h', kdf: TEST_KDF_COST });
});

/** `plain` sealed with the repository key as an object of the kind `aad` names (what a writer with the key stores). */
const sealAs = (aad: Buffer, plain: Buffer) => seal(repo.key.encrypt, frame(plain, 'off'), aad);

const blobId = (n: number) => Buffer.alloc(32, n);

function validPack(): { bytes: Buffer; header: Buffer } {
  const b = new PackBuilder();
  for (let i = 1; i <= 3; i++) {
    const data = Buffer.alloc(100 * i, i);
    b.add(i === 3 ? 'tree' : 'data', blobId(i), repo.encodeBlob('data', blobId(i), data, 'off'), data.length);
  }
  const { bytes } = b.finish(repo.key.encrypt);
  const copy = Buffer.from(bytes);
  const hlen = copy.readUInt32LE(copy.length - 4);
  return { bytes: copy, header: copy.subarray(copy.length - 4 - hlen) };
}

describe('pack headers', () => {
  it('random and mutated packs decode or throw E_INTEGRITY', async () => {
    const { bytes } = validPack();
    await fc.assert(
      fc.asyncProperty(bytesFor(bytes), async (m) => {
        await decodesOrNamesDamage(() => parsePackHeader(repo.key.encrypt, m, m.length));
        await decodesOrNamesDamage(() => parsePackHeader(repo.key.encrypt, m, bytes.length));
      }),
      runs(400),
    );
  });

  it('mutated header plaintext, sealed with the key, decodes or throws E_INTEGRITY', async () => {
    const { bytes, header } = validPack();
    const body = bytes.subarray(0, bytes.length - header.length);
    const plain = open(repo.key.encrypt, header.subarray(0, header.length - 4), AAD.packHeader);
    await fc.assert(
      fc.asyncProperty(mutated(plain), async (m) => {
        const sealed = seal(repo.key.encrypt, m, AAD.packHeader);
        const len = Buffer.alloc(4);
        len.writeUInt32LE(sealed.length);
        const pack = Buffer.concat([body, sealed, len]);
        await decodesOrNamesDamage(() => parsePackHeader(repo.key.encrypt, pack, pack.length));
      }),
      runs(300),
    );
  });

  it('a header length field of 2^31 or 2^32-1 is refused before anything is read or allocated for it', async () => {
    const storage = new MemoryStorage();
    const r = await Repository.replicate('crafted', storage, repo);
    for (const hlen of [0x80000000, 0xffffffff, 0x7fffffff]) {
      const pack = Buffer.alloc(1000, 7);
      pack.writeUInt32LE(hlen, pack.length - 4);
      expect(() => parsePackHeader(repo.key.encrypt, pack, pack.length)).toThrow(TriadError);
      const id = 'c'.repeat(64);
      await storage.save(`data/cc/${id}`, pack);
      const loads: { offset: number; length: number }[] = [];
      const load = storage.load.bind(storage);
      storage.load = async (name, range, opts) => {
        if (range) loads.push({ offset: range.offset, length: range.length ?? -1 });
        return load(name, range, opts);
      };
      await expect(readPackHeader(r, id, pack.length)).rejects.toMatchObject({ code: 'E_INTEGRITY' });
      // One probe of the pack's own size: the crafted length asked for no second, larger read.
      expect(loads).toEqual([{ offset: 0, length: 1000 }]);
      storage.load = load;
    }
  });
});

describe('index files', () => {
  const packs = [
    { id: 'a'.repeat(64), size: 700, entries: [{ type: 'data' as const, id: blobId(1), offset: 0, length: 200, rawLength: 150 }, { type: 'tree' as const, id: blobId(2), offset: 200, length: 300, rawLength: 280 }] },
    { id: 'b'.repeat(64), size: 90, entries: [{ type: 'data' as const, id: blobId(3), offset: 0, length: 40, rawLength: 12 }] },
  ];
  const json = encodeIndex(packs);
  const plain = Buffer.from(JSON.stringify(json));

  /** Stores one index file and loads the master index from it: decodes or names the damage. */
  async function loadWith(sealed: Buffer): Promise<void> {
    const storage = new MemoryStorage();
    const r = await Repository.replicate('fuzz', storage, repo);
    await storage.save('index/' + 'd'.repeat(64), sealed);
    await decodesOrNamesDamage(() => MasterIndex.load(r));
  }

  it('random and mutated stored index files load or throw E_INTEGRITY', async () => {
    const sealed = repo.sealObject(AAD.index, json).sealed;
    await fc.assert(fc.asyncProperty(bytesFor(sealed), loadWith), runs(300));
  });

  it('mutated index plaintext and wrong-typed values, sealed with the key, load or throw E_INTEGRITY', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(mutated(plain), jsonWithWrongValue(json)), (m) => loadWith(sealAs(AAD.index, m))), runs(400));
  });

  it('a damaged index file is routed around: the packs it named are indexed from their headers, blob for blob', async () => {
    const storage = new MemoryStorage();
    const r = await Repository.replicate('fuzz', storage, repo);
    const b = new PackBuilder();
    for (let i = 1; i <= 5; i++) b.add('data', blobId(i), repo.encodeBlob('data', blobId(i), Buffer.alloc(50 * i, i), 'off'), 50 * i);
    const pack = b.finish(repo.key.encrypt);
    await storage.save(packObjectName(pack.id), Buffer.from(pack.bytes));
    const sealed = repo.sealObject(AAD.index, encodeIndex([{ id: pack.id, size: pack.bytes.length, entries: pack.entries }])).sealed;
    await storage.save('index/' + 'd'.repeat(64), sealed);
    const whole = [...(await MasterIndex.load(r)).entries()];
    expect(whole).toHaveLength(5);
    await fc.assert(
      fc.asyncProperty(mutated(sealed), async (m) => {
        await storage.save('index/' + 'd'.repeat(64), m);
        const routed = await loadIndexRoutingAround(r);
        expect([...routed.index.entries()]).toEqual(whole);
        // One index file naming one pack: when it is damaged, that pack is read from its header.
        expect(routed.packsFromHeaders).toBe(routed.damaged.length);
      }),
      runs(100),
    );
  });

  it('a blob length of 2^31 in a pack of 700 bytes is refused, not trusted', () => {
    for (const length of [2 ** 31, 2 ** 32 - 1, 2 ** 53]) {
      const crafted = structuredClone(json);
      crafted.packs[0]!.blobs[0]![3] = length;
      expect(() => decodeIndexFile(crafted)).toThrow(/lies outside the pack/);
    }
  });
});

describe('trees', () => {
  const nodes: TreeNode[] = [
    { name: 'a.txt', type: 'file', mode: 0o644, uid: 1000, gid: 1000, mtime: 1_700_000_000_123.5, size: 5, content: ['e'.repeat(64)], hash: 'f'.repeat(64) },
    { name: 'dir', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000_000, size: 0, subtree: 'd'.repeat(64) },
    { name: 'link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 1_700_000_000_000, mtimeNs: '1700000000000000001', size: 0, target: '../x' },
  ];
  const bytes = encodeTree(nodes);

  it('random and mutated trees decode or throw a TriadError (E_INTEGRITY or E_UNSAFE_PATH)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(bytesFor(bytes), jsonWithWrongValue({ nodes: JSON.parse(bytes.toString()) as unknown })), (m) => decodesOrNamesDamage(() => decodeTree(m, 'ab'.repeat(32)))),
      runs(600),
    );
  });

  it('a decoded tree has the field types restore relies on', () => {
    fc.assert(
      fc.property(jsonWithWrongValue({ nodes: (JSON.parse(bytes.toString()) as { nodes: unknown }).nodes }), (m) => {
        let tree;
        try {
          tree = decodeTree(m, 'ab'.repeat(32));
        } catch (err) {
          expect(err).toBeInstanceOf(TriadError);
          return;
        }
        for (const n of tree.nodes) {
          expect([n.mode, n.uid, n.gid, n.size].every((v) => Number.isSafeInteger(v) && v >= 0)).toBe(true);
          if (n.type === 'symlink') expect(typeof n.target).toBe('string');
        }
      }),
      runs(400),
    );
  });
});

describe('snapshot manifests', () => {
  const manifest: SnapshotManifest = {
    version: 1, time: '2030-01-01T00:00:00.000Z', finished: '2030-01-01T00:01:00.000Z', policy: 'p', host: 'h', paths: ['/src'], tree: 'ab'.repeat(32), partial: false, tags: ['t'],
    summary: { files: 1, dirs: 0, bytes: 5, filesNew: 1, filesChanged: 0, filesUnchanged: 0, bytesRead: 5, dataAdded: 5, dataAddedPacked: 40, blobsNew: 1, warnings: 0 },
  };

  /** One snapshot object named `id`: loadSnapshots lists it or names the damage. */
  async function listWith(id: string, sealed: Buffer): Promise<void> {
    const storage = new MemoryStorage();
    const r = await Repository.replicate('fuzz', storage, repo);
    await storage.save(`snapshots/${id}`, sealed);
    await decodesOrNamesDamage(() => loadSnapshots(r));
  }

  it('random and mutated stored manifests list or throw E_INTEGRITY', async () => {
    const { id, sealed } = sealSnapshot(repo, manifest);
    await fc.assert(fc.asyncProperty(bytesFor(sealed), (m) => listWith(id, m)), runs(250));
  });

  it('mutated manifest plaintext, sealed with the key under its own id, lists or throws E_INTEGRITY', async () => {
    const plain = Buffer.from(JSON.stringify(manifest));
    await fc.assert(fc.asyncProperty(fc.oneof(mutated(plain), jsonWithWrongValue(manifest)), (m) => listWith(repo.manifestId(m), sealAs(AAD.snapshot, m))), runs(300));
  });
});

describe('journal records and repository locks', () => {
  const record: JournalRecord = { version: 1, kind: 'backup', policy: 'p', host: 'h', started: '2030-01-01T00:00:00Z', finished: '2030-01-01T00:01:00Z', status: 'ok', exitCode: 0, targets: [{ name: 'nas', ok: true, bytesWritten: 5 }], snapshot: 'ab'.repeat(32), details: { files: 1 } };
  const lock = { version: 1, kind: 'shared', host: 'h', pid: 42, command: 'backup', time: '2030-01-01T00:00:00Z', refreshed: '2030-01-01T00:00:00Z', expires: '2030-01-01T00:30:00Z', nonce: 'n' };

  async function replica(dir: string, id: string, sealed: Buffer): Promise<Repository> {
    const storage = new MemoryStorage();
    const r = await Repository.replicate('fuzz', storage, repo);
    await storage.save(`${dir}/${id}`, sealed);
    return r;
  }

  it('mutated journal records (stored or re-sealed) are read or reported damaged, never a crash', async () => {
    const plain = Buffer.from(JSON.stringify(record));
    const stored = repo.sealObject(AAD.journal, record).sealed;
    const id = repo.manifestId(plain);
    await fc.assert(
      fc.asyncProperty(fc.oneof(bytesFor(stored).map((m) => ({ id, sealed: m })), fc.oneof(mutated(plain), jsonWithWrongValue(record)).map((m) => ({ id: repo.manifestId(m), sealed: sealAs(AAD.journal, m) }))), async ({ id, sealed }) => {
        const r = await replica('journal', id, sealed);
        await decodesOrNamesDamage(async () => {
          const { records, damaged } = await readJournal(r);
          expect(records.length + damaged.length).toBe(1);
        });
      }),
      runs(300),
    );
  });

  it('mutated lock objects (stored or re-sealed) are listed, as stale when unreadable, never a crash', async () => {
    const plain = Buffer.from(JSON.stringify(lock));
    const stored = sealAs(LOCK_AAD, plain);
    const id = repo.manifestId(plain);
    await fc.assert(
      fc.asyncProperty(fc.oneof(bytesFor(stored).map((m) => ({ id, sealed: m })), fc.oneof(mutated(plain), jsonWithWrongValue(lock)).map((m) => ({ id: repo.manifestId(m), sealed: sealAs(LOCK_AAD, m) }))), async ({ id, sealed }) => {
        const r = await replica('locks', id, sealed);
        await decodesOrNamesDamage(async () => {
          const [info] = await listLocks(r, { clock, host: 'other', isAlive: () => true });
          expect(info?.stale === true || info?.record?.kind !== undefined).toBe(true);
        });
      }),
      runs(300),
    );
  });

  it('decodeLockRecord takes any JSON value', async () => {
    await fc.assert(fc.asyncProperty(fc.jsonValue(), (v) => decodesOrNamesDamage(() => decodeLockRecord(v))), runs(300));
  });

  it('a mutated job lock file reads as a record (unreadable ones as held), never a crash', async () => {
    const text = Buffer.from(JSON.stringify({ pid: 42, host: 'h', time: '2030-01-01T00:00:00Z', command: 'backup', policy: 'p', nonce: 'abc' }));
    await fc.assert(
      fc.asyncProperty(fc.oneof(bytesFor(text), jsonWithWrongValue(JSON.parse(text.toString()))), (m) =>
        decodesOrNamesDamage(() => {
          const r = parseJobLock(m.toString('utf8'));
          expect(Number.isSafeInteger(r.pid) && typeof r.host === 'string' && typeof r.nonce === 'string').toBe(true);
        }),
      ),
      runs(400),
    );
  });
});

describe('repository config and key files', () => {
  it('a mutated config (stored or re-sealed) opens or throws E_INTEGRITY', async () => {
    const plain = Buffer.from(JSON.stringify(repo.config));
    const stored = seal(repo.key.encrypt, plain, AAD.config);
    await fc.assert(
      fc.asyncProperty(fc.oneof(bytesFor(stored), fc.oneof(mutated(plain), jsonWithWrongValue(repo.config)).map((m) => seal(repo.key.encrypt, m, AAD.config))), (m) =>
        decodesOrNamesDamage(() => decodeConfig('fuzz', repo.key, m)),
      ),
      runs(400),
    );
  });

  it('a config asking for 2 GiB chunks is refused before any buffer is sized by it', () => {
    const crafted = { ...repo.config, chunker: { ...repo.config.chunker, max: 2 ** 31 } };
    expect(() => decodeConfig('fuzz', repo.key, seal(repo.key.encrypt, Buffer.from(JSON.stringify(crafted)), AAD.config))).toThrow(/chunker parameters/);
  });

  it('a mutated key file opens, is refused as damaged (exit 1) or is a wrong passphrase (exit 12)', async () => {
    const master = newMasterKey();
    const { bytes } = await wrapMasterKey(master, 'pw', { created: new Date(0), host: 'h', kdf: TEST_KDF_COST });
    const keyFile = JSON.parse(bytes.toString()) as Record<string, unknown>;
    await fc.assert(
      fc.asyncProperty(fc.oneof(bytesFor(bytes), jsonWithWrongValue(keyFile)), async (m) => {
        const storage = new MemoryStorage();
        await storage.save(`keys/${'e'.repeat(64)}`, m);
        await decodesOrNamesDamage(() => findMasterKey(storage, 'pw', 'fuzz'), [ExitCode.FAILED, ExitCode.WRONG_PASSPHRASE]);
      }),
      runs(250),
    );
  });
});
