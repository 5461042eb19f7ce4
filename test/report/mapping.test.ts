import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupRuns, obligationsStartOf, readHistory, reportInput, snapshotCopies, storedFigures, verifications } from '../../src/app/report.js';
import { openCatalog } from '../../src/catalog/catalog.js';
import { tempDir } from '../helpers/triad.js';
import { nasTapePolicy } from './nas-tape-policy.js';

/** Catalogue rows (a real SQLite file) → compliance inputs, each expected value written by hand. */
const hex = (s: string): string => createHash('sha256').update(s).digest('hex');
const iso = (hhmm: string): string => `2026-03-02T${hhmm}:00.000Z`;

function policy(dir: string, extra = 'schedule: {backup: "0 */4 * * *"}', objectives = 'objectives: {rpo: 4h}') {
  return nasTapePolicy(dir, objectives, extra);
}

function seeded(dir: string) {
  const cat = openCatalog(join(dir, 'catalog.db'));
  for (const n of ['nas', 'tape']) cat.upsertTarget({ policy: 'p', name: n, type: 'local', location: n, media: n, offsite: n === 'tape' });
  const snap = (id: string, time: string, bytesAdded: number, bytes: number) =>
    cat.upsertSnapshot({ id: hex(id), policy: 'p', host: 'h', paths: ['/srv/data'], time: iso(time), tree: hex('tree' + id), bytes, bytes_added: bytesAdded });
  snap('s1', '01:00', 1000, 5000);
  snap('s2', '05:00', 200, 5200);
  snap('s3', '09:00', 300, 5300);
  cat.markComplete(hex('s1'), 'nas', iso('01:10'));
  cat.markComplete(hex('s1'), 'tape', iso('01:20'));
  cat.markComplete(hex('s2'), 'nas', iso('05:10'));
  cat.markForgotten(hex('s1'), 'nas', iso('06:00'), 'keep_last');
  cat.setPresence(hex('s3'), 'tape', { status: 'missing', at: iso('09:10') });
  // s2 reached tape, then a check found it gone: it keeps its completion time but no longer counts.
  cat.markComplete(hex('s2'), 'tape', iso('05:15'));
  cat.setPresence(hex('s2'), 'tape', { status: 'missing', at: iso('08:00') });
  cat.markComplete(hex('s3'), 'nas', iso('09:10'));
  // Backup runs: one ok, one where tape failed, one that threw (plain names), one still running.
  cat.importRun({ policy: 'p', kind: 'backup', started_at: iso('01:00'), finished_at: iso('01:20'), status: 'ok', exit_code: 0,
    details: { targets: [{ target: 'nas', status: 'committed' }, { target: 'tape', status: 'committed' }] } });
  cat.importRun({ policy: 'p', kind: 'backup', started_at: iso('05:00'), finished_at: iso('05:10'), status: 'failed', exit_code: 1, error: 'tape: drive offline',
    details: { targets: [{ target: 'nas', status: 'committed' }, { target: 'tape', status: 'failed', error: 'drive offline' }] } });
  cat.importRun({ policy: 'p', kind: 'backup', started_at: iso('07:00'), finished_at: iso('07:01'), status: 'failed', exit_code: 12, error: 'wrong passphrase', details: { targets: ['nas', 'tape'] } });
  cat.startRun({ policy: 'p', kind: 'backup', started_at: iso('11:00'), details: { targets: ['nas'] } });
  // Checks: one with integrity errors, one clean, one that could not open its target.
  cat.importRun({ policy: 'p', kind: 'check', target: 'nas', started_at: iso('06:00'), finished_at: iso('06:05'), status: 'failed', exit_code: 1, details: { errors: 2 } });
  cat.importRun({ policy: 'p', kind: 'check', target: 'tape', started_at: iso('06:00'), finished_at: iso('06:05'), status: 'ok', exit_code: 0, details: { errors: 0 } });
  cat.importRun({ policy: 'p', kind: 'check', target: 'tape', started_at: iso('07:00'), finished_at: iso('07:00'), status: 'failed', exit_code: 1, error: 'unreachable' });
  cat.addPacks('p', 'nas', [{ id: hex('pack1'), size: 1400, blobs: 3, type: 'data' }]);
  return cat;
}

describe('catalogue rows → compliance inputs', () => {
  it('snapshot copies: complete and forgotten copies count from their completion, missing ones never', () => {
    const dir = tempDir();
    const cat = seeded(dir);
    try {
      expect(cat.listSnapshots('p')[1]!.presence.find((p) => p.target === 'tape')).toMatchObject({ status: 'missing', completed_at: iso('05:15') });
      const copies = snapshotCopies(cat.listSnapshots('p')).map((c) => [c.snapshotId.slice(0, 6), c.target, c.recoveryPoint.toISOString(), c.completedAt.toISOString(), c.bytes]);
      expect(copies).toEqual([
        [hex('s1').slice(0, 6), 'nas', iso('01:00'), iso('01:10'), 5000],
        [hex('s1').slice(0, 6), 'tape', iso('01:00'), iso('01:20'), 5000],
        [hex('s2').slice(0, 6), 'nas', iso('05:00'), iso('05:10'), 5200],
        [hex('s3').slice(0, 6), 'nas', iso('09:00'), iso('09:10'), 5300],
      ]);
    } finally {
      cat.close();
    }
  });

  it('backup runs: per-target results, the run error when it threw, running runs left out', () => {
    const dir = tempDir();
    const cat = seeded(dir);
    try {
      const runs = backupRuns(cat.listRuns('p')).map((r) => [r.target, r.startedAt.toISOString(), r.ok, r.error ?? null]);
      expect(runs).toEqual([
        ['nas', iso('01:00'), true, null],
        ['tape', iso('01:00'), true, null],
        ['nas', iso('05:00'), true, null],
        ['tape', iso('05:00'), false, 'drive offline'],
        ['nas', iso('07:00'), false, 'wrong passphrase'],
        ['tape', iso('07:00'), false, 'wrong passphrase'],
      ]);
      expect(verifications(cat.listRuns('p')).map((v) => [v.target, v.errors])).toEqual([
        ['nas', 2],
        ['tape', 0],
      ]);
    } finally {
      cat.close();
    }
  });

  it('obligations start at the first committed snapshot, or at objectives.since; not before either exists', () => {
    const dir = tempDir();
    const cat = seeded(dir);
    try {
      const snaps = cat.listSnapshots('p');
      // No finish time recorded: s1 was complete on nas at 01:10 and on tape at 01:20, so its backup ended at 01:20.
      const at = new Date(iso('10:00'));
      expect(obligationsStartOf(policy(dir), snaps, at)?.toISOString()).toBe(iso('01:20'));
      // As of 01:15 the first backup had not finished: nothing has started.
      expect(obligationsStartOf(policy(dir), snaps, new Date(iso('01:15')))).toBeNull();
      const withSince = policy(dir, '', 'objectives: {rpo: 4h, since: 2026-03-01}');
      expect(obligationsStartOf(withSince, snaps, at)?.toISOString()).toBe('2026-03-01T00:00:00.000Z');
      expect(obligationsStartOf(policy(dir), [], at)).toBeNull();
      expect(obligationsStartOf(withSince, [], at)?.toISOString()).toBe('2026-03-01T00:00:00.000Z');
      // A recorded finish time wins over the copies' completion times.
      expect(obligationsStartOf(policy(dir), [{ ...snaps[0]!, finished_at: iso('01:30') }], at)?.toISOString()).toBe(iso('01:30'));
    } finally {
      cat.close();
    }
  });

  it('report input: targets from the policy, due from the first record, stored bytes and logical bytes per target', () => {
    const dir = tempDir();
    const cat = seeded(dir);
    try {
      const history = readHistory(cat, 'p');
      const input = reportInput({ policy: policy(dir), history, at: new Date(iso('10:00')) });
      expect(input.obligationsStart?.toISOString()).toBe(iso('01:20'));
      expect(input.targets.map((t) => [t.name, t.media, t.offsite, t.offline, t.local])).toEqual([
        ['nas', 'nas', false, false, true],
        ['tape', 'tape', true, true, true],
      ]);
      // nas: 1000 + 200 + 300 added; evaluated after its latest copy, so the pack total (1400) replaces the last sum.
      // Logical: only copies still complete (s2, s3): 5200 + 5300.
      const nas = storedFigures('nas', history, new Date(iso('10:00')));
      expect(nas.storedHistory!.map((h) => [h.at.toISOString(), h.bytes])).toEqual([
        [iso('01:10'), 1000],
        [iso('05:10'), 1200],
        [iso('09:10'), 1400],
      ]);
      expect(nas.logicalBytes).toBe(10_500);
      // Evaluated at 06:00, before s3 completed: the running sum, not today's pack total.
      const earlier = storedFigures('nas', history, new Date(iso('06:00')));
      expect(earlier.storedHistory!.map((h) => h.bytes)).toEqual([1000, 1200]);
      expect(storedFigures('tape', history, new Date(iso('10:00'))).storedHistory!.map((h) => h.bytes)).toEqual([1000]);
    } finally {
      cat.close();
    }
  });
});
