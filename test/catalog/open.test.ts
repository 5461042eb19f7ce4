import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATEST_SCHEMA_VERSION, migrations, openCatalog } from '../../src/catalog/index.js';
import type { Migration } from '../../src/catalog/index.js';
import { TriadError } from '../../src/core/errors.js';
import { tempDir, thrown } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.cleanup());

describe('openCatalog', () => {
  it('creates parent directories and a private file, in WAL mode with the house settings', () => {
    const file = join(tmp.dir, 'deep', 'er', 'catalog.db');
    const cat = openCatalog(file);
    try {
      expect(existsSync(file)).toBe(true);
      expect(statSync(file).mode & 0o077).toBe(0);
      const s = cat.settings();
      expect(s.journal_mode).toBe('wal');
      expect(s.synchronous).toBe(1); // NORMAL
      expect(s.foreign_keys).toBe(true);
      expect(s.busy_timeout).toBeGreaterThan(0);
      cat.upsertTarget({ policy: 'p', name: 'nas', type: 'local', location: '/mnt/nas', media: 'nas', offsite: false });
      expect(existsSync(`${file}-wal`)).toBe(true);
    } finally {
      cat.close();
    }
  });

  it('applies migrations once and is idempotent on reopen', () => {
    const file = join(tmp.dir, 'c.db');
    let ran = 0;
    const extra: Migration[] = [...migrations, { version: LATEST_SCHEMA_VERSION + 1, name: 'test step', up: () => void ran++ }];
    const a = openCatalog(file, { migrations: extra });
    expect(a.schemaVersion).toBe(LATEST_SCHEMA_VERSION + 1);
    a.upsertTarget({ policy: 'p', name: 'nas', type: 'local', location: '/x', media: 'nas', offsite: false });
    a.close();
    const b = openCatalog(file, { migrations: extra });
    expect(b.schemaVersion).toBe(LATEST_SCHEMA_VERSION + 1);
    expect(ran).toBe(1);
    // Data written before the reopen is still there: nothing was recreated.
    expect(b.listTargets('p').map((t) => t.name)).toEqual(['nas']);
    b.close();
  });

  it('refuses a catalogue written by a newer triad', () => {
    const file = join(tmp.dir, 'c.db');
    openCatalog(file, { migrations: [...migrations, { version: LATEST_SCHEMA_VERSION + 5, name: 'future', up: () => {} }] }).close();
    const err = thrown(() => openCatalog(file));
    expect(err).toBeInstanceOf(TriadError);
    expect((err as TriadError).code).toBe('E_CATALOG');
    expect((err as TriadError).message).toContain(file);
    expect((err as TriadError).message).toContain(String(LATEST_SCHEMA_VERSION + 5));
    expect((err as TriadError).hint).toMatch(/upgrade triad/);
  });

  it('names the file when it is not a database', () => {
    const file = join(tmp.dir, 'junk.db');
    writeFileSync(file, Buffer.alloc(8192, 0x5a));
    const err = thrown(() => openCatalog(file));
    expect(err).toBeInstanceOf(TriadError);
    expect((err as TriadError).code).toBe('E_CATALOG');
    expect((err as TriadError).message).toContain(file);
    expect((err as TriadError).hint).toMatch(/rebuild/);
  });

  it('read-only: refuses a missing file, reads an existing one, refuses writes', () => {
    const file = join(tmp.dir, 'ro.db');
    const missing = thrown(() => openCatalog(file, { readonly: true }));
    expect((missing as TriadError).code).toBe('E_CATALOG');
    expect(existsSync(file)).toBe(false);

    const w = openCatalog(file);
    w.upsertTarget({ policy: 'p', name: 'nas', type: 'local', location: '/x', media: 'nas', offsite: false });
    w.close();
    const r = openCatalog(file, { readonly: true });
    try {
      expect(r.listTargets('p')).toHaveLength(1);
      const err = thrown(() => r.upsertTarget({ policy: 'p', name: 'cloud', type: 's3', location: 's3://b', media: 'object-storage', offsite: true }));
      expect((err as TriadError).code).toBe('E_CATALOG');
    } finally {
      r.close();
    }
  });

  it('close is idempotent', () => {
    const cat = openCatalog(join(tmp.dir, 'c.db'));
    cat.close();
    cat.close();
    expect(cat.isOpen).toBe(false);
  });
});
