import type { Connection } from './connection.js';
import { toIso } from './time.js';
import type { PackVerification, VerificationCoverage, VerificationEntry } from './types.js';
import { hexBuf } from './values.js';

/**
 * Records one verification pass over packs of a target. 'pack' (check --read-data): the
 * whole pack was read and verified, so `verified` packs become verified and their earlier
 * failure is cleared; 'blobs' (a restore test): some of their blobs were restored intact,
 * which is noted apart and never counts as the pack verified. `failed` packs are recorded as
 * failed either way. A pass older than what a row holds changes nothing there (a journal
 * replayed after newer runs). Packs the catalogue does not hold on the target are skipped.
 * Returns how many presence rows changed.
 */
export function recordVerification(c: Connection, policy: string, target: string, v: PackVerification): number {
  const at = toIso(v.at, 'verification time');
  return c.write(() =>
    c.db.transaction(() => {
      const tid = c.targetId(policy, target, false);
      if (tid === undefined) return 0;
      const column = v.scope === 'pack' ? 'verified_at' : 'sampled_at';
      const passed = c.stmt(
        `UPDATE pack_targets SET ${column} = @at, ledger_run = coalesce(@run, ledger_run)${v.scope === 'pack' ? ', failed_at = NULL' : ''}
         WHERE target = @target AND pack = (SELECT n FROM packs WHERE id = @id) AND (${column} IS NULL OR ${column} <= @at)`,
      );
      const failed = c.stmt(
        `UPDATE pack_targets SET failed_at = @at, ledger_run = coalesce(@run, ledger_run)
         WHERE target = @target AND pack = (SELECT n FROM packs WHERE id = @id) AND (failed_at IS NULL OR failed_at <= @at)
           AND (verified_at IS NULL OR verified_at <= @at)`,
      );
      let n = 0;
      const row = (id: string) => ({ at, run: v.runId ?? null, target: tid, id: hexBuf(id, 'pack id') });
      for (const id of v.verified) n += passed.run(row(id)).changes;
      for (const id of v.failed) n += failed.run(row(id)).changes;
      return n;
    })(),
  );
}

/**
 * The target's packs in the order a rolling verification reads them: never verified first,
 * then least recently verified (pack id breaks ties, so a run is repeatable). Streamed.
 */
export function* packsByVerificationAge(c: Connection, policy: string, target: string): Generator<VerificationEntry, void, undefined> {
  const tid = c.targetId(policy, target, false);
  if (tid === undefined) return;
  const stmt = c.db.prepare(
    `SELECT p.id, p.size, t.verified_at, t.failed_at FROM pack_targets t JOIN packs p ON p.n = t.pack
     WHERE t.target = ? ORDER BY t.verified_at IS NOT NULL, t.verified_at, p.id`,
  );
  for (const r of stmt.iterate(tid) as Iterable<{ id: Buffer; size: number; verified_at: string | null; failed_at: string | null }>) {
    yield { pack: r.id.toString('hex'), size: r.size, verifiedAt: r.verified_at, failedAt: r.failed_at };
  }
}

/**
 * What the ledger says of a target's stored bytes: how much was verified whole since `since`,
 * how much never, the oldest verification, and the packs whose last verification failed.
 * One pass over the target's presence rows.
 */
export function verificationCoverage(c: Connection, policy: string, target: string, since: Date): VerificationCoverage {
  const empty: VerificationCoverage = { packs: 0, bytes: 0, verifiedPacks: 0, verifiedBytes: 0, neverVerifiedPacks: 0, neverVerifiedBytes: 0, oldestVerifiedAt: null, lastVerifiedAt: null, sampledPacks: 0, failed: [] };
  const tid = c.targetId(policy, target, false);
  if (tid === undefined) return empty;
  const s = toIso(since, 'coverage start');
  const sums = c.stmt(
    `SELECT count(*) AS packs, coalesce(sum(p.size), 0) AS bytes,
       coalesce(sum(t.verified_at >= @since), 0) AS verifiedPacks, coalesce(sum(CASE WHEN t.verified_at >= @since THEN p.size ELSE 0 END), 0) AS verifiedBytes,
       coalesce(sum(t.verified_at IS NULL), 0) AS neverVerifiedPacks, coalesce(sum(CASE WHEN t.verified_at IS NULL THEN p.size ELSE 0 END), 0) AS neverVerifiedBytes,
       min(t.verified_at) AS oldestVerifiedAt, max(t.verified_at) AS lastVerifiedAt, coalesce(sum(t.sampled_at >= @since), 0) AS sampledPacks
     FROM pack_targets t JOIN packs p ON p.n = t.pack WHERE t.target = @target`,
  ).get({ since: s, target: tid }) as Omit<VerificationCoverage, 'failed'>;
  const failed = c.stmt(
    `SELECT p.id, p.size, t.failed_at FROM pack_targets t JOIN packs p ON p.n = t.pack
     WHERE t.target = ? AND t.failed_at IS NOT NULL ORDER BY t.failed_at, p.id`,
  ).all(tid) as { id: Buffer; size: number; failed_at: string }[];
  return { ...sums, failed: failed.map((f) => ({ pack: f.id.toString('hex'), size: f.size, failedAt: f.failed_at })) };
}
