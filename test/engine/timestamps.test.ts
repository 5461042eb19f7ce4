import { spawnSync } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobReader } from '../../src/repo/read/blob-reader.js';
import { MasterIndex } from '../../src/repo/index/index-store.js';
import { loadSnapshots } from '../../src/repo/model/snapshot.js';
import { nodeMtimeNs } from '../../src/repo/model/times.js';
import type { TreeNode } from '../../src/repo/model/tree.js';
import { walkTree } from '../../src/repo/read/walk.js';
import { openRepo } from '../prune/helpers.js';
import { PASS, ROOT, scratchDir, triad, triadBytes, writeLocalPolicy } from '../helpers/triad.js';

/** Entries and the times GNU touch gives them (it sets nanoseconds; -h: the symlink itself). */
const TIMES: [string, 'file' | 'dir' | 'symlink', string][] = [
  ['old', 'file', '1960-01-01 00:00:00 UTC'],
  ['old-dir', 'dir', '1960-01-01 00:00:00 UTC'],
  ['old-link', 'symlink', '1960-01-01 00:00:00.25 UTC'],
  ['just-before-1970', 'dir', '1969-12-31 23:59:59.999999 UTC'],
  ['future', 'file', '2400-01-01 12:00:00.5 UTC'],
  ['future-dir', 'dir', '2300-06-15 08:00:00.123456 UTC'],
  ['micros', 'file', '2001-09-09 01:46:40.654321 UTC'],
  ['nanos', 'file', '2020-02-29 12:34:56.123456789 UTC'],
  ['nanos-dir', 'dir', '2022-02-02 02:02:02.000000002 UTC'],
  ['nanos-link', 'symlink', '2021-01-01 00:00:00.987654321 UTC'],
  ['nanos-before-1970', 'file', '1969-07-20 20:17:40.000000001 UTC'],
  ['nanos-1960', 'file', '1960-03-04 05:06:07.123456789 UTC'],
  ['nanos-1960-dir', 'dir', '1960-03-04 05:06:07.987654321 UTC'],
  ['nanos-1960-link', 'symlink', '1960-03-04 05:06:07.000000003 UTC'],
  ['nanos-1969-dir', 'dir', '1969-12-31 23:59:59.999999999 UTC'],
  ['nanos-1969-link', 'symlink', '1969-12-31 23:59:59.000000001 UTC'],
  ['nanos-2300', 'file', '2300-06-15 08:00:00.000000999 UTC'],
  ['nanos-2300-link', 'symlink', '2300-06-15 08:00:00.333333333 UTC'],
  ...(['file', 'dir', 'symlink'] as const).map((type, i): [string, typeof type, string] => [`nanos-now-${type}`, type, nowWithNanos(i)]),
];

/** The current time with odd nanoseconds (a different count per entry), as touch -d reads it. */
function nowWithNanos(i: number): string {
  const iso = new Date().toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}45678${2 * i + 1} UTC`;
}

/** The entries a snapshot records with mtimeNs: those whose time has a part below the microsecond. */
const WITH_NANOS = TIMES.filter(([name]) => name.startsWith('nanos')).map(([name]) => name);

const mtimeNs = (path: string) => lstatSync(path, { bigint: true }).mtimeNs;

describe('modification times before 1970, far in the future and to the nanosecond', () => {
  const work = scratchDir();
  const src = join(work, 'src');
  const source = new Map<string, bigint>();
  let policy: string;
  beforeAll(() => {
    mkdirSync(src);
    for (const [name, type, time] of TIMES) {
      const p = join(src, name);
      if (type === 'file') writeFileSync(p, `${name}\n`);
      else if (type === 'dir') mkdirSync(p);
      else symlinkSync('micros', p);
      const t = spawnSync('touch', ['-h', '-d', time, p]);
      expect(t.status, t.stderr.toString()).toBe(0);
      source.set(name, mtimeNs(p));
    }
    // The times are the ones asked for (the file system holds them all).
    expect(source.get('old')).toBe(-315_619_200_000_000_000n);
    expect(source.get('nanos')).toBe(1_582_979_696_123_456_789n);
    policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas'), media: 'nas', offsite: false } }, rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    // Twice: the first backup lstats on the main thread, the second in the stat-ahead thread.
    for (let i = 0; i < 2; i++) {
      const b = triad(['backup', '-p', policy], { env: PASS });
      expect(b.code, b.stderr).toBe(0);
    }
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('are recorded exactly, by both walks, with mtimeNs only where mtime does not give the time', async () => {
    const repo = await openRepo(join(work, 'nas'));
    try {
      const reader = new BlobReader(repo, await MasterIndex.load(repo));
      const snaps = await loadSnapshots(repo);
      expect(snaps).toHaveLength(2);
      expect(snaps[1]!.tree).toBe(snaps[0]!.tree);
      const nodes = new Map<string, TreeNode>();
      for await (const { path, node } of walkTree(reader, snaps[0]!.tree)) nodes.set(path, node);
      for (const [name] of TIMES) expect(nodeMtimeNs(nodes.get(`src/${name}`)!), name).toBe(source.get(name));
      // Whole seconds and microseconds (up to 2255) need no new field: such nodes keep their old bytes.
      for (const name of ['old', 'old-dir', 'old-link', 'just-before-1970', 'future', 'micros']) expect(nodes.get(`src/${name}`)!.mtimeNs, name).toBeUndefined();
      for (const name of WITH_NANOS) expect(nodes.get(`src/${name}`)!.mtimeNs, name).toBe(source.get(name)!.toString());
    } finally {
      await repo.storage.close();
    }
  });

  it('are restored exactly, to the nanosecond, for files, directories and symlinks: into an empty directory and over an earlier restore', () => {
    const to = join(work, 'restore');
    const expectExact = () => {
      for (const [name] of TIMES) expect(mtimeNs(join(to, 'src', name)), name).toBe(source.get(name));
      expect(mtimeNs(join(to, 'src'))).toBe(mtimeNs(src));
    };
    // Into an empty directory, the writer threads create everything; over an existing tree
    // with --overwrite, the main thread makes the symlinks and finds the directories there.
    const r = triad(['restore', '-p', policy, 'latest', '--to', to], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/microsecond/);
    expectExact();
    const t = spawnSync('find', [to, '-mindepth', '1', '-exec', 'touch', '-h', '-d', '2000-01-01 00:00:00.5 UTC', '{}', '+']);
    expect(t.status, t.stderr.toString()).toBe(0);
    expect(mtimeNs(join(to, 'src', 'nanos-1960-link'))).toBe(946_684_800_500_000_000n);
    const again = triad(['restore', '-p', policy, 'latest', '--to', to, '--overwrite'], { env: PASS });
    expect(again.code, again.stderr).toBe(0);
    expectExact();
  });

  it('are restored to the microsecond, with one warning, where koffi cannot load', () => {
    // An installation of this build without koffi, as on a platform it has no binary for.
    const install = join(work, 'no-koffi');
    for (const part of ['bin', 'dist', 'package.json']) cpSync(join(ROOT, part), join(install, part), { recursive: true });
    mkdirSync(join(install, 'node_modules'));
    for (const name of readdirSync(join(ROOT, 'node_modules'))) {
      if (name !== 'koffi' && name !== '@koromix') symlinkSync(join(ROOT, 'node_modules', name), join(install, 'node_modules', name));
    }
    const to = join(work, 'restore-no-koffi');
    const r = spawnSync(process.execPath, [join(install, 'bin', 'triad'), 'restore', '-p', policy, 'latest', '--to', to], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...PASS } });
    const stderr = r.stderr.toString();
    expect(r.status, stderr).toBe(0);
    expect(stderr.match(/modification times are restored to the microsecond only: koffi did not load \(Cannot find module 'koffi'\)\n/g), stderr).toHaveLength(1);
    for (const [name] of TIMES) {
      const want = source.get(name)!;
      // Floor to the microsecond, also before 1970 (-1 ns is -1 µs + 999 ns).
      const floorUs = want - (((want % 1000n) + 1000n) % 1000n);
      expect(mtimeNs(join(to, 'src', name)), name).toBe(floorUs);
    }
  });

  it('are dumped as PAX records that GNU tar lists and extracts to the nanosecond', async () => {
    const d = await triadBytes(['dump', '-p', policy, 'latest'], PASS);
    expect(d.code, d.stderr).toBe(0);
    const list = spawnSync('tar', ['-tv', '--full-time'], { input: d.stdout });
    expect(list.status, list.stderr.toString()).toBe(0);
    const listed = list.stdout.toString();
    expect(listed).toMatch(/ 1960-01-01 00:00:00 +src\/old\n/);
    expect(listed).toMatch(/ 2400-01-01 12:00:00\.5 +src\/future\n/);
    expect(listed).toMatch(/ 2020-02-29 12:34:56\.123456789 +src\/nanos\n/);
    const out = join(work, 'untar');
    mkdirSync(out);
    const x = spawnSync('tar', ['-x', '-C', out], { input: d.stdout });
    expect(x.status, x.stderr.toString()).toBe(0);
    for (const [name] of TIMES) expect(mtimeNs(join(out, 'src', name)), name).toBe(source.get(name));
  });
});
