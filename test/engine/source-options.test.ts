import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PASS, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';

const CACHEDIR_TAG = 'Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag.\n';

function write(root: string, rel: string, content: string | Buffer = rel): void {
  const path = join(root, rel);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
}

/** src/{keep.txt, big.iso, cache/{CACHEDIR.TAG, blob, sub/x}, fake/{CACHEDIR.TAG (no signature), data}, proj/{.nobackup, secret}, docs/a.md} */
function sourceTree(work: string): string {
  const src = join(work, 'src');
  write(src, 'keep.txt');
  write(src, 'big.iso', Buffer.alloc(3000, 7));
  write(src, 'cache/CACHEDIR.TAG', CACHEDIR_TAG);
  write(src, 'cache/blob');
  write(src, 'cache/sub/x');
  write(src, 'fake/CACHEDIR.TAG', 'Signature: not the one\n');
  write(src, 'fake/data');
  write(src, 'proj/.nobackup', '');
  write(src, 'proj/secret');
  write(src, 'docs/a.md');
  return src;
}

function listing(policy: string): string[] {
  const r = triad(['ls', '-p', policy, 'latest'], { env: PASS });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim().split('\n');
}

describe('source options', () => {
  it('exclude_caches, exclude_if_present and exclude_larger_than leave out what they name; the tag files stay; the next backup agrees', () => {
    const work = tempDir();
    const src = sourceTree(work);
    const policy = writeLocalPolicy(work, { sources: [{ path: src, exclude_caches: true, exclude_if_present: ['.nobackup'], exclude_larger_than: '2KiB' }] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    const first = triad(['backup', '-p', policy], { env: PASS });
    expect(first.code, first.stderr).toBe(0);
    const kept = ['src/', 'src/cache/', 'src/cache/CACHEDIR.TAG', 'src/docs/', 'src/docs/a.md', 'src/fake/', 'src/fake/CACHEDIR.TAG', 'src/fake/data', 'src/keep.txt', 'src/proj/', 'src/proj/.nobackup'];
    expect(listing(policy)).toEqual(kept);
    // The second backup lists the tree on the stat-ahead thread: it must leave out the same entries.
    const second = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout).summary).toMatchObject({ files: 6, filesNew: 0, filesChanged: 0, filesUnchanged: 6 });
    expect(listing(policy)).toEqual(kept);
  });

  it('backup --dry-run lists the files it would read and, with -v, each excluded path with its rule', () => {
    const work = tempDir();
    const src = sourceTree(work);
    const policy = writeLocalPolicy(work, { sources: [{ path: src, exclude: ['*.md'], exclude_caches: true, exclude_if_present: ['.nobackup'], exclude_larger_than: '2KiB' }] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    const plain = triad(['backup', '-p', policy, '--dry-run'], { env: PASS });
    expect(plain.code, plain.stderr).toBe(0);
    const read = ['cache/CACHEDIR.TAG', 'fake/CACHEDIR.TAG', 'fake/data', 'keep.txt', 'proj/.nobackup'].map((p) => `new     ${join(src, p)}`);
    expect(plain.stdout.split('\n').filter((l) => l.startsWith('new') || l.startsWith('excluded'))).toEqual(read);
    const verbose = triad(['backup', '-p', policy, '--dry-run', '-v'], { env: PASS });
    expect(verbose.stdout.split('\n').filter((l) => l.startsWith('excluded'))).toEqual([
      `excluded ${join(src, 'big.iso')} (exclude_larger_than 2.0 KiB)`,
      `excluded ${join(src, 'cache/blob')} (exclude_caches: CACHEDIR.TAG in its directory)`,
      `excluded ${join(src, 'cache/sub')} (exclude_caches: CACHEDIR.TAG in its directory)`,
      `excluded ${join(src, 'docs/a.md')} (exclude '*.md')`,
      `excluded ${join(src, 'proj/secret')} (exclude_if_present: .nobackup in its directory)`,
    ]);
    const json = JSON.parse(triad(['backup', '-p', policy, '--dry-run', '--json'], { env: PASS }).stdout);
    expect(json.plan.excluded).toContainEqual({ path: join(src, 'big.iso'), rule: 'exclude_larger_than', detail: '2048' });
    expect(triad(['snapshots', '-p', policy, '--json'], { env: PASS }).stdout).toContain('"snapshots": []');
  });

  it('files_from backs up the listed paths only; a listed path that does not exist is named and makes the snapshot partial', () => {
    const work = tempDir();
    const src = sourceTree(work);
    const list = join(work, 'list.txt');
    writeFileSync(list, `# what matters\nkeep.txt\n\n${join(src, 'proj')}\n  # indented comment\nnot-there.txt\n`);
    const policy = writeLocalPolicy(work, { sources: [{ path: src, files_from: 'list.txt' }] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    const r = triad(['backup', '-p', policy], { env: PASS });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain(`${join(src, 'not-there.txt')}: listed in ${list} but does not exist`);
    expect(listing(policy)).toEqual(['src/', 'src/keep.txt', 'src/proj/', 'src/proj/.nobackup', 'src/proj/secret']);
    writeFileSync(list, 'keep.txt\n');
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    expect(listing(policy)).toEqual(['src/', 'src/keep.txt']);
  });

  it('files_from names a file whose name is not UTF-8 by its bytes, as the walk reads it', () => {
    const work = tempDir();
    const src = join(work, 'src');
    mkdirSync(src);
    // f\xff\xfe and d\xc3(/x: bytes no UTF-8 decoder accepts; plain.txt is not listed.
    const named = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
    writeFileSync(named(src, '/f', [0xff, 0xfe]), 'one');
    mkdirSync(named(src, '/d', [0xc3, 0x28]));
    writeFileSync(named(src, '/d', [0xc3, 0x28], '/x'), 'two');
    writeFileSync(join(src, 'plain.txt'), 'three');
    const list = join(work, 'list.txt');
    writeFileSync(list, named('f', [0xff, 0xfe], '\n', src, '/d', [0xc3, 0x28], '/x\n'));
    const policy = writeLocalPolicy(work, { sources: [{ path: src, files_from: list }] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    const r = triad(['backup', '-p', policy], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    expect(listing(policy)).toEqual(['src/', 'src/d\\xc3(/', 'src/d\\xc3(/x', 'src/f\\xff\\xfe']);
  });

  it('files_from: a path outside the source, or a list that cannot be read, is an error naming it; nothing is written', () => {
    const work = tempDir();
    const src = sourceTree(work);
    const list = join(work, 'list.txt');
    writeFileSync(list, 'keep.txt\n/etc/passwd\n');
    const policy = writeLocalPolicy(work, { sources: [{ path: src, files_from: list }] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    const outside = triad(['backup', '-p', policy], { env: PASS });
    expect(outside.code).toBe(2);
    expect(outside.stderr).toContain(`${list}:2: /etc/passwd is not inside source ${src}`);
    const missing = writeLocalPolicy(work, { name: 'missing', sources: [{ path: src, files_from: 'nope.txt' }] });
    const r = triad(['backup', '-p', missing], { env: PASS });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`files_from ${join(work, 'nope.txt')} of source ${src} cannot be read`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(triad(['snapshots', '-p', policy, '--json'], { env: PASS }).stdout).toContain('"snapshots": []');
  });

  it('invalid option values are policy errors with file, line and field', () => {
    const work = tempDir();
    const policy = writeLocalPolicy(work, { sources: [{ path: work, exclude_larger_than: 'lots', exclude_if_present: ['a/b'], exclude_caches: 'yes' }] });
    const r = triad(['policy', 'check', policy], { env: PASS });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/test\.yaml:\d+:\d+: sources\[0\]\.exclude_larger_than: invalid size "lots"/);
    expect(r.stdout).toMatch(/test\.yaml:\d+:\d+: sources\[0\]\.exclude_if_present\[0\]: expected a file name such as \.nobackup, not a path/);
    expect(r.stdout).toMatch(/test\.yaml:\d+:\d+: sources\[0\]\.exclude_caches: /);
  });
});
