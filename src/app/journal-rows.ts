import type { Catalog } from '../catalog/catalog.js';
import { LEDGER_DETAIL, type JournalRecord } from '../repo/model/index.js';

/**
 * Journal records as catalogue rows: what `catalog rebuild` and `fleet report` file of each
 * run record, so the two read the repository's history the same way.
 */

/** Run kinds and statuses this triad knows; a record of another kind (a newer triad's) is ignorable (FORMAT.md §13). */
export const RUN_KINDS = new Set<string>(['backup', 'copy', 'prune', 'forget', 'check', 'restore', 'restore-test', 'init', 'key-verify']);
export const STATUSES = new Set<string>(['ok', 'partial', 'failed', 'interrupted']);

/** The catalogue row a run writes, as far as the journal record holds it (backup.ts recordBackup / finishRun). */
export function runFromRecord(r: JournalRecord, journalId: string, policy: string = r.policy): Parameters<Catalog['importRun']>[0] {
  const targets = Array.isArray(r.targets) ? r.targets : [];
  const d = r.details ?? {};
  let details: Record<string, unknown>;
  let error: string | null = null;
  let target: string | null = null;
  let bytesWritten = r.bytesWritten ?? 0;
  if (r.kind === 'backup') {
    const failed = targets.some((t) => !t.ok);
    details = { snapshot: r.snapshot, targets: targets.map((t) => ({ target: t.name, status: t.ok ? 'committed' : 'failed', ...(t.error ? { error: t.error } : {}) })) };
    if (failed) error = targets.filter((t) => t.error).map((t) => `${t.name}: ${t.error}`).join('; ') || null;
  } else if (r.kind === 'restore-test' && Array.isArray(d.results)) {
    // As restore-test.ts finishes its run.
    const results = d.results as Record<string, unknown>[];
    details = {
      seed: d.seed,
      snapshots: snapshotIds(d.snapshots),
      journal: journalId,
      targets: results.map((t) => ({ target: t.target, ok: t.ok, files: t.files, failed: t.failed })),
    };
    error = r.status === 'ok' ? null : targets.filter((t) => !t.ok).map((t) => `${t.name}: ${t.error ?? 'failed'}`).join('; ') || null;
    bytesWritten = results.reduce((n, t) => n + (num(t.bytes) ?? 0), 0);
  } else {
    // The ledger's pack ids go to the packs' presence rows (ledgerFromJournal), not into the run's details.
    const { [LEDGER_DETAIL]: _ledger, ...rest } = d;
    details = { ...rest, ...(r.snapshot ? { snapshot: r.snapshot } : {}), targets };
    target = typeof d.target === 'string' ? d.target : targets.length === 1 ? targets[0]!.name : null;
    const errs = targets.filter((t) => t.error).map((t) => `${t.name}: ${t.error}`);
    error = typeof d.error === 'string' ? d.error : errs.length ? errs.join('; ') : null;
  }
  return {
    policy,
    kind: r.kind,
    target,
    started_at: r.started,
    finished_at: r.finished,
    status: r.status,
    exit_code: typeof r.exitCode === 'number' ? r.exitCode : r.status === 'ok' ? 0 : 1,
    bytes_read: r.bytesRead ?? 0,
    bytes_written: bytesWritten,
    files: r.files ?? 0,
    error,
    details,
    journal_id: journalId,
  };
}

/**
 * Per-target results of a restore test. The record's `details.results` (or `details.targets`)
 * holds one entry per target; field names in snake_case or camelCase are accepted.
 */
export function importRestoreTests(catalog: Catalog, r: JournalRecord, runId: number, policy: string = r.policy): number {
  const d = r.details ?? {};
  const list = (Array.isArray(d.results) ? d.results : Array.isArray(d.targets) ? d.targets : r.targets) as Record<string, unknown>[];
  let n = 0;
  for (const e of list) {
    const name = str(e.target) ?? str(e.name);
    if (!name) continue;
    const fails = e.failures ?? [];
    catalog.addRestoreTest({
      run_id: runId,
      policy,
      target: name,
      at: str(e.at) ?? r.finished,
      seed: num(e.seed) ?? num(d.seed) ?? 0,
      ok: typeof e.ok === 'boolean' ? e.ok : r.status === 'ok',
      files: num(e.files) ?? r.files ?? 0,
      bytes: num(e.bytes) ?? r.bytesRead ?? 0,
      overhead_ms: num(e.overhead_ms) ?? num(e.overheadMs) ?? 0,
      transfer_ms: num(e.transfer_ms) ?? num(e.transferMs) ?? 0,
      duration_ms: num(e.duration_ms) ?? num(e.durationMs) ?? null,
      snapshots: snapshotIds(e.snapshots ?? d.snapshots),
      failures: Array.isArray(fails) ? fails : typeof fails === 'number' ? new Array(fails).fill({}) : [],
    });
    n++;
  }
  return n;
}

/** Snapshot ids from a list of ids or of `{id, …}` objects. */
export function snapshotIds(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  return v.map((x) => (typeof x === 'string' ? x : str((x as { id?: unknown })?.id))).filter((x): x is string => x !== undefined);
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
