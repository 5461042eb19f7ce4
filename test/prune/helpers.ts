import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { openLocalStorage } from '../../src/backends/local.js';
import { Repository } from '../../src/repo/repository.js';
import { PASS } from '../helpers/triad.js';

/** Every regular file under `dir` (relative path → size); dot-files (temp files) excluded. */
export function filesUnder(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true, recursive: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!e.isFile() || e.name.startsWith('.')) continue;
    const abs = join(e.parentPath, e.name);
    out.set(relative(dir, abs), statSync(abs).size);
  }
  return out;
}

export function sizeOf(dir: string): number {
  let n = 0;
  for (const s of filesUnder(dir).values()) n += s;
  return n;
}

/** Opens a local replica in this process (the same way the CLI does). */
export async function openRepo(path: string, target = 'nas'): Promise<Repository> {
  const storage = await openLocalStorage(path);
  return Repository.open(target, storage, PASS.TEST_PASSPHRASE);
}

/** Every restored file under `dir`, relative path → bytes. */
export function contents(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [rel] of filesUnder(dir)) out.set(rel, readFileSync(join(dir, rel)));
  return out;
}
