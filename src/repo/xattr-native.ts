import { createRequire } from 'node:module';
import type * as XattrModule from '@napi-rs/xattr';

let loaded: typeof XattrModule | undefined;

/**
 * @napi-rs/xattr, loaded on first use: only a backup or a restore that meets attributes calls
 * it, and loading the native module costs ~70 ms of CPU at the start of every command that
 * imports the backup or restore code (report, restore-test, …).
 */
function xattrNative(): typeof XattrModule {
  return (loaded ??= createRequire(import.meta.url)('@napi-rs/xattr') as typeof XattrModule);
}

/** The extended attribute calls, on the entry itself (never through a symlink), on a path of type P. */
export interface XattrCalls<P> {
  list(path: P): string[];
  /** The value, or null when the entry has no such attribute. */
  get(path: P, name: string): Buffer | null;
  set(path: P, name: string, value: Uint8Array): void;
}

/** @napi-rs/xattr's calls: paths as UTF-8 strings. */
export const napiXattr: XattrCalls<string> = {
  list: (path) => xattrNative().listAttributesSync(path),
  get: (path, name) => xattrNative().getAttributeSync(path, name),
  set: (path, name, value) => xattrNative().setAttributeSync(path, name, value),
};

/** The OS error number of a failed call: @napi-rs/xattr's errors carry it in their message only, libc's (xattrBytes) as `errno`. */
export function osErrorOf(err: unknown): number | undefined {
  const errno = (err as NodeJS.ErrnoException | undefined)?.errno;
  if (typeof errno === 'number') return -errno;
  const m = /os error (\d+)\)/.exec(err instanceof Error ? err.message : String(err));
  return m ? Number(m[1]) : undefined;
}

export const ENODATA = 61;
export const EOPNOTSUPP = 95;
