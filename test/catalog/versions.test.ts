import { copyFileSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { LATEST_SCHEMA_VERSION, migrations, openCatalog, type FileInput, type FileRow, type Migration } from '../../src/catalog/index.js';
import { TriadError } from '../../src/core/errors.js';
import { PASS, ROOT, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';
import { catalogPerTest, hex, thrown } from './helpers.js';

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

/** One value read from a catalogue file with a connection of its own. */
function valueOf(file: string, sql: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).pluck().get() as number;
  } finally {
    db.close();
  }
}

/** Rows of one table of a catalogue file. */
function count(file: string, table: string): number {
  return valueOf(file, `SELECT count(*) FROM ${table}`);
}

function pragma(file: string, name: string): number {
  return valueOf(file, `PRAGMA ${name}`);
}

/**
 * The fixture's report was written by the release that made the catalogue (schema
 * triad.report/v1). What v2 changed is independent of the catalogue: the production data's
 * medium is declared (default disk, was the fixed name "primary") and a restore test warns 3 days
 * before it is due; everything else v2 brought
 * (key proofs, the time zone, history bases, warning thresholds) is added fields. Everything
 * the catalogue determines must stay equal.
 */
function asReportV2(v1: unknown): unknown {
  const doc = structuredClone(v1) as { schema: string; policies: Record<string, unknown>[] };
  // v3 adds the verification ledger's coverage per copy: added fields only.
  doc.schema = 'triad.report/v3';
  doc.policies = doc.policies.map((p) => {
    const rule = p.rule as { media: string[] };
    const nagios = p.nagios as { perfdata: { label: string; warn?: number }[] };
    // v2 warns 3 days before a restore test is due (v1 warned only when it was).
    const perfdata = nagios.perfdata.map((d) => (d.label.startsWith('restore_test_age') && d.warn !== undefined ? { ...d, warn: d.warn - 3 * 86_400 } : d));
    return { ...p, rule: { ...rule, media: rule.media.map((m) => (m === 'primary' ? 'disk' : m)).sort() }, nagios: { ...nagios, perfdata } };
  });
  return doc;
}

describe('upgrade from a schema-1 catalogue', () => {
  it('keeps every snapshot, its files in path order and the report', () => {
    const { file, policy, expected } = fixtureCopy();
    const v1 = new Database(file, { readonly: true });
    const statsV1 = (target: string) =>
      v1
        .prepare(
          `SELECT (SELECT count(*) FROM packs WHERE target = t.id) AS packs, (SELECT coalesce(sum(size), 0) FROM packs WHERE target = t.id) AS pack_bytes,
             count(b.id) AS blobs, coalesce(sum(b.length), 0) AS blob_bytes, coalesce(sum(b.raw_length), 0) AS raw_bytes
           FROM targets t LEFT JOIN blobs b ON b.target = t.id WHERE t.name = ?`,
        )
        .get(target);
    const storage = { nas: statsV1('nas'), usb: statsV1('usb') };
    v1.close();
    expect((storage.nas as { packs: number }).packs).toBeGreaterThan(0);
    const cat = openCatalog(file);
    try {
      expect(cat.schemaVersion).toBe(LATEST_SCHEMA_VERSION);
      // What capacity reports read per target is what schema 1 held.
      expect({ nas: cat.storageStats('fixture', 'nas'), usb: cat.storageStats('fixture', 'usb') }).toEqual(storage);
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
    // The dropped tables' pages went back to the file system: none is left free in the file.
    expect(pragma(file, 'freelist_count')).toBe(0);
    const r = triad(['report', '-p', policy, '--json', '--at', '2026-01-06T04:00:00Z'], { env: { ...PASS, TRIAD_TEST_NOW: '2026-01-06T04:00:00Z' } });
    expect(r.stderr).toBe('');
    // Every figure of the old report is in the new one, equal; v2 only adds fields.
    expect(withoutLiveDiskFigures(JSON.parse(r.stdout))).toMatchObject(withoutLiveDiskFigures(asReportV2(expected.report)) as object);
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
      expect(cat.schemaVersion).toBe(LATEST_SCHEMA_VERSION);
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

describe('file sets through the catalogue API', () => {
  const db = catalogPerTest();

  it('a version of the newest set that a freed newer set had ended is shared again, not copied', () => {
    const rows = (v: number): FileInput[] => ['/a', '/b', '/c'].map((path, i) => ({ path, type: 'file', size: i === 0 ? v : 1, mode: 0o644, mtime: 1, hash: hex(`${path}${i === 0 ? v : 1}`), chunks: 1 }));
    const snap = (n: number, v: number) => {
      const id = hex(`s${n}`);
      db.cat.upsertSnapshot({ id, policy: 'p', host: 'h', paths: ['/'], time: new Date(Date.UTC(2026, 0, 1, n)), tree: hex('t') });
      db.cat.addFiles(id, rows(v));
      return id;
    };
    const versions = () => {
      const raw = new Database(db.file, { readonly: true });
      try {
        return raw.prepare('SELECT count(*) FROM file_versions').pluck().get();
      } finally {
        raw.close();
      }
    };
    snap(1, 1);
    const second = snap(2, 2);
    expect(versions()).toBe(4);
    db.cat.deleteSnapshot(second);
    expect(versions()).toBe(3);
    // The same entries as the first snapshot: /a's first version (ended when the second came) serves again.
    const third = snap(3, 1);
    expect(versions()).toBe(3);
    expect(db.cat.listFiles(third)).toEqual(db.cat.listFiles(hex('s1')));
  });

  /** A small deterministic generator, so a failure names the step that broke. */
  function random(seed: number): (n: number) => number {
    let x = seed;
    return (n) => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return x % n;
    };
  }

  it('every snapshot keeps exactly its entries through appends, re-filing, deletes and frees, in any order', () => {
    const rnd = random(7);
    const paths = Array.from({ length: 30 }, (_, i) => `/srv/d${i % 3}/f${String(i).padStart(2, '0')}`);
    const model = new Map<string, FileRow[]>();
    let current = new Map(paths.map((p) => [p, 0]));
    const rowsOf = (state: Map<string, number>): FileRow[] =>
      [...state].sort(([a], [b]) => (a < b ? -1 : 1)).map(([path, v]) => ({ path, type: 'file', size: v, mode: 0o644, mtime: 1000 + v, hash: hex(`${path}@${v}`), chunks: 1 }));
    const raw = new Database(db.file, { readonly: true });
    // Versions no snapshot holds: deletes and re-filing must leave none behind.
    const orphans = raw.prepare(
      'SELECT count(*) FROM file_versions v WHERE NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.lineage = v.lineage AND s.fileset BETWEEN v.since AND coalesce(v.until, s.fileset))',
    );
    const check = (step: string) => {
      for (const [id, rows] of model) {
        expect(db.cat.listFiles(id), `${step}: ${id.slice(0, 8)}`).toEqual(rows);
        expect(db.cat.countFiles(id), `${step}: ${id.slice(0, 8)}`).toBe(rows.length);
      }
      expect(orphans.pluck().get(), step).toBe(0);
    };
    for (let step = 0; step < 60; step++) {
      const op = rnd(10);
      const ids = [...model.keys()];
      if (op < 6 || ids.length === 0) {
        // A new snapshot after changing, adding or removing a few paths.
        current = new Map(current);
        for (let k = 0; k < 3; k++) {
          const p = paths[rnd(paths.length)]!;
          if (rnd(4) === 0) current.delete(p);
          else current.set(p, step + 1);
        }
        const id = hex(`snapshot ${step}`);
        db.cat.upsertSnapshot({ id, policy: 'p', host: 'h', paths: ['/srv'], time: new Date(Date.UTC(2026, 0, 1, step)), tree: hex('t') });
        db.cat.addFiles(id, rowsOf(current));
        model.set(id, rowsOf(current));
      } else if (op < 8) {
        const id = ids[rnd(ids.length)]!;
        expect(db.cat.deleteSnapshot(id)).toBe(true);
        model.delete(id);
      } else {
        // Re-filing an existing snapshot with one entry replaced keeps the rest of its entries.
        const id = ids[rnd(ids.length)]!;
        const rows = model.get(id)!;
        if (rows.length === 0) continue;
        const changed = { ...rows[rnd(rows.length)]!, size: 999, hash: hex(`refiled ${step}`) };
        db.cat.addFiles(id, [changed]);
        model.set(id, rows.map((r) => (r.path === changed.path ? changed : r)));
      }
      check(`step ${step}`);
    }
    raw.close();
  });
});
