import { createRequire } from 'node:module';
import { getSystemErrorMap } from 'node:util';

type Koffi = typeof import('koffi');

/** koffi and the running process's libc, or why they could not be loaded. */
export type Libc = { koffi: Koffi; lib: ReturnType<Koffi['load']> } | { missing: string };

let loaded: Libc | undefined;

/**
 * libc's functions through koffi, for what Node does not offer (exact times, calls on paths
 * that are bytes). Loaded on first use in each thread that needs it, so commands that need
 * none never pay for loading it (bench/RESULTS.md, "koffi load"); where it cannot load (no
 * prebuilt binary for the platform, not Linux) `missing` says why and callers fall back.
 */
export function libc(): Libc {
  if (loaded) return loaded;
  try {
    if (process.platform !== 'linux') throw new Error(`${process.platform} is not Linux`);
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    // null: the symbols of the running process, which include libc's (glibc and musl alike).
    loaded = { koffi, lib: koffi.load(null) };
  } catch (err) {
    // The first line: a missing module's message goes on with its require stack.
    loaded = { missing: (err instanceof Error ? err.message : String(err)).split('\n', 1)[0]! };
  }
  return loaded;
}

/** A path for libc: its bytes (escaped bytes given back as they were), NUL-terminated. */
export function cString(bytes: Buffer): Buffer {
  return Buffer.concat([bytes, Buffer.of(0)]);
}

/** The error Node's own call would have thrown for `errno` (code, errno, syscall, path), so callers map it as theirs. */
export function errnoError(errno: number, syscall: string, path?: string): NodeJS.ErrnoException {
  const [code, text] = getSystemErrorMap().get(-errno) ?? [`E${errno}`, 'unknown error'];
  const err: NodeJS.ErrnoException = new Error(`${code}: ${text}, ${syscall}${path === undefined ? '' : ` '${path}'`}`);
  return Object.assign(err, { code, errno: -errno, syscall, path });
}
