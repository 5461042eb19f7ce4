import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readHistory, reportInput, storedFigures, type PolicyHistory } from '../../src/app/report.js';
import { openCatalog, type Catalog } from '../../src/catalog/catalog.js';
import { buildPolicyReport } from '../../src/compliance/index.js';
import type { Policy } from '../../src/policy/types.js';
import { tempDir } from '../helpers/triad.js';
import { nasTapePolicy } from './nas-tape-policy.js';

// A report reads what happened before its window folded into a few rows and sums: the report
// must be the very same as from the whole history, at any time and window.
const hex = (s: string): string => createHash('sha256').update(s).digest('hex');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();

function policyOf(dir: string): Policy {
  return nasTapePolicy(dir, 'objectives: {rpo: 4h, rto: 2h, window: 7d}', 'schedule: {backup: "0 */2 * * *"}');
}

/** 40 days of backups every 2 h with failures, partial snapshots, losses, forgets, checks, key proofs, restore tests. */
function seed(cat: Catalog): void {
  for (const n of ['nas', 'tape']) cat.upsertTarget({ policy: 'p', name: n, type: 'local', location: n, media: n, offsite: n === 'tape' });
  cat.transaction(() => {
    for (let i = 0; i < 40 * 12; i++) {
      const start = T0 + i * 2 * HOUR;
      // Every 50th backup runs 9 hours, so its copies complete well after later ones start.
      const end = start + (i % 50 === 7 ? 9 * HOUR : (10 + (i % 13)) * 60_000);
      const id = hex(`s${i}`);
      const tapeFails = i % 37 === 3 || (i >= 300 && i < 330);
      cat.upsertSnapshot({ id, policy: 'p', host: 'h', paths: ['/srv/data'], time: iso(start), finished_at: i % 5 === 0 ? null : iso(end), tree: hex(`t${i}`), bytes: 5000 + i, bytes_added: 100 + (i % 17), partial: i % 11 === 4 });
      cat.markComplete(id, 'nas', iso(end - 60_000));
      if (!tapeFails) cat.markComplete(id, 'tape', iso(end));
      if (i % 9 === 2 && !tapeFails) cat.setPresence(id, 'tape', { status: 'missing', at: iso(end + DAY) });
      if (i % 4 === 1) cat.markForgotten(id, 'nas', iso(end + 3 * DAY), 'keep_hourly');
      cat.importRun({
        policy: 'p', kind: 'backup', started_at: iso(start), finished_at: iso(end), status: tapeFails ? 'failed' : i % 11 === 4 ? 'partial' : 'ok', exit_code: tapeFails ? 1 : 0,
        ...(tapeFails ? { error: 'tape: drive offline' } : {}),
        details: { targets: [{ target: 'nas', status: 'committed' }, { target: 'tape', status: tapeFails ? 'failed' : 'committed', ...(tapeFails ? { error: 'drive offline' } : {}) }] },
      });
      if (i % 12 === 6) {
        for (const target of ['nas', 'tape']) cat.importRun({ policy: 'p', kind: 'check', target, started_at: iso(start + HOUR), finished_at: iso(start + HOUR + 60_000), status: i % 60 === 6 ? 'failed' : 'ok', exit_code: 0, details: { errors: i % 60 === 6 ? 3 : 0 } });
      }
      if (i % 100 === 40) cat.importRun({ policy: 'p', kind: 'key-verify', started_at: iso(start + HOUR), finished_at: iso(start + HOUR), status: 'ok', exit_code: 0, details: { targets: [{ target: i % 200 === 40 ? 'nas' : 'tape', key: 'k1' }] } });
      if (i % 120 === 60) {
        const run = cat.importRun({ policy: 'p', kind: 'restore-test', started_at: iso(start + HOUR), finished_at: iso(start + 2 * HOUR), status: 'ok', exit_code: 0 });
        for (const target of ['nas', 'tape']) cat.addRestoreTest({ run_id: run, policy: 'p', target, at: iso(start + 2 * HOUR), seed: 1, ok: i !== 180, files: 10, bytes: 1000, overhead_ms: 500, transfer_ms: 1500, snapshots: [id], failures: i === 180 ? ['x'] : [] });
      }
    }
    // A backup that never finished, long ago.
    cat.startRun({ policy: 'p', kind: 'backup', started_at: iso(T0 + 3 * DAY + 5 * 60_000), details: { targets: ['nas', 'tape'] } });
  });
  cat.addPacks('p', 'nas', [{ id: hex('pack1'), size: 60_000, blobs: 3, type: 'data' }]);
}

function reportOf(policy: Policy, history: PolicyHistory, at: Date, windowMs: number) {
  const capacity = policy.targets.map((t) => storedFigures(t.name, history, at));
  return buildPolicyReport(reportInput({ policy, history, at, windowMs, capacity, zone: 'UTC' }));
}

describe('a report over a window of a long history', () => {
  it('equals the report over the whole history, while it holds only the window and a few older rows', () => {
    const dir = tempDir();
    const cat = openCatalog(join(dir, 'catalog.db'));
    try {
      seed(cat);
      const policy = policyOf(dir);
      const whole = readHistory(cat, 'p');
      const cases: Array<[number, number]> = [
        [T0 + 40 * DAY + HOUR, 7 * DAY],
        [T0 + 40 * DAY + HOUR, 30 * DAY],
        [T0 + 514 * HOUR + 3 * HOUR + 7 * DAY, 7 * DAY], // the window starts inside a 9-hour backup
        [T0 + 27 * DAY + 3 * HOUR + 7 * 60_000, 7 * DAY], // inside the tape outage
        [T0 + 4 * DAY, DAY], // before the first restore test: due from where obligations started
        [T0 + 12 * DAY, 2 * DAY], // no failure inside: the last one is from before the window
        [T0 + 800 * HOUR + 30 * 60_000 + 7 * DAY, 7 * DAY], // the newest copy before the window is partial
        [T0 + 40 * DAY + HOUR, 60 * DAY], // the window holds the whole history
      ];
      for (const [atMs, windowMs] of cases) {
        const at = new Date(atMs);
        const windowed = readHistory(cat, 'p', { since: new Date(atMs - windowMs), at });
        expect(JSON.stringify(reportOf(policy, windowed, at, windowMs)), `at ${iso(atMs)}, window ${windowMs / DAY} d`).toBe(JSON.stringify(reportOf(policy, whole, at, windowMs)));
        if (windowMs === 7 * DAY && atMs === T0 + 40 * DAY + HOUR) {
          // The 7 days of 40 hold ~84 snapshots and ~100 runs, plus a handful folded in.
          expect(windowed.snapshots.length).toBeLessThan(100);
          expect(windowed.runs.length).toBeLessThan(130);
          expect(whole.snapshots.length).toBe(480);
        }
      }
    } finally {
      cat.close();
    }
  });
});
