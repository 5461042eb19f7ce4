import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { openCatalog } from '../../src/catalog/index.js';
import { fixedClock } from '../../src/core/clock.js';
import { TriadError } from '../../src/core/errors.js';
import { catalogPerTest, hex, thrown } from './helpers.js';

const db = catalogPerTest();

describe('runs', () => {
  it('round-trips a run from start to finish, across a reopen', () => {
    const id = db.cat.startRun({ policy: 'fin', kind: 'backup', target: null, started_at: fixedClock('2025-01-01T04:00:00Z').now(), details: { dry: false } });
    expect(db.cat.getRun(id)).toMatchObject({ status: 'running', finished_at: null, exit_code: null });
    db.cat.finishRun(id, {
      finished_at: '2025-01-01T04:10:00Z',
      status: 'partial',
      exit_code: 3,
      bytes_read: 1000,
      requests: 7,
      bytes_written: 300,
      files: 12,
      error: 'unreadable: /srv/fin/locked.xlsx',
      details: { snapshot: hex('s'), warnings: 1 },
    });
    db.cat.close();
    db.cat = openCatalog(db.file);
    expect(db.cat.getRun(id)).toEqual({
      id,
      policy: 'fin',
      kind: 'backup',
      target: null,
      started_at: '2025-01-01T04:00:00.000Z',
      finished_at: '2025-01-01T04:10:00.000Z',
      status: 'partial',
      exit_code: 3,
      bytes_read: 1000,
      requests: 7,
      bytes_written: 300,
      files: 12,
      error: 'unreadable: /srv/fin/locked.xlsx',
      details: { snapshot: hex('s'), warnings: 1 },
      journal_id: null,
    });
  });

  it('lists runs oldest first, filtered by kind, target and time', () => {
    const mk = (kind: 'backup' | 'copy' | 'check', target: string | null, at: string): number => {
      const id = db.cat.startRun({ policy: 'fin', kind, target, started_at: at });
      db.cat.finishRun(id, { finished_at: at, status: 'ok', exit_code: 0 });
      return id;
    };
    const b1 = mk('backup', null, '2025-01-01T00:00:00Z');
    const c1 = mk('copy', 'cloud', '2025-01-01T01:00:00Z');
    const k1 = mk('check', 'nas', '2025-01-02T00:00:00Z');
    const b2 = mk('backup', null, '2025-01-03T00:00:00Z');
    db.cat.startRun({ policy: 'hr', kind: 'backup', started_at: '2025-01-03T00:00:00Z' });
    expect(db.cat.listRuns('fin').map((r) => r.id)).toEqual([b1, c1, k1, b2]);
    expect(db.cat.listRuns('fin', { kind: 'backup' }).map((r) => r.id)).toEqual([b1, b2]);
    expect(db.cat.listRuns('fin', { target: 'cloud' }).map((r) => r.id)).toEqual([c1]);
    expect(db.cat.listRuns('fin', { since: '2025-01-02T00:00:00+00:00' }).map((r) => r.id)).toEqual([k1, b2]);
    expect(db.cat.listRuns('hr', { status: 'running' })).toHaveLength(1);
  });

  it('imports journal runs idempotently', () => {
    const run = {
      policy: 'fin',
      kind: 'prune' as const,
      target: 'nas',
      started_at: '2025-01-05T00:00:00Z',
      finished_at: '2025-01-05T00:01:00Z',
      status: 'ok' as const,
      exit_code: 0,
      journal_id: hex('j1'),
    };
    const a = db.cat.importRun(run);
    const b = db.cat.importRun(run);
    expect(b).toBe(a);
    expect(db.cat.listRuns('fin')).toHaveLength(1);
    expect(db.cat.getRun(a)).toMatchObject({ journal_id: hex('j1'), status: 'ok', target: 'nas' });
  });

  it('rejects unknown runs and bad values', () => {
    expect((thrown(() => db.cat.finishRun(999, { finished_at: '2025-01-01T00:00:00Z', status: 'ok', exit_code: 0 })) as TriadError).code).toBe('E_CATALOG');
    const id = db.cat.startRun({ policy: 'fin', kind: 'check', started_at: '2025-01-01T00:00:00Z' });
    expect(() => db.cat.finishRun(id, { finished_at: '2025-01-01T00:00:00Z', status: 'running' as never, exit_code: 0 })).toThrow(TriadError);
    expect(() => db.cat.startRun({ policy: 'fin', kind: 'dance' as never, started_at: '2025-01-01T00:00:00Z' })).toThrow(TriadError);
    expect(() => db.cat.startRun({ policy: 'fin', kind: 'check', started_at: 'last tuesday' })).toThrow(TriadError);
  });

  it('keeps long error messages bounded', () => {
    const id = db.cat.startRun({ policy: 'fin', kind: 'backup', started_at: '2025-01-01T00:00:00Z' });
    db.cat.finishRun(id, { finished_at: '2025-01-01T00:00:01Z', status: 'failed', exit_code: 1, error: 'x'.repeat(100_000) });
    expect(db.cat.getRun(id)!.error!.length).toBeLessThan(5000);
  });
});

describe('restore tests', () => {
  it('round-trips per-target results and filters them', () => {
    const run = db.cat.startRun({ policy: 'fin', kind: 'restore-test', started_at: '2025-02-01T03:00:00Z' });
    const failure = { file: '/srv/fin/a.pdf', snapshot: hex('s1'), reason: 'hash mismatch' };
    db.cat.addRestoreTest({
      run_id: run, policy: 'fin', target: 'nas', at: '2025-02-01T03:05:00Z', seed: 4_000_000_000, ok: true,
      files: 120, bytes: 5_000_000, overhead_ms: 800, transfer_ms: 2500.5, snapshots: [hex('s1')],
    });
    db.cat.addRestoreTest({
      run_id: run, policy: 'fin', target: 'cloud', at: '2025-02-01T03:09:00Z', seed: 4_000_000_000, ok: false,
      files: 120, bytes: 5_000_000, overhead_ms: 3000, transfer_ms: 9000, snapshots: [hex('s1')], failures: [failure], duration_ms: null,
    });
    const later = db.cat.startRun({ policy: 'fin', kind: 'restore-test', started_at: '2025-03-01T03:00:00Z' });
    db.cat.addRestoreTest({ run_id: later, policy: 'fin', target: 'nas', at: '2025-03-01T03:04:00Z', seed: 7, ok: true, files: 1, bytes: 1, overhead_ms: 1, transfer_ms: 1 });

    const all = db.cat.listRestoreTests('fin');
    expect(all.map((t) => `${t.run_id}:${t.target}`)).toEqual([`${run}:nas`, `${run}:cloud`, `${later}:nas`]);
    expect(all[1]).toEqual({
      run_id: run, policy: 'fin', target: 'cloud', at: '2025-02-01T03:09:00.000Z', seed: 4_000_000_000, ok: false,
      files: 120, bytes: 5_000_000, overhead_ms: 3000, transfer_ms: 9000, snapshots: [hex('s1')], failures: [failure], duration_ms: null,
    });
    expect(all[0]!.transfer_ms).toBe(2500.5);
    expect(db.cat.listRestoreTests('fin', { target: 'nas' })).toHaveLength(2);
    expect(db.cat.listRestoreTests('fin', { since: '2025-02-15' }).map((t) => t.run_id)).toEqual([later]);
    expect(db.cat.listRestoreTests('hr')).toEqual([]);
  });
});

describe('packs and journal', () => {
  it('records packs per target, once however many targets hold them, and sums them for capacity reports', () => {
    // Each pack holds two blobs of 400 + 2i and 401 + 2i stored bytes, 1000 plain bytes each.
    const packs = [0, 1, 2].map((i) => ({ id: hex(`pack${i}`), size: 1000 * (i + 1), blobs: 2, type: 'data' as const, blob_bytes: 801 + 4 * i, raw_bytes: 2000 }));
    expect(db.cat.addPacks('fin', 'nas', packs)).toBe(3);
    expect(db.cat.addPacks('fin', 'nas', packs)).toBe(0);
    expect(db.cat.storedBytes('fin', 'nas')).toBe(6000);
    expect(db.cat.storageStats('fin', 'nas')).toEqual({ packs: 3, pack_bytes: 6000, blobs: 6, blob_bytes: 2415, raw_bytes: 6000 });
    expect(db.cat.storedBytes('fin', 'cloud')).toBe(0);
    expect(db.cat.addPacks('fin', 'cloud', packs.slice(0, 2))).toBe(2);
    expect(db.cat.storageStats('fin', 'cloud')).toEqual({ packs: 2, pack_bytes: 3000, blobs: 4, blob_bytes: 1606, raw_bytes: 4000 });

    expect(db.cat.removePacks('fin', 'nas', [hex('pack0'), hex('pack2')])).toBe(2);
    expect(db.cat.storageStats('fin', 'nas')).toMatchObject({ packs: 1, pack_bytes: 2000, blobs: 2 });
    // Still on the other target: its row stays there.
    expect(db.cat.storageStats('fin', 'cloud')).toMatchObject({ packs: 2, pack_bytes: 3000 });
    expect([...db.cat.iteratePackIds('fin', 'nas')]).toEqual([hex('pack1')]);
    const raw = new Database(db.file, { readonly: true });
    try {
      // pack2 was on nas alone: its row went with it; pack0 stays for cloud.
      expect(raw.prepare('SELECT count(*) FROM packs').pluck().get()).toBe(2);
    } finally {
      raw.close();
    }
  });

  it('remembers imported journal records per target', () => {
    expect(db.cat.journalSeen('fin', 'cloud', 'j1')).toBe(false);
    expect(db.cat.markJournalSeen('fin', 'cloud', 'j1')).toBe(true);
    expect(db.cat.markJournalSeen('fin', 'cloud', 'j1')).toBe(false);
    expect(db.cat.journalSeen('fin', 'cloud', 'j1')).toBe(true);
    expect(db.cat.journalSeen('fin', 'nas', 'j1')).toBe(false);
  });

  it('groups writes in one transaction that rolls back as a whole', () => {
    expect(() =>
      db.cat.transaction(() => {
        db.cat.markJournalSeen('fin', 'cloud', 'j2');
        db.cat.importRun({ policy: 'fin', kind: 'backup', started_at: '2025-01-01T00:00:00Z', finished_at: '2025-01-01T00:00:01Z', status: 'ok', exit_code: 0 });
        throw new Error('interrupted');
      }),
    ).toThrow('interrupted');
    expect(db.cat.journalSeen('fin', 'cloud', 'j2')).toBe(false);
    expect(db.cat.listRuns('fin')).toEqual([]);
  });
});
