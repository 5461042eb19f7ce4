import { cString, errnoError, libc } from './libc.js';
import { ENODATA, osErrorOf, type XattrCalls } from './xattr-native.js';

interface Lib {
  llistxattr(path: Buffer, list: Buffer | null, size: number): number;
  lgetxattr(path: Buffer, name: string, value: Buffer | null, size: number): number;
  lsetxattr(path: Buffer, name: string, value: Uint8Array, size: number, flags: number): number;
  errno(): number;
}

const ERANGE = 34;
let lib: Lib | null | undefined;

/**
 * The calls through libc on a path given as bytes, for an entry whose own name is not UTF-8
 * (@napi-rs/xattr takes UTF-8 strings only, so no string reaches it); undefined where koffi
 * cannot load (see libc()).
 */
export function xattrBytes(): XattrCalls<Buffer> | undefined {
  if (lib === undefined) {
    const c = libc();
    lib =
      'missing' in c
        ? null
        : {
            llistxattr: c.lib.func('intptr_t llistxattr(const char *path, _Out_ uint8_t *list, size_t size)'),
            lgetxattr: c.lib.func('intptr_t lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)'),
            lsetxattr: c.lib.func('int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)'),
            errno: () => c.koffi.errno(),
          };
  }
  const l = lib;
  if (!l) return undefined;
  return {
    list: (path) => {
      const p = cString(path);
      const bytes = sized((buf) => l.llistxattr(p, buf, buf?.length ?? 0), l, 'llistxattr');
      return bytes.toString('utf8').split('\0').filter((n) => n !== '');
    },
    get: (path, name) => {
      const p = cString(path);
      try {
        return sized((buf) => l.lgetxattr(p, name, buf, buf?.length ?? 0), l, 'lgetxattr');
      } catch (err) {
        if (osErrorOf(err) === ENODATA) return null;
        throw err;
      }
    },
    set: (path, name, value) => {
      if (l.lsetxattr(cString(path), name, value, value.length, 0) !== 0) throw errnoError(l.errno(), 'lsetxattr');
    },
  };
}

/** Asks for the size, then reads into a buffer of it; again if the value grew in between (ERANGE). */
function sized(call: (buf: Buffer | null) => number, l: Lib, syscall: string): Buffer {
  for (;;) {
    const n = Number(call(null));
    if (n < 0) throw errnoError(l.errno(), syscall);
    const buf = Buffer.alloc(n);
    const got = Number(call(buf));
    if (got >= 0) return buf.subarray(0, got);
    const errno = l.errno();
    if (errno !== ERANGE) throw errnoError(errno, syscall);
  }
}
