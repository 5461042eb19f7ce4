import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { openCatalog, type Catalog } from '../../src/catalog/index.js';

export function hex(seed: string): string {
  return createHash('sha256').update(seed).digest('hex');
}

export function tempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'triad-catalog-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs fn and returns what it threw, failing when it throws nothing. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error, none was thrown');
}

/** A new catalogue file for each test of the calling file: opened before it, closed and removed after. */
export function catalogPerTest(): { cat: Catalog; file: string } {
  let tmp: ReturnType<typeof tempDir>;
  const state = {} as { cat: Catalog; file: string };
  beforeEach(() => {
    tmp = tempDir();
    state.file = join(tmp.dir, 'catalog.db');
    state.cat = openCatalog(state.file);
  });
  afterEach(() => {
    state.cat.close();
    tmp.cleanup();
  });
  return state;
}
