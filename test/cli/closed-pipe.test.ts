/**
 * `triad … | head`: a reader that goes away ends the command quietly with status 141 (as a
 * shell reports for SIGPIPE), with no stack trace, and leaves no lock behind. Real pipes: a
 * shell runs the CLI into `true` (which reads nothing and exits) or `head -1`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTRY, PASS, scratchDir, triad, writeLocalPolicy } from '../helpers/triad.js';

/** Runs `triad ARGS | READER` under bash; returns triad's own exit status and its stderr. */
function piped(args: string[], reader: string, cwd: string): { status: number; stderr: string; readerOut: string } {
  const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('bash', ['-c', `node '${ENTRY}' ${quoted} 2>"$ERR" | ${reader}; echo "\${PIPESTATUS[0]}" >"$STATUS"`], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...PASS, ERR: join(cwd, 'stderr.txt'), STATUS: join(cwd, 'status.txt') },
    encoding: 'utf8',
  });
  const read = (f: string) => spawnSync('cat', [join(cwd, f)], { encoding: 'utf8' }).stdout;
  return { status: Number(read('status.txt').trim()), stderr: read('stderr.txt'), readerOut: r.stdout };
}

describe('a closed pipe on standard output', () => {
  let dir: string;
  let policy: string;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeAll(() => {
    dir = scratchDir('triad-pipe-');
    const src = join(dir, 'src');
    mkdirSync(src);
    // Enough entries that `ls` writes far more than a pipe buffer (64 KiB).
    for (let i = 0; i < 2500; i++) writeFileSync(join(src, `file-with-a-rather-long-name-${String(i).padStart(5, '0')}.txt`), `content ${i}\n`.repeat(50));
    policy = writeLocalPolicy(dir, { sources: [src] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
  });

  it.each([
    ['ls latest', ['ls', '-p', 'POLICY', 'latest'], 'head -1'],
    ['ls latest (reader gone before the first write)', ['ls', '-p', 'POLICY', 'latest'], 'true'],
    ['dump latest', ['dump', '-p', 'POLICY', 'latest'], 'head -c 100 >/dev/null'],
    ['policy check', ['policy', 'check', 'POLICY', 'POLICY'], 'true'],
    ['--help', ['--help'], 'true'],
  ])('%s: exit 141, nothing on stderr, no lock left', (_name, args, reader) => {
    const r = piped(args.map((a) => (a === 'POLICY' ? policy : a)), reader, dir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(141);
    for (const target of ['nas', 'usb']) {
      const locks = join(dir, target, 'locks');
      expect(existsSync(locks) ? readdirSync(locks) : []).toEqual([]);
    }
  });

  it('a reader that takes everything sees the whole output and triad exits 0', () => {
    const r = piped(['ls', '-p', policy, 'latest'], 'cat', dir);
    expect(r.status).toBe(0);
    expect(r.readerOut.split('\n').filter((l) => l.includes('file-with-a-rather-long-name-')).length).toBe(2500);
  });
});
