import { copyFileSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrations, openCatalog, type FileRow, type Migration } from '../../src/catalog/index.js';
import { TriadError } from '../../src/core/errors.js';
import { PASS, ROOT, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';
import { thrown } from './helpers.js';

const FIXTURE = join(ROOT, 'fixtures', 'catalog-v1');

interface Expected {
  snapshots: string[];
  files: Record<string, FileRow[]>;
  report: unknown;
}

/** A copy of the schema-1 fixture and a policy naming it, in a fresh directory. */
function fixtureCopy(): { dir: string; file: string; policy: string; expected: Expected } {
  const dir = tempDir('triad-versions-');
  const file = join(dir, 'catalog.db');
  copyFileSync(join(FIXTURE, 'catalog-v1.db'), file);
  const policy = join(dir, 'fixture.yaml');
  writeFileSync(policy, readFileSync(join(FIXTURE, 'fixture.yaml'), 'utf8').replace(/^catalog: .*$/m, `catalog: ${file}`));
  return { dir, file, policy, expected: JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as Expected };
}

/** A report without what the file system says today (free and used space of the targets' disks), which no catalogue holds. */
function withoutLiveDiskFigures(report: unknown): unknown {
  return JSON.parse(JSON.stringify(report), function (this: Record<string, unknown>, key: string, value: unknown) {
    if (['freeBytes', 'usedBytes', 'usedPercent', 'daysLeft'].includes(key)) return undefined;
    if (key === 'value' && typeof this.label === 'string' && this.label.startsWith('used_')) return undefined;
    return value;
  });
}

/** Rows of one table of a catalogue file, read with a connection of its own. */
function count(file: string, table: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
  } finally {
    db.close();
  }
}

describe('upgrade from a schema-1 catalogue', () => {
  it('keeps every snapshot, its files in path order and the report', () => {
    const { file, policy, expected } = fixtureCopy();
    const cat = openCatalog(file);
    try {
      expect(cat.schemaVersion).toBe(2);
      expect(cat.listSnapshots('fixture').map((s) => s.id).sort()).toEqual([...expected.snapshots].sort());
      for (const id of expected.snapshots) {
        expect(cat.listFiles(id)).toEqual(expected.files[id]);
        expect([...cat.iterateFiles(id)]).toEqual(expected.files[id]);
        const someFile = expected.files[id]!.find((f) => f.type === 'file')!;
        expect(cat.fileByPath(id, someFile.path)).toEqual(someFile);
      }
    } finally {
      cat.close();
    }
    // Eighteen entries in each of five snapshots, one changed file per later backup: far fewer rows than 5 × 18.
    expect(count(file, 'file_versions')).toBeLessThan(30);
    const r = triad(['report', '-p', policy, '--json', '--at', '2026-01-06T04:00:00Z'], { env: { ...PASS, TRIAD_TEST_NOW: '2026-01-06T04:00:00Z' } });
    expect(r.stderr).toBe('');
    expect(withoutLiveDiskFigures(JSON.parse(r.stdout))).toEqual(withoutLiveDiskFigures(expected.report));
  });

  it('a migration that fails leaves the schema-1 catalogue as it was, and a later open upgrades it', () => {
    const { file, expected } = fixtureCopy();
    const failing: Migration[] = [
      migrations[0]!,
      {
        ...migrations[1]!,
        up(db) {
          migrations[1]!.up(db);
          throw new Error('database or disk is full');
        },
      },
    ];
    const err = thrown(() => openCatalog(file, { migrations: failing }));
    expect(err).toBeInstanceOf(TriadError);
    expect((err as TriadError).message).toContain(file);
    const old = openCatalog(file, { readonly: true, migrations: [migrations[0]!] });
    try {
      expect(old.schemaVersion).toBe(1);
    } finally {
      old.close();
    }
    expect(count(file, 'files')).toBe(Object.values(expected.files).reduce((n, f) => n + f.length, 0));
    const cat = openCatalog(file);
    try {
      expect(cat.schemaVersion).toBe(2);
      const last = expected.snapshots.at(-1)!;
      expect(cat.listFiles(last)).toEqual(expected.files[last]);
    } finally {
      cat.close();
    }
  });
});

describe('file versions written by backups', () => {
  const at = (h: number) => `2026-03-01T${String(h).padStart(2, '0')}:00:00Z`;

  function setup() {
    const dir = tempDir('triad-versions-');
    const src = join(dir, 'src');
    for (let d = 0; d < 3; d++) {
      mkdirSync(join(src, `d${d}`), { recursive: true });
      for (let f = 0; f < 5; f++) writeFileSync(join(src, `d${d}`, `f${f}`), `content ${d}.${f}\n`);
    }
    const policy = writeLocalPolicy(dir, { sources: [src], targets: { nas: { path: join(dir, 'nas') } }, rule: 'none', extra: 'retention:\n  keep_last: 1' });
    const run = (args: string[], h: number) => {
      const r = triad([...args, '-p', policy, '--json'], { env: { ...PASS, TRIAD_TEST_NOW: at(h) } });
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };
    run(['init'], 0);
    const backup = (h: number) => (run(['backup', '--time', at(h)], h) as { snapshot: string }).snapshot;
    return { dir, src, file: join(dir, 'catalog.db'), run, backup };
  }

  it('a backup without change adds no version; a changed file adds one', () => {
    const { src, file, backup } = setup();
    const first = backup(1);
    const entries = 1 + 3 + 15;
    expect(count(file, 'file_versions')).toBe(entries);
    const second = backup(2);
    expect(count(file, 'file_versions')).toBe(entries);
    writeFileSync(join(src, 'd1', 'f3'), 'changed\n');
    utimesSync(join(src, 'd1', 'f3'), new Date('2026-03-01T02:30:00Z'), new Date('2026-03-01T02:30:00Z'));
    const third = backup(3);
    // The file's new version; its directory's mtime is unchanged (a file written in place).
    expect(count(file, 'file_versions')).toBe(entries + 1);
    const cat = openCatalog(file);
    try {
      expect(cat.listFiles(second)).toEqual(cat.listFiles(first));
      expect(cat.fileByPath(third, 'src/d1/f3')).toMatchObject({ size: 8 });
      expect(cat.fileByPath(second, 'src/d1/f3')).toMatchObject({ size: 12 });
      expect(cat.countFiles(third)).toBe(entries);
    } finally {
      cat.close();
    }
  });

  it('forget frees the versions no remaining snapshot holds, and keeps the others whole', () => {
    const { src, file, run, backup } = setup();
    backup(1);
    rmSync(join(src, 'd2'), { recursive: true });
    const kept = backup(2);
    const before = openCatalog(file);
    const keptFiles = before.listFiles(kept);
    before.close();
    // d2 with its five files, and src (its mtime changed), exist only in the first snapshot.
    expect(count(file, 'file_versions')).toBe(19 + 1);
    run(['forget'], 3);
    expect(count(file, 'file_versions')).toBe(keptFiles.length);
    const cat = openCatalog(file);
    try {
      expect(cat.listFiles(kept)).toEqual(keptFiles);
      const forgotten = cat.listSnapshots('test').find((s) => s.id !== kept)!;
      expect(forgotten.presence.map((p) => p.status)).toEqual(['forgotten']);
      expect(cat.countFiles(forgotten.id)).toBe(0);
    } finally {
      cat.close();
    }
  });

  it('a rebuilt catalogue holds the same files per snapshot as the one the backups wrote', () => {
    const { dir, src, file, backup } = setup();
    const ids = [backup(1)];
    writeFileSync(join(src, 'd0', 'new'), 'new\n');
    ids.push(backup(2));
    rmSync(join(src, 'd1', 'f0'));
    ids.push(backup(3));
    ids.push(backup(4));
    const rebuilt = join(dir, 'rebuilt.db');
    const r = triad(['catalog', 'rebuild', '-p', join(dir, 'test.yaml'), '--target', 'nas', '--catalog', rebuilt, '--json'], { env: { ...PASS, TRIAD_TEST_NOW: at(5) } });
    expect(r.code, r.stderr).toBe(0);
    const a = openCatalog(file);
    const b = openCatalog(rebuilt);
    try {
      for (const id of ids) expect(b.listFiles(id)).toEqual(a.listFiles(id));
    } finally {
      a.close();
      b.close();
    }
    expect(count(rebuilt, 'file_versions')).toBe(count(file, 'file_versions'));
  });
});
