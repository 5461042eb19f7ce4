import { getAttributeSync, setAttributeSync } from '@napi-rs/xattr';
import { spawnSync } from 'node:child_process';
import { closeSync, lstatSync, openSync, lutimesSync, mkdirSync, utimesSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASS, scratchDir, triad, triadBytes, writeLocalPolicy } from '../helpers/triad.js';

/** A path under `dir` (a string) joined with a name given as bytes. */
const at = (dir: string, ...names: Buffer[]): Buffer => Buffer.concat([Buffer.from(dir), ...names.flatMap((n) => [Buffer.from('/'), n])]);
const b = (...bytes: (number | string)[]): Buffer => Buffer.concat(bytes.map((x) => (typeof x === 'string' ? Buffer.from(x) : Buffer.of(x))));

const FFFE = b('f', 0xff, 0xfe);
const ONLY_FF = b('x', 0xff);
const ONLY_FE = b('x', 0xfe);
const BAD_DIR = b('dir', 0xc3, 0x28);
const NFC = b('caf', 0xc3, 0xa9); // "café" with U+00E9
const NFD = b('cafe', 0xcc, 0x81); // "café" with e + U+0301
const BACKSLASH = b('a\\xff');
const LINK = b('link', 0xff);
const LINK_TARGET = b('../t', 0xfe);

/** Runs fn with a string path to the directory at `path` (bytes), as the xattr calls need. */
function viaOpenDir(path: Buffer, fn: (dir: string) => void): void {
  const fd = openSync(path, 'r');
  try {
    fn(`/proc/self/fd/${fd}`);
  } finally {
    closeSync(fd);
  }
}

/** Every entry below `dir` as [path bytes (hex), kind, content or link target bytes (hex)], sorted. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: Buffer, rel: string) => {
    for (const name of readdirSync(abs, { encoding: 'buffer' })) {
      const p = Buffer.concat([abs, Buffer.from('/'), name]);
      const r = `${rel}/${name.toString('hex')}`;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.push(`${r} dir`);
        walk(p, r);
      } else if (st.isSymbolicLink()) out.push(`${r} link ${readlinkSync(p, { encoding: 'buffer' }).toString('hex')}`);
      else out.push(`${r} file ${readFileSync(p).toString('hex')}`);
    }
  };
  walk(Buffer.from(dir), '');
  return out.sort();
}

describe('names that are not UTF-8, NFC and NFD (CLI as a subprocess)', () => {
  const work = scratchDir();
  const src = join(work, 'src');
  let policy: string;

  beforeAll(() => {
    mkdirSync(src);
    writeFileSync(at(src, FFFE), 'bytes ff fe');
    writeFileSync(at(src, ONLY_FF), 'only ff');
    writeFileSync(at(src, ONLY_FE), 'only fe');
    mkdirSync(at(src, BAD_DIR));
    writeFileSync(at(src, BAD_DIR, b('inner')), 'inside a directory whose name is not UTF-8');
    viaOpenDir(at(src, BAD_DIR), (dir) => setAttributeSync(`${dir}/inner`, 'user.kept', Buffer.from('under a directory not UTF-8')));
    // On the directory itself ("X/." is X, and not a symlink to follow): its own name is not UTF-8.
    viaOpenDir(at(src, BAD_DIR), (dir) => setAttributeSync(`${dir}/.`, 'user.own', Buffer.from([0, 1, 2, 0xff])));
    writeFileSync(at(src, BAD_DIR, FFFE), 'both not UTF-8');
    writeFileSync(at(src, NFC), 'composed');
    writeFileSync(at(src, NFD), 'decomposed');
    writeFileSync(at(src, BACKSLASH), 'a literal backslash, x, f, f');
    symlinkSync(LINK_TARGET, at(src, LINK));
    // Times a restore would not give by chance.
    lutimesSync(at(src, LINK), 981173106.25, 981173106.25);
    utimesSync(at(src, BAD_DIR), 981173107.5, 981173107.5);
    policy = writeLocalPolicy(work, { sources: [src] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('a backup reads every entry (exit 0, complete) and a restore gives back the very bytes of every name', () => {
    const r = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { partial: boolean; warnings: unknown[]; summary: { filesNew: number; dirs: number } };
    expect(out.partial).toBe(false);
    // Extended attributes of entries whose own names are not UTF-8 are read through their bytes: no notice.
    expect(out.warnings).toEqual([]);
    // 8 regular files and a symlink; src and the directory not UTF-8.
    expect(out.summary.filesNew).toBe(8);
    expect(out.summary.dirs).toBe(2);

    const to = join(work, 'restored');
    const rr = triad(['restore', '-p', policy, 'latest', '--to', to], { env: PASS });
    expect(rr.code, rr.stderr).toBe(0);
    expect(listing(join(to, 'src'))).toEqual(listing(src));
    // An entry under a directory whose name is not UTF-8 keeps its extended attributes.
    viaOpenDir(at(join(to, 'src'), BAD_DIR), (dir) => expect(getAttributeSync(`${dir}/inner`, 'user.kept')?.toString()).toBe('under a directory not UTF-8'));
    // And an entry whose own name is not UTF-8 keeps its own.
    viaOpenDir(at(join(to, 'src'), BAD_DIR), (dir) => expect(getAttributeSync(`${dir}/.`, 'user.own')).toEqual(Buffer.from([0, 1, 2, 0xff])));
    // Times of a directory and a symlink are set by path (utimensat): through the name's bytes.
    for (const name of [BAD_DIR, LINK]) expect(lstatSync(at(join(to, 'src'), name)).mtimeMs).toBe(lstatSync(at(src, name)).mtimeMs);
    // NFC and NFD spellings stay two files, each with its content.
    expect(readFileSync(at(join(to, 'src'), NFC), 'utf8')).toBe('composed');
    expect(readFileSync(at(join(to, 'src'), NFD), 'utf8')).toBe('decomposed');
  });

  it('a second backup finds every file unchanged (names compare equal to the parent snapshot)', () => {
    const r = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ partial: false, summary: { filesNew: 0, filesChanged: 0, filesUnchanged: 8 } });
  });

  it('ls and diff show such names escaped and unambiguous, in text and in JSON', () => {
    const ls = triad(['ls', '-p', policy, 'latest'], { env: PASS });
    expect(ls.code, ls.stderr).toBe(0);
    const lines = ls.stdout.trim().split('\n');
    expect(lines).toContain('src/f\\xff\\xfe');
    expect(lines).toContain('src/x\\xff');
    expect(lines).toContain('src/x\\xfe');
    expect(lines).toContain('src/dir\\xc3(/');
    expect(lines).toContain('src/dir\\xc3(/f\\xff\\xfe');
    expect(lines).toContain('src/a\\\\xff');
    expect(lines).toContain('src/caf\u00e9');
    expect(lines).toContain('src/cafe\u0301');
    expect(ls.stdout).not.toContain('\uFFFD');
    // A path argument as ls shows it reaches the entry (a name that is not UTF-8 cannot be typed otherwise).
    const one = triad(['ls', '-p', policy, 'latest', 'src/dir\\xc3(', '--json'], { env: PASS });
    expect(one.code, one.stderr).toBe(0);
    expect((JSON.parse(one.stdout) as { entries: { path: string }[] }).entries.map((e) => e.path)).toEqual(['src/dir\\xc3(/f\\xff\\xfe', 'src/dir\\xc3(/inner']);
    expect(triad(['ls', '-p', policy, 'latest', 'src/a\\\\xff'], { env: PASS }).stdout.trim()).toBe('src/a\\\\xff');
    const json = triad(['ls', '-p', policy, 'latest', '--json'], { env: PASS });
    const entries = (JSON.parse(json.stdout) as { entries: { path: string; target?: string }[] }).entries;
    expect(entries.find((e) => e.path === 'src/link\\xff')?.target).toBe('../t\\xfe');

    writeFileSync(at(src, b('new', 0xff)), 'added');
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    const snaps = JSON.parse(triad(['snapshots', '-p', policy, '--json'], { env: PASS }).stdout) as { snapshots: { id: string }[] };
    const ids = snaps.snapshots.map((s) => s.id);
    const diff = triad(['diff', '-p', policy, ids[0]!, ids[ids.length - 1]!, '--json'], { env: PASS });
    expect(diff.code, diff.stderr).toBe(0);
    expect(JSON.parse(diff.stdout)).toMatchObject({ added: ['src/new\\xff'], removed: [], modified: [] });
  });

  it('the catalogue keeps two names that differ only in bytes that are not UTF-8 as two rows, losslessly (restore-test samples them by path)', () => {
    const r = triad(['restore-test', '-p', policy, '--sample', '100%', '--snapshots', 'latest', '--target', 'nas', '--json'], { env: PASS });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const results = (JSON.parse(r.stdout) as { targets: { results: { path: string; status: string }[] }[] }).targets[0]!.results;
    const passed = results.filter((f) => f.status === 'passed').map((f) => f.path);
    expect(passed).toEqual(expect.arrayContaining(['src/x\\xff', 'src/x\\xfe', 'src/f\\xff\\xfe', 'src/dir\\xc3(/f\\xff\\xfe', 'src/caf\u00e9', 'src/cafe\u0301']));
    expect(results.every((f) => f.status === 'passed')).toBe(true);
  });

  it('dump writes the names as their bytes (PAX path records) that GNU tar extracts byte for byte', async () => {
    const r = await triadBytes(['dump', '-p', policy, 'latest'], PASS);
    expect(r.code, r.stderr).toBe(0);
    const to = join(work, 'untar');
    mkdirSync(to);
    const x = spawnSync('tar', ['-x', '-C', to], { input: r.stdout });
    expect(x.status, x.stderr.toString()).toBe(0);
    expect(listing(join(to, 'src'))).toEqual(listing(src));
  });
});
