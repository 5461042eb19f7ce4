import { lstatSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { entryStat } from '../../src/repo/backup/entry-stat.js';
import { StatAhead } from '../../src/repo/backup/stat-ahead.js';
import { PASS, scratchDir, triad, writeLocalPolicy } from '../helpers/triad.js';

const dirs: string[] = [];
const running: StatAhead[] = [];
afterEach(() => {
  for (const s of running.splice(0)) s.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** root/{b.txt, a/{c.txt, d/{e.txt}}, skip/{x}, link -> b.txt} */
function tree(): string {
  const root = scratchDir();
  dirs.push(root);
  mkdirSync(join(root, 'a', 'd'), { recursive: true });
  mkdirSync(join(root, 'skip'));
  writeFileSync(join(root, 'b.txt'), 'bee');
  writeFileSync(join(root, 'a', 'c.txt'), 'sea');
  writeFileSync(join(root, 'a', 'd', 'e.txt'), 'e'.repeat(5000));
  writeFileSync(join(root, 'skip', 'x'), 'x');
  symlinkSync('b.txt', join(root, 'link'));
  return root;
}

function start(root: string, exclude: string[]): StatAhead {
  const s = new StatAhead([{ path: root, exclude, crossFilesystems: false }]);
  running.push(s);
  return s;
}

describe('StatAhead', () => {
  it('lists directories in the walk order, names sorted, each entry with its lstat', async () => {
    const root = tree();
    const ahead = start(root, ['skip/']);
    const top = await ahead.next(root);
    expect(top?.names).toEqual(['a', 'b.txt', 'link', 'skip']);
    top!.names.forEach((n, i) => {
      const want = lstatSync(join(root, n));
      const got = entryStat(top!.stats, i)!;
      expect({ mode: got.mode, size: got.size, mtimeMs: got.mtimeMs, ctimeMs: got.ctimeMs, ino: got.ino, dev: got.dev, uid: got.uid, gid: got.gid }).toEqual({
        mode: want.mode, size: want.size, mtimeMs: want.mtimeMs, ctimeMs: want.ctimeMs, ino: want.ino, dev: want.dev, uid: want.uid, gid: want.gid,
      });
      expect([got.isDirectory(), got.isFile(), got.isSymbolicLink()]).toEqual([want.isDirectory(), want.isFile(), want.isSymbolicLink()]);
    });
    expect((await ahead.next(join(root, 'a')))?.names).toEqual(['c.txt', 'd']);
    const d = await ahead.next(join(root, 'a', 'd'));
    expect(d?.names).toEqual(['e.txt']);
    expect(entryStat(d!.stats, 0)!.size).toBe(5000);
    // The excluded directory is never listed: asking for it finds the end of the listings.
    expect(await ahead.next(join(root, 'skip'))).toBeUndefined();
  });

  it('gives up for good when the walk asks for another directory than the next one listed', async () => {
    const root = tree();
    const ahead = start(root, []);
    expect(await ahead.next(root)).toBeDefined();
    // The walk wants a/d before a (it decided differently): it must read the file system itself.
    expect(await ahead.next(join(root, 'a', 'd'))).toBeUndefined();
    expect(await ahead.next(join(root, 'a'))).toBeUndefined();
  });

  it('lists nothing for a source that does not exist, and a failed lstat reads back as none', async () => {
    const root = scratchDir();
    dirs.push(root);
    const ahead = start(join(root, 'gone'), []);
    // The source does not exist: nothing is listed, and the walk reports it itself.
    expect(await ahead.next(join(root, 'gone'))).toBeUndefined();
    expect(entryStat(new Float64Array(8).fill(NaN), 0)).toBeUndefined();
  });

  it('a backup after an earlier one (listings read ahead) records the same tree and reads no unchanged file', () => {
    const root = tree();
    const work = scratchDir();
    dirs.push(work);
    const policy = writeLocalPolicy(work, { sources: [{ path: root, exclude: ['skip/'] }] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    const first = JSON.parse(triad(['backup', '-p', policy, '--json'], { env: PASS }).stdout);
    const second = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(second.code, second.stderr).toBe(0);
    const out = JSON.parse(second.stdout);
    expect(out.parent).toBe(first.snapshot);
    expect(out.summary.filesUnchanged).toBe(3);
    expect(out.summary.bytesRead).toBe(0);
    const ls = (id: string) => triad(['ls', '-p', policy, id, '--long'], { env: PASS }).stdout;
    expect(ls(out.snapshot)).toBe(ls(first.snapshot));
    expect(ls(out.snapshot)).not.toContain('skip');
    expect(ls(out.snapshot)).toContain('e.txt');
  });
});
