import { futimesSync, lutimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getSystemErrorMap } from 'node:util';
import { hasEscapedBytes, nameBytes, fsPath } from '../../core/names.js';
import { nodeMtimeNs, timeSpecOf, utimesArg, type NodeTime } from '../model/index.js';

/**
 * Setting a restored entry's times exactly. Node's futimes/lutimes pass a double to libuv,
 * which keeps whole microseconds; libc's futimens and utimensat take a timespec and so hold
 * every time Linux does (nanoseconds, before 1970, far future). They are called through
 * koffi, loaded on first use in each thread that sets times (the restore's main and writer
 * threads), so commands that set none never pay for loading it (bench/RESULTS.md, "koffi
 * load"). Where it cannot load (no prebuilt binary for the platform, not 64-bit Linux),
 * times are set through Node as before, exact to the microsecond, and `preciseTimesMissing`
 * says why.
 */

type Koffi = typeof import('koffi');

interface LibcTimes {
  futimens(fd: number, times: BigInt64Array): number;
  utimensat(dirfd: number, path: string | Buffer, times: BigInt64Array, flags: number): number;
  errno(): number;
}

// Linux's values (fcntl.h); the FFI path is only taken on Linux.
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;

let libc: LibcTimes | undefined;
let missing: string | undefined;
/** times[2] for both calls: atime then mtime, each {tv_sec, tv_nsec}; filled before each call. */
const times = new BigInt64Array(4);

function loadLibc(): LibcTimes | undefined {
  if (libc || missing !== undefined) return libc;
  try {
    if (process.platform !== 'linux') throw new Error(`${process.platform} is not Linux`);
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    // times[] is laid out as four int64: true where time_t and long are 64 bits.
    if (koffi.sizeof('long') !== 8) throw new Error('a timespec is not two 64-bit fields on this platform');
    koffi.struct('timespec', { tv_sec: 'int64', tv_nsec: 'long' });
    // null: the symbols of the running process, which include libc's (glibc and musl alike).
    const c = koffi.load(null);
    libc = {
      futimens: c.func('int futimens(int fd, const timespec *times)'),
      utimensat: c.func('int utimensat(int dirfd, const char *path, const timespec *times, int flags)'),
      errno: () => koffi.errno(),
    };
  } catch (err) {
    // The first line: a missing module's message goes on with its require stack.
    missing = (err instanceof Error ? err.message : String(err)).split('\n', 1)[0]!;
  }
  return libc;
}

/** Why this thread sets times only to the microsecond (koffi did not load), or undefined when it sets them exactly. */
export function preciseTimesMissing(): string | undefined {
  loadLibc();
  return missing;
}

/** Sets an open file's atime and mtime to the node's mtime. */
export function setFileTimes(fd: number, node: NodeTime): void {
  setTimes(node, (c, times) => c.futimens(fd, times), (time) => futimesSync(fd, time, time), 'futimens');
}

/** Sets the atime and mtime of the entry at `path` itself: a symlink there is never followed. */
export function setEntryTimes(path: string, node: NodeTime): void {
  setTimes(node, (c, times) => c.utimensat(AT_FDCWD, cPath(path), times, AT_SYMLINK_NOFOLLOW), (time) => lutimesSync(fsPath(path), time, time), 'utimensat', path);
}

/** A path for libc: the string (koffi encodes it as UTF-8), or its original bytes NUL-terminated when it holds bytes that are not UTF-8. */
function cPath(path: string): string | Buffer {
  return hasEscapedBytes(path) ? Buffer.concat([nameBytes(path), Buffer.of(0)]) : path;
}

/** Sets both times through libc (`exact`, returning its result) or, without koffi, through Node (`viaNode`). */
function setTimes(node: NodeTime, exact: (c: LibcTimes, times: BigInt64Array) => number, viaNode: (time: string) => void, syscall: string, path?: string): void {
  const c = loadLibc();
  if (!c) return viaNode(utimesArg(node));
  if (exact(c, fill(node)) !== 0) throw errnoError(c.errno(), syscall, path);
}

function fill(node: NodeTime): BigInt64Array {
  const { sec, nsec } = timeSpecOf(nodeMtimeNs(node));
  times[0] = times[2] = BigInt(sec);
  times[1] = times[3] = BigInt(nsec);
  return times;
}

/** The error Node's own call would have thrown (code, errno, syscall, path), so callers map it as before. */
function errnoError(errno: number, syscall: string, path?: string): NodeJS.ErrnoException {
  const [code, text] = getSystemErrorMap().get(-errno) ?? [`E${errno}`, 'unknown error'];
  const err: NodeJS.ErrnoException = new Error(`${code}: ${text}, ${syscall}${path === undefined ? '' : ` '${path}'`}`);
  return Object.assign(err, { code, errno: -errno, syscall, path });
}
