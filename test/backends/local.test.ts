import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStorage, openLocalStorage } from '../../src/backends/local.js';
import { openStorage } from '../../src/backends/open.js';
import type { Storage } from '../../src/backends/storage.js';
import type { LocalTarget } from '../../src/policy/types.js';
import { collect, describeStorageContract, expectKind } from './contract.js';

let scratch: string;
let counter = 0;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'triad-local-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});
const freshRoot = (): string => path.join(scratch, `repo-${++counter}`);

describeStorageContract('local', {
  make: () => openLocalStorage(freshRoot(), { create: true }),
  enforcesIfAbsent: true,
  abortsInFlight: true,
  missingContainer: { make: async () => new LocalStorage(path.join(scratch, 'no-such-dir', 'repo')), kind: 'no-container' },
});

describe('LocalStorage specifics', () => {
  it('lays objects out as files under the root, creating parent directories on demand', async () => {
    const root = freshRoot();
    const s = await openLocalStorage(root, { create: true });
    const _conforms: Storage = s;
    await s.save('data/9f/abcdef', Buffer.from('pack'));
    expect((await stat(path.join(root, 'data', '9f', 'abcdef'))).size).toBe(4);
    expect((await readdir(path.join(root, 'data', '9f'))).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    expect(_conforms.location).toBe(`local:${root}`);
  });

  it("reports a missing root as 'no-container' on save instead of creating it", async () => {
    const root = path.join(scratch, 'absent-root');
    const s = new LocalStorage(root);
    await expectKind(s.save('config', Buffer.from('x')), 'no-container');
    await expect(stat(root)).rejects.toMatchObject({ code: 'ENOENT' });
    await expectKind(s.stat('config'), 'no-container');
  });

  it('skips leftover temporary files in listings', async () => {
    const root = freshRoot();
    const s = await openLocalStorage(root, { create: true });
    await s.save('index/i1', Buffer.from('x'));
    await writeFile(path.join(root, 'index', '.tmp-deadbeef'), 'partial');
    expect((await collect(s.list('index/'))).map((o) => o.name)).toEqual(['index/i1']);
  });

  it("refuses a FIFO in place of an object at once ('invalid', naming it), and lists it so readers meet it", async () => {
    const root = freshRoot();
    const s = await openLocalStorage(root, { create: true });
    await mkdir(path.join(root, 'data', 'ab'), { recursive: true });
    const fifo = path.join(root, 'data', 'ab', 'pipe');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    // Without O_NONBLOCK the open would wait for a writer forever.
    const e = await expectKind(s.load('data/ab/pipe'), 'invalid');
    expect(e.message).toContain('data/ab/pipe is a FIFO, not a regular file');
    await expectKind(s.stat('data/ab/pipe'), 'invalid');
    expect(await collect(s.list('data/'))).toEqual([{ name: 'data/ab/pipe', size: 0 }]);
  });

  it('lists the temporary files of interrupted saves apart, and removes them by name', async () => {
    const root = freshRoot();
    const s = await openLocalStorage(root, { create: true });
    await s.save('index/i1', Buffer.from('x'));
    await writeFile(path.join(root, 'index', '.tmp-left1'), 'abc');
    await writeFile(path.join(root, '.tmp-left2'), 'de');
    expect((await collect(s.listTemporary())).sort((a, b) => (a.name < b.name ? -1 : 1))).toEqual([
      { name: '.tmp-left2', size: 2 },
      { name: 'index/.tmp-left1', size: 3 },
    ]);
    expect(await collect(s.list(''))).toEqual([{ name: 'index/i1', size: 1 }]);
    await s.remove('index/.tmp-left1');
    expect(await collect(s.listTemporary())).toEqual([{ name: '.tmp-left2', size: 2 }]);
  });

  it('retries a colliding temporary name instead of overwriting another writer', async () => {
    const root = freshRoot();
    const tokens = ['same', 'same', 'other'];
    const s = await openLocalStorage(root, { create: true, token: () => tokens.shift() ?? 'x' });
    await writeFile(path.join(root, 'keys', '.tmp-same'), 'someone else');
    await s.save('keys/k', Buffer.from('mine'));
    expect((await s.load('keys/k')).toString()).toBe('mine');
    expect((await readdir(path.join(root, 'keys'))).sort()).toEqual(['.tmp-same', 'k']);
  });

  it('reports capacity from statfs', async () => {
    const s = await openLocalStorage(freshRoot(), { create: true });
    const cap = await s.capacity();
    expect(cap?.total).toBeGreaterThan(0);
    expect(cap?.free).toBeGreaterThan(0);
    expect(cap!.free).toBeLessThanOrEqual(cap!.total);
  });

  it('opens through openStorage with create, wrapped, relative to cwd', async () => {
    const target: LocalTarget = { name: 'nas', type: 'local', path: 'rel-repo', media: 'nas', offsite: false, immutable: false, upload_limit: 0 };
    const s = await openStorage(target, { env: {}, cwd: scratch, create: true });
    await s.save('config', Buffer.from('c'));
    expect((await stat(path.join(scratch, 'rel-repo', 'config'))).size).toBe(1);
    expect(s.location).toBe(`local:${path.join(scratch, 'rel-repo')}`);
    expect(typeof s.capacity).toBe('function');
    const missing = await openStorage({ ...target, path: 'not-created' }, { env: {}, cwd: scratch });
    await expectKind(missing.load('config'), 'no-container');
  });
});
