import { spawnSync } from 'node:child_process';
import { socketFile } from '../helpers/tree.js';
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, lstatSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { PASS, giveToUnprivileged, tempDir, triad, triadBytes, triadUnprivileged, unprivilegedDir, writeLocalPolicy } from '../helpers/triad.js';

/** The entries of a tar stream: name, type, link name and device numbers, read back with tar-stream. */
async function tarEntries(bytes: Buffer): Promise<{ name: string; type: string; linkname: string | null; devmajor: number; devminor: number }[]> {
  const entries: { name: string; type: string; linkname: string | null; devmajor: number; devminor: number }[] = [];
  const x = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    x.on('entry', (h, stream, next) => {
      entries.push({ name: h.name, type: h.type ?? 'file', linkname: h.linkname ?? null, devmajor: h.devmajor ?? 0, devminor: h.devminor ?? 0 });
      stream.on('end', next);
      stream.resume();
    });
    x.on('finish', resolve);
    x.on('error', reject);
  });
  x.end(bytes);
  await done;
  return entries;
}

/** src/{a/f, b/g, h} three names of one 300 KiB file, and src/{x, b/y} two names of another; src/solo one name. */
function linkedTree(work: string): { src: string; content: Buffer } {
  const src = join(work, 'src');
  mkdirSync(join(src, 'a'), { recursive: true });
  mkdirSync(join(src, 'b'), { recursive: true });
  const content = randomBytes(300 * 1024);
  writeFileSync(join(src, 'a', 'f'), content);
  linkSync(join(src, 'a', 'f'), join(src, 'b', 'g'));
  linkSync(join(src, 'a', 'f'), join(src, 'h'));
  writeFileSync(join(src, 'x'), 'another file with two names\n');
  linkSync(join(src, 'x'), join(src, 'b', 'y'));
  writeFileSync(join(src, 'solo'), 'one name\n');
  return { src, content };
}

const ino = (p: string) => lstatSync(p).ino;

/** linkedTree in a fresh directory, backed up once; `to`, where a test restores it, does not exist yet. */
function backedUpLinkedTree(): { policy: string; content: Buffer; to: string } {
  const work = tempDir();
  const { src, content } = linkedTree(work);
  const policy = writeLocalPolicy(work, { sources: [src] });
  expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
  expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
  return { policy, content, to: join(work, 'restored') };
}

describe('hard links', () => {
  it('a set spanning directories is read once, listed with its link count, restored as links and dumped as tar link entries', async () => {
    const work = tempDir();
    const { src, content } = linkedTree(work);
    const policy = writeLocalPolicy(work, { sources: [src] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    const b = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(b.code, b.stderr).toBe(0);
    // Each inode's bytes once: not 3 x 300 KiB + 2 x 28.
    expect(JSON.parse(b.stdout).summary.bytesRead).toBe(content.length + 28 + 9);

    const ls = triad(['ls', '-p', policy, 'latest', '-l'], { env: PASS });
    expect(ls.code, ls.stderr).toBe(0);
    const linkCount = (path: string) => ls.stdout.split('\n').find((l) => l.endsWith(` ${path}`))?.trim().split(/\s+/)[1];
    expect([linkCount('src/a/f'), linkCount('src/b/g'), linkCount('src/h'), linkCount('src/x'), linkCount('src/b/y'), linkCount('src/solo')]).toEqual(['3', '3', '3', '2', '2', '1']);

    const to = join(work, 'restored');
    const r = triad(['restore', '-p', policy, 'latest', '--to', to], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    const out = join(to, 'src');
    expect(ino(join(out, 'b', 'g'))).toBe(ino(join(out, 'a', 'f')));
    expect(ino(join(out, 'h'))).toBe(ino(join(out, 'a', 'f')));
    expect(lstatSync(join(out, 'a', 'f')).nlink).toBe(3);
    expect(ino(join(out, 'b', 'y'))).toBe(ino(join(out, 'x')));
    expect(ino(join(out, 'x'))).not.toBe(ino(join(out, 'a', 'f')));
    expect(lstatSync(join(out, 'solo')).nlink).toBe(1);
    expect(readFileSync(join(out, 'h')).equals(content)).toBe(true);

    const dump = await triadBytes(['dump', '-p', policy, 'latest'], PASS);
    expect(dump.code, dump.stderr).toBe(0);
    const entries = await tarEntries(dump.stdout);
    const links = entries.filter((e) => e.type === 'link').map((e) => [e.name, e.linkname]);
    // Depth first, in name order: the first name met carries the content.
    expect(links).toEqual([
      ['src/b/g', 'src/a/f'],
      ['src/h', 'src/a/f'],
      ['src/x', 'src/b/y'],
    ]);
    // GNU tar extracts the links as links.
    const untar = join(work, 'untar');
    mkdirSync(untar);
    const x = spawnSync('tar', ['-x', '-C', untar], { input: dump.stdout });
    expect(x.status, x.stderr.toString()).toBe(0);
    expect(ino(join(untar, 'src', 'h'))).toBe(ino(join(untar, 'src', 'a', 'f')));
    expect(readFileSync(join(untar, 'src', 'b', 'g')).equals(content)).toBe(true);

    // The next backup finds every name unchanged and reads nothing.
    const again = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).summary).toMatchObject({ bytesRead: 0, filesUnchanged: 6 });
  });

  it('--include of part of a set: the first restored name gets the content, the others link to it', () => {
    const { policy, content, to } = backedUpLinkedTree();
    const r = triad(['restore', '-p', policy, 'latest', '--to', to, '--include', 'src/b/**', '--include', 'src/h'], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(to, 'src', 'a'))).toBe(false);
    expect(readFileSync(join(to, 'src', 'b', 'g')).equals(content)).toBe(true);
    expect(ino(join(to, 'src', 'h'))).toBe(ino(join(to, 'src', 'b', 'g')));
    expect(lstatSync(join(to, 'src', 'h')).nlink).toBe(2);
    expect(lstatSync(join(to, 'src', 'b', 'y')).nlink).toBe(1);
    expect(readFileSync(join(to, 'src', 'b', 'y'), 'utf8')).toBe('another file with two names\n');
  });

  it('--overwrite links again names that became separate copies, and leaves names that are links in place', () => {
    const { policy, content, to } = backedUpLinkedTree();
    expect(triad(['restore', '-p', policy, 'latest', '--to', to], { env: PASS }).code).toBe(0);
    const out = join(to, 'src');
    // Two names of the first set and one of the second become copies with the same bytes.
    for (const name of [join('b', 'g'), 'h', join('b', 'y')]) {
      const p = join(out, name);
      const bytes = readFileSync(p);
      const st = lstatSync(p);
      rmSync(p);
      writeFileSync(p, bytes, { mode: st.mode });
      utimesSync(p, st.atime, st.mtime);
    }
    expect(lstatSync(join(out, 'a', 'f')).nlink).toBe(1);
    const again = triad(['restore', '-p', policy, 'latest', '--to', to, '--overwrite'], { env: PASS });
    expect(again.code, again.stderr).toBe(0);
    expect(ino(join(out, 'b', 'g'))).toBe(ino(join(out, 'a', 'f')));
    expect(ino(join(out, 'h'))).toBe(ino(join(out, 'a', 'f')));
    expect(lstatSync(join(out, 'a', 'f')).nlink).toBe(3);
    expect(ino(join(out, 'b', 'y'))).toBe(ino(join(out, 'x')));
    expect(readFileSync(join(out, 'h')).equals(content)).toBe(true);
    // Once they are links again, another --overwrite leaves every name as it is (the same inodes).
    const before = [join('a', 'f'), join('b', 'g'), 'h', 'x', join('b', 'y')].map((n) => ino(join(out, n)));
    const third = triad(['restore', '-p', policy, 'latest', '--to', to, '--overwrite', '--json'], { env: PASS });
    expect(third.code, third.stderr).toBe(0);
    expect([join('a', 'f'), join('b', 'g'), 'h', 'x', join('b', 'y')].map((n) => ino(join(out, n)))).toEqual(before);
    expect(lstatSync(join(out, 'a', 'f')).nlink).toBe(3);
  });
});

describe('FIFOs and device nodes', () => {
  /** src/{pipe (FIFO, 0640), null (char device 1,3 like /dev/null, 0620), plain}. */
  function specialTree(work: string): string {
    const src = join(work, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'plain'), 'plain\n');
    for (const [cmd, args] of [['mkfifo', ['-m', '640', join(src, 'pipe')]], ['mknod', ['-m', '620', join(src, 'null'), 'c', '1', '3']]] as const) {
      const made = spawnSync(cmd, args);
      expect(made.status, made.stderr.toString()).toBe(0);
    }
    return src;
  }

  it('are recorded, listed, dumped and recreated by a restore as root', async () => {
    const work = tempDir();
    const src = specialTree(work);
    const policy = writeLocalPolicy(work, { sources: [src] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    const b = triad(['backup', '-p', policy], { env: PASS });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).not.toContain('skipped');

    const ls = triad(['ls', '-p', policy, 'latest', '-l'], { env: PASS });
    expect(ls.stdout).toMatch(/^prw-r-----\s+1\s+0\s+0\s+0\s.*src\/pipe$/m);
    expect(ls.stdout).toMatch(/^crw--w----\s+1\s+0\s+0\s+1, 3\s.*src\/null$/m);

    const to = join(work, 'restored');
    const r = triad(['restore', '-p', policy, 'latest', '--to', to], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('2 FIFO(s) and device node(s) created');
    const pipe = lstatSync(join(to, 'src', 'pipe'));
    expect(pipe.isFIFO()).toBe(true);
    expect(pipe.mode & 0o7777).toBe(0o640);
    const dev = lstatSync(join(to, 'src', 'null'));
    expect(dev.isCharacterDevice()).toBe(true);
    expect(dev.rdev).toBe(lstatSync(join(src, 'null')).rdev);
    expect(dev.mode & 0o7777).toBe(0o620);
    expect(dev.mtimeMs).toBe(lstatSync(join(src, 'null')).mtimeMs);

    const dump = await triadBytes(['dump', '-p', policy, 'latest'], PASS);
    expect(dump.code, dump.stderr).toBe(0);
    const entries = await tarEntries(dump.stdout);
    expect(entries.find((e) => e.name === 'src/pipe')?.type).toBe('fifo');
    expect(entries.find((e) => e.name === 'src/null')).toMatchObject({ type: 'character-device', devmajor: 1, devminor: 3 });
  });

  it('as another user than root, a device node is skipped with one notice; the FIFO is made and the restore succeeds', () => {
    const work = unprivilegedDir();
    const src = specialTree(work);
    mknodBlockToo(src);
    const policy = writeLocalPolicy(work, { sources: [src] });
    giveToUnprivileged(work);
    const run = (...args: string[]) => triadUnprivileged([...args, '-p', policy], { env: PASS });
    expect(run('init').code).toBe(0);
    const b = run('backup');
    expect(b.code, b.stderr).toBe(0);
    const to = join(work, 'restored');
    const r = run('restore', 'latest', '--to', to);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/device nodes not restored/g)).toHaveLength(1);
    expect(r.stderr).toContain('device nodes not restored: 2 (src/loop9 and others); only root can create them');
    expect(lstatSync(join(to, 'src', 'pipe')).isFIFO()).toBe(true);
    expect(existsSync(join(to, 'src', 'null'))).toBe(false);
    expect(readFileSync(join(to, 'src', 'plain'), 'utf8')).toBe('plain\n');
  });

  it('a socket is still skipped with a notice', () => {
    const work = tempDir();
    const src = join(work, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'plain'), 'plain\n');
    socketFile(join(src, 'sock'));
    const policy = writeLocalPolicy(work, { sources: [src] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    const b = triad(['backup', '-p', policy], { env: PASS });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain(`${join(src, 'sock')}: socket: skipped`);
  });
});

/** A block device node too (loop9: 7,9), so the notice counts two. */
function mknodBlockToo(src: string): void {
  const made = spawnSync('mknod', ['-m', '600', join(src, 'loop9'), 'b', '7', '9']);
  expect(made.status, made.stderr.toString()).toBe(0);
}
