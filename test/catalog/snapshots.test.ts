import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCatalog } from '../../src/catalog/index.js';
import type { Catalog, SnapshotInput } from '../../src/catalog/index.js';
import { TriadError } from '../../src/core/errors.js';
import { hex, tempDir, thrown } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
let cat: Catalog;
beforeEach(() => {
  tmp = tempDir();
  cat = openCatalog(join(tmp.dir, 'catalog.db'));
  cat.upsertTarget({ policy: 'fin', name: 'nas', type: 'local', location: '/mnt/nas', media: 'nas', offsite: false });
  cat.upsertTarget({ policy: 'fin', name: 'cloud', type: 's3', location: 's3://b/fin/', media: 'object-storage', offsite: true, immutable: true });
});
afterEach(() => {
  cat.close();
  tmp.cleanup();
});

function snap(id: string, time: string, extra: Partial<SnapshotInput> = {}): SnapshotInput {
  return { id, policy: 'fin', host: 'srv1', paths: ['/srv/fin', '/var/backups/pg'], time, tree: hex(`tree${id}`), ...extra };
}

describe('targets', () => {
  it('upserts per policy and reads back flags', () => {
    cat.upsertTarget({ policy: 'fin', name: 'nas', type: 'local', location: '/mnt/nas2', media: 'nas', offsite: false, offline: true });
    cat.upsertTarget({ policy: 'hr', name: 'nas', type: 'local', location: '/mnt/hr', media: 'disk', offsite: false });
    const fin = cat.listTargets('fin');
    expect(fin.map((t) => t.name)).toEqual(['cloud', 'nas']);
    expect(fin[0]).toMatchObject({ type: 's3', offsite: true, immutable: true, offline: false });
    expect(fin[1]).toMatchObject({ location: '/mnt/nas2', offline: true, immutable: false });
    expect(cat.listTargets('hr')).toHaveLength(1);
  });
});

describe('snapshots and presence', () => {
  const a = hex('a');
  const b = hex('b');
  const c = hex('c');

  beforeEach(() => {
    cat.upsertSnapshot(snap(a, '2025-01-01T00:00:00Z', { files: 10, bytes: 1000, bytes_added: 400, finished_at: '2025-01-01T00:05:00Z', tags: ['daily'] }));
    cat.upsertSnapshot(snap(b, '2025-01-02T00:00:00Z', { parent: a, partial: true }));
    cat.upsertSnapshot(snap(c, '2025-01-03T00:00:00Z', { parent: b, host: 'srv2', paths: ['/srv/fin'] }));
    cat.markComplete(a, 'nas', '2025-01-01T00:05:00Z');
    cat.markComplete(a, 'cloud', '2025-01-01T00:20:00Z');
    cat.markComplete(b, 'nas', '2025-01-02T00:05:00Z');
    cat.setPresence(b, 'cloud', { status: 'missing', at: '2025-01-02T00:30:00Z' });
    cat.markComplete(c, 'cloud', '2025-01-03T00:10:00Z');
  });

  it('round-trips a snapshot with its summary and presence per target', () => {
    const s = cat.snapshotById(a)!;
    expect(s).toMatchObject({
      id: a,
      policy: 'fin',
      host: 'srv1',
      paths: ['/srv/fin', '/var/backups/pg'],
      time: '2025-01-01T00:00:00.000Z',
      finished_at: '2025-01-01T00:05:00.000Z',
      files: 10,
      bytes: 1000,
      bytes_added: 400,
      files_new: 0,
      partial: false,
      tags: ['daily'],
      parent: null,
    });
    expect(s.presence).toEqual([
      { target: 'cloud', status: 'complete', completed_at: '2025-01-01T00:20:00.000Z', changed_at: '2025-01-01T00:20:00.000Z', forget_rule: null },
      { target: 'nas', status: 'complete', completed_at: '2025-01-01T00:05:00.000Z', changed_at: '2025-01-01T00:05:00.000Z', forget_rule: null },
    ]);
    expect(cat.snapshotById(b)!.partial).toBe(true);
  });

  it('lists snapshots oldest first, filtered by target and time', () => {
    expect(cat.listSnapshots('fin').map((s) => s.id)).toEqual([a, b, c]);
    expect(cat.listSnapshots('fin', { target: 'nas' }).map((s) => s.id)).toEqual([a, b]);
    expect(cat.listSnapshots('fin', { since: '2025-01-02T00:00:00Z' }).map((s) => s.id)).toEqual([b, c]);
    expect(cat.listSnapshots('fin', { target: 'tape' })).toEqual([]);
    expect(cat.listSnapshots('hr')).toEqual([]);
    const bRow = cat.listSnapshots('fin').find((s) => s.id === b)!;
    expect(bRow.presence.map((p) => `${p.target}:${p.status}`)).toEqual(['cloud:missing', 'nas:complete']);
  });

  it('finds the latest snapshot complete on a target, host or path set', () => {
    expect(cat.latestSnapshot('fin')!.id).toBe(c);
    expect(cat.latestSnapshot('fin', { target: 'nas' })!.id).toBe(b);
    // b is only missing on cloud, so cloud's latest before c is a.
    expect(cat.latestSnapshot('fin', { target: 'cloud', host: 'srv1' })!.id).toBe(a);
    expect(cat.latestSnapshot('fin', { paths: ['/var/backups/pg', '/srv/fin'] })!.id).toBe(b);
    expect(cat.latestSnapshot('fin', { host: 'nobody' })).toBeUndefined();
    expect(cat.latestSnapshot('fin', { target: 'unknown' })).toBeUndefined();
  });

  it('keeps the completion time when forgotten, so history still sees the copy', () => {
    cat.markForgotten(a, 'nas', '2025-02-01T00:00:00Z', 'keep_daily 14');
    const p = cat.snapshotById(a)!.presence.find((x) => x.target === 'nas')!;
    expect(p).toEqual({
      target: 'nas',
      status: 'forgotten',
      completed_at: '2025-01-01T00:05:00.000Z',
      changed_at: '2025-02-01T00:00:00.000Z',
      forget_rule: 'keep_daily 14',
    });
    expect(cat.latestSnapshot('fin', { target: 'nas' })!.id).toBe(b);
    cat.markForgotten(b, 'nas', '2025-02-01T00:00:00Z', 'keep_last 1');
    expect(cat.latestSnapshot('fin', { target: 'nas' })).toBeUndefined();
  });

  it('does not move an existing completion later when the same copy is recorded again', () => {
    cat.markComplete(a, 'nas', '2025-03-01T00:00:00Z');
    expect(cat.snapshotById(a)!.presence.find((x) => x.target === 'nas')!.completed_at).toBe('2025-01-01T00:05:00.000Z');
    // A missing copy repaired later counts from the repair.
    cat.markComplete(b, 'cloud', '2025-01-05T00:00:00Z');
    const p = cat.snapshotById(b)!.presence.find((x) => x.target === 'cloud')!;
    expect(p).toMatchObject({ status: 'complete', completed_at: '2025-01-05T00:00:00.000Z' });
  });

  it('upserting the same snapshot again updates it without duplicating', () => {
    cat.upsertSnapshot(snap(a, '2025-01-01T00:00:00Z', { files: 11 }));
    expect(cat.listSnapshots('fin')).toHaveLength(3);
    expect(cat.snapshotById(a)!.files).toBe(11);
    expect(cat.snapshotById(a)!.presence).toHaveLength(2);
  });

  it('records presence on a target the catalogue has not seen yet', () => {
    cat.markComplete(c, 'usb', '2025-01-04T00:00:00Z');
    expect(cat.latestSnapshot('fin', { target: 'usb' })!.id).toBe(c);
    expect(cat.listTargets('fin').find((t) => t.name === 'usb')).toMatchObject({ type: null, offsite: false });
  });

  it('deletes a snapshot with its presence and files', () => {
    cat.addFiles(c, [{ path: '/srv/fin/x', type: 'file', size: 1, mode: 0o644, mtime: 1, hash: hex('x'), chunks: 1 }]);
    expect(cat.deleteSnapshot(c)).toBe(true);
    expect(cat.snapshotById(c)).toBeUndefined();
    expect(cat.deleteSnapshot(c)).toBe(false);
    expect((thrown(() => cat.countFiles(c)) as TriadError).code).toBe('E_SNAPSHOT_NOT_FOUND');
  });

  it('rejects malformed ids and unknown snapshots with clear errors', () => {
    expect((thrown(() => cat.upsertSnapshot(snap('abc', '2025-01-01T00:00:00Z'))) as TriadError).code).toBe('E_CATALOG');
    expect((thrown(() => cat.markComplete(hex('zzz'), 'nas', '2025-01-01T00:00:00Z')) as TriadError).code).toBe('E_SNAPSHOT_NOT_FOUND');
  });
});

describe('snapshot id prefixes', () => {
  // Ids sharing their first 8 characters, to exercise ambiguity.
  const x1 = `deadbeef00${hex('1').slice(10)}`;
  const x2 = `deadbeef11${hex('2').slice(10)}`;
  const y = hex('y');

  beforeEach(() => {
    for (const [id, t] of [[x1, '2025-01-01T00:00:00Z'], [x2, '2025-01-02T00:00:00Z'], [y, '2025-01-03T00:00:00Z']] as const) {
      cat.upsertSnapshot(snap(id, t));
    }
  });

  it('resolves a unique prefix, a full id and upper case', () => {
    expect(cat.snapshotById(y.slice(0, 8))!.id).toBe(y);
    expect(cat.snapshotById('deadbeef1')!.id).toBe(x2);
    expect(cat.snapshotById(x1.toUpperCase())!.id).toBe(x1);
    expect(cat.snapshotById(y.slice(0, 12), 'fin')!.id).toBe(y);
    expect(cat.snapshotById(y.slice(0, 12), 'hr')).toBeUndefined();
  });

  it('reports an ambiguous prefix with its candidates', () => {
    const err = thrown(() => cat.snapshotById('deadbeef')) as TriadError;
    expect(err).toBeInstanceOf(TriadError);
    expect(err.code).toBe('E_USAGE');
    expect(err.message).toContain(x1);
    expect(err.message).toContain(x2);
    expect(err.details?.candidates).toEqual([x1, x2]);
  });

  it('returns undefined for a missing id and refuses short or non-hex prefixes', () => {
    expect(cat.snapshotById('0123456789')).toBeUndefined();
    expect((thrown(() => cat.snapshotById('deadbee')) as TriadError).code).toBe('E_USAGE');
    expect((thrown(() => cat.snapshotById('latest!!')) as TriadError).code).toBe('E_USAGE');
  });
});
