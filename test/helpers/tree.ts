import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { seededRandom } from '../../src/core/random.js';

/** Deterministic pseudo-random bytes (compressible when `text`). */
export function bytes(seed: number, n: number, text = false): Buffer {
  const r = seededRandom(seed);
  const b = Buffer.allocUnsafe(n);
  if (text) {
    const words = ['backup', 'restore', 'policy', 'ledger', 'invoice', 'snapshot', 'triad', 'copy', 'offsite', '\n'];
    let o = 0;
    while (o < n) o += b.write(words[r.int(words.length)]! + ' ', o);
    return b.subarray(0, n);
  }
  for (let i = 0; i < n; i += 4) b.writeUInt32LE((r.next() * 2 ** 32) >>> 0, Math.min(i, n - 4));
  return b;
}

/** The tree of issue #3: nested and empty dirs, empty files, a big file, unicode and spaces, symlinks, modes. */
export function makeSampleTree(root: string, bigSize = 50 * 1024 * 1024): void {
  mkdirSync(join(root, 'docs', 'deep', 'deeper'), { recursive: true });
  mkdirSync(join(root, 'empty dir'), { recursive: true });
  mkdirSync(join(root, 'ünïcödé ✓'), { recursive: true });
  writeFileSync(join(root, 'docs', 'readme.txt'), bytes(1, 5000, true));
  writeFileSync(join(root, 'docs', 'deep', 'deeper', 'notes with spaces.md'), bytes(2, 12345, true));
  writeFileSync(join(root, 'docs', 'empty.txt'), '');
  writeFileSync(join(root, 'ünïcödé ✓', 'résumé.txt'), bytes(3, 777, true));
  writeFileSync(join(root, 'big.bin'), bytes(4, bigSize));
  writeFileSync(join(root, 'script.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(root, 'script.sh'), 0o750);
  writeFileSync(join(root, 'secret.txt'), 'private\n');
  chmodSync(join(root, 'secret.txt'), 0o600);
  symlinkSync('docs/readme.txt', join(root, 'link-to-readme'));
  symlinkSync('/nonexistent/target', join(root, 'dangling-link'));
  const t = new Date('2024-03-01T12:00:00Z');
  utimesSync(join(root, 'docs', 'readme.txt'), t, t);
}

export interface EntryInfo {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  size: number;
  mtime: number;
  content?: string;
  target?: string;
}

/** Everything a restore must reproduce, keyed by relative path (content as a hash-free hex prefix + length is not enough: full bytes compared). */
export function snapshotOf(root: string): Map<string, EntryInfo> {
  const out = new Map<string, EntryInfo>();
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const abs = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(abs);
      if (st.isDirectory()) {
        out.set(r, { type: 'dir', mode: st.mode & 0o7777, size: 0, mtime: Math.floor(st.mtimeMs) });
        walk(abs, r);
      } else if (st.isSymbolicLink()) {
        out.set(r, { type: 'symlink', mode: 0, size: 0, mtime: 0, target: readlinkSync(abs) });
      } else {
        out.set(r, { type: 'file', mode: st.mode & 0o7777, size: st.size, mtime: Math.floor(st.mtimeMs), content: readFileSync(abs).toString('base64') });
      }
    }
  };
  walk(root, '');
  return out;
}

/** snapshotOf() with file contents reduced to their SHA-256 (keeps many trees in memory cheaply). */
export type HashedTree = Map<string, Omit<EntryInfo, 'content'> & { sha256?: string }>;
export function hashedTreeOf(root: string): HashedTree {
  const out: HashedTree = new Map();
  for (const [k, v] of snapshotOf(root)) {
    const { content, ...rest } = v;
    out.set(k, content === undefined ? rest : { ...rest, sha256: createHash('sha256').update(Buffer.from(content, 'base64')).digest('hex') });
  }
  return out;
}

/** A Unix socket file at `path` (bound by a short python3 process; the file stays after it exits). */
export function socketFile(path: string): void {
  execFileSync('python3', ['-c', `import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])`, path]);
}
