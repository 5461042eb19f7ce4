import { futimesSync, lutimesSync } from 'node:fs';
import { hasEscapedBytes, nameBytes, fsPath } from '../../core/names.js';
import { nodeMtimeNs, timeSpecOf, utimesArg, type NodeTime } from '../model/index.js';
import { cString, errnoError, libc } from '../libc.js';

/**
 * Setting a restored entry's times exactly. Node's futimes/lutimes pass a double to libuv,
 * which keeps whole microseconds; libc's futimens and utimensat take a timespec and so hold
 * every time Linux does (nanoseconds, before 1970, far future). They are called through
 * koffi (see libc()). Where it cannot load (no prebuilt binary for the platform, not 64-bit
 * Linux), times are set through Node as before, exact to the microsecond, and
 * `preciseTimesMissing` says why.
 */

interface LibcTimes {
  futimens(fd: number, times: BigInt64Array): number;
  utimensat(dirfd: number, path: string | Buffer, times: BigInt64Array, flags: number): number;
  errno(): number;
}

// Linux's values (fcntl.h); the FFI path is only taken on Linux.
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;

let timesLib: LibcTimes | undefined;
let missing: string | undefined;
/** times[2] for both calls: atime then mtime, each {tv_sec, tv_nsec}; filled before each call. */
const times = new BigInt64Array(4);

function loadLibc(): LibcTimes | undefined {
  if (timesLib || missing !== undefined) return timesLib;
  const c = libc();
  if ('missing' in c) {
    missing = c.missing;
    return undefined;
  }
  const { koffi, lib } = c;
  try {
    // times[] is laid out as four int64: true where time_t and long are 64 bits.
    if (koffi.sizeof('long') !== 8) throw new Error('a timespec is not two 64-bit fields on this platform');
    koffi.struct('timespec', { tv_sec: 'int64', tv_nsec: 'long' });
    timesLib = {
      futimens: lib.func('int futimens(int fd, const timespec *times)'),
      utimensat: lib.func('int utimensat(int dirfd, const char *path, const timespec *times, int flags)'),
      errno: () => koffi.errno(),
    };
  } catch (err) {
    missing = err instanceof Error ? err.message : String(err);
  }
  return timesLib;
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
  return hasEscapedBytes(path) ? cString(nameBytes(path)) : path;
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
