import { createRequire } from 'node:module';
import type * as XattrModule from '@napi-rs/xattr';

let loaded: typeof XattrModule | undefined;

/**
 * @napi-rs/xattr, loaded on first use: only a backup or a restore that meets attributes calls
 * it, and loading the native module costs ~70 ms of CPU at the start of every command that
 * imports the backup or restore code (report, restore-test, …).
 */
export function xattrNative(): typeof XattrModule {
  return (loaded ??= createRequire(import.meta.url)('@napi-rs/xattr') as typeof XattrModule);
}
