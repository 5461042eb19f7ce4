import type { Catalog } from '../catalog/catalog.js';
import type { CopyRow, RunRow, SnapshotRecord } from '../catalog/types.js';

/**
 * The part of a policy's history that happened before the report's window, folded into the
 * few rows and sums a report still needs from it, so that reading a year of hourly history
 * for a 30-day window holds the window's rows, not the year's.
 */
export interface FoldedHistory {
  /** Older snapshots the evaluation still reads: see foldSnapshots. Oldest first. */
  readonly snapshots: SnapshotRecord[];
  /** Older runs the evaluation still reads: see foldRuns. Oldest first. */
  readonly runs: RunRow[];
  /** Per target, the sums over the older snapshot copies that were not kept. */
  readonly sums: ReadonlyMap<string, FoldedSums>;
}

export interface FoldedSums {
  /** Sum of bytes_added over the copies counted as stored (completed, not missing). */
  readonly storedBytes: number;
  /** Sum of bytes over the copies still complete (restorable). */
  readonly logicalBytes: number;
}

/** Folds the snapshots and runs before `since` (the window's start) as of `at`. */
export function foldHistoryBefore(catalog: Catalog, policy: string, since: Date, at: Date): FoldedHistory {
  const sinceMs = since.getTime();
  const copies = foldCopies(catalog.iterateCopiesBefore(policy, since), sinceMs);
  const runs = foldRuns(catalog.iterateRunsBefore(policy, since), at.getTime());
  // Oldest first by recovery point, then catalogue order, as listSnapshots gives them (a stable sort of the sorted sequence numbers).
  const snapshots = catalog.snapshotsBySeq(copies.kept).sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  // The kept snapshots are summed by the report itself: take their copies out of the sums.
  for (const s of snapshots) {
    if (reachesWindow(s.presence.map((p) => p.completed_at), sinceMs)) continue;
    for (const p of s.presence) {
      const sum = copies.sums.get(p.target);
      if (sum === undefined || p.status === 'missing' || p.completed_at === null) continue;
      sum.storedBytes -= s.bytes_added;
      if (p.status === 'complete') sum.logicalBytes -= s.bytes;
    }
  }
  return { snapshots, runs, sums: copies.sums };
}

/** A copy still running or completed inside the window changes what the window shows: it is kept whole, never summed. */
function reachesWindow(completedAts: readonly (string | null)[], since: number): boolean {
  return completedAts.some((t) => t === null || Date.parse(t) >= since);
}

/**
 * Keeps, of snapshots whose recovery point is before the window: any with a copy that reaches
 * into the window; per target the newest copy and the newest whole (not partial) copy (exposure
 * and the 3-2-1 status at the window's start); the first committed snapshot (where obligations
 * start). Sums the copies of all but those reaching into the window per target (the kept ones'
 * copies are in the sums too, for the caller to take out).
 */
function foldCopies(rows: Iterable<CopyRow>, since: number): { kept: number[]; sums: Map<string, { storedBytes: number; logicalBytes: number }> } {
  const always: number[] = [];
  const newest = new Map<string, number>();
  const newestWhole = new Map<string, number>();
  let first: { seq: number; at: number } | undefined;
  const sums = new Map<string, { storedBytes: number; logicalBytes: number }>();
  for (const group of bySnapshot(rows)) {
    const head = group[0]!;
    const copies = group.filter((c) => c.target !== null);
    if (reachesWindow(copies.map((c) => c.completedAt), since)) {
      always.push(head.seq);
      continue;
    }
    const committed = commitTime(head.finishedAt, copies.map((c) => c.completedAt));
    if (committed !== null && (first === undefined || committed < first.at)) first = { seq: head.seq, at: committed };
    for (const c of copies) {
      if (c.status === 'missing' || c.completedAt === null) continue;
      const sum = sums.get(c.target!) ?? { storedBytes: 0, logicalBytes: 0 };
      sum.storedBytes += c.bytesAdded;
      if (c.status === 'complete') sum.logicalBytes += c.bytes;
      sums.set(c.target!, sum);
      // Oldest first by recovery point, so the last seen is the newest.
      newest.set(c.target!, c.seq);
      if (!c.partial) newestWhole.set(c.target!, c.seq);
    }
  }
  const kept = new Set<number>([...(first ? [first.seq] : []), ...newest.values(), ...newestWhole.values(), ...always]);
  return { kept: [...kept].sort((a, b) => a - b), sums };
}

/** Consecutive rows of one snapshot, grouped. */
function* bySnapshot(rows: Iterable<CopyRow>): Generator<CopyRow[]> {
  let group: CopyRow[] = [];
  for (const row of rows) {
    if (group.length > 0 && group[0]!.seq !== row.seq) {
      yield group;
      group = [];
    }
    group.push(row);
  }
  if (group.length > 0) yield group;
}

/** When a backup committed its snapshot: its recorded finish, else when its last copy completed. */
export function commitTime(finishedAt: string | null, completedAts: readonly (string | null)[]): number | null {
  if (finishedAt !== null) return Date.parse(finishedAt);
  const done = completedAts.filter((t): t is string => t !== null).map((t) => Date.parse(t));
  return done.length > 0 ? Math.max(...done) : null;
}

/**
 * Keeps, of runs started before the window: per target, the first finished backup (when the
 * target was first scheduled) and the newest successful and failed backup finished by `at`
 * (last success, last failure); per kind and target, the newest other run finished by `at`
 * (latest check); every `key verify` run (proofs add up across targets and runs).
 */
function foldRuns(rows: Iterable<RunRow>, at: number): RunRow[] {
  const kept = new Map<number, RunRow>();
  const firstBackup = new Map<string, RunRow>();
  const lastOk = new Map<string, RunRow>();
  const lastFailed = new Map<string, RunRow>();
  const latestOther = new Map<string, RunRow>();
  for (const r of rows) {
    if (r.finished_at === null) continue;
    const finished = Date.parse(r.finished_at);
    if (r.kind === 'key-verify') {
      kept.set(r.id, r);
      continue;
    }
    if (r.kind !== 'backup') {
      const key = `${r.kind}\0${r.target ?? ''}`;
      const prev = latestOther.get(key);
      if (finished <= at && (prev === undefined || Date.parse(prev.finished_at!) < finished)) latestOther.set(key, r);
      continue;
    }
    const runFailed = r.status === 'failed' || r.status === 'interrupted';
    for (const t of runTargets(r)) {
      const first = firstBackup.get(t.name);
      if (first === undefined || Date.parse(first.finished_at!) > finished) firstBackup.set(t.name, r);
      if (r.status === 'running' || finished > at) continue;
      // Started oldest first, as the report orders them: the last seen is the newest.
      ((t.ok ?? !runFailed) ? lastOk : lastFailed).set(t.name, r);
    }
  }
  for (const m of [firstBackup, lastOk, lastFailed, latestOther]) for (const r of m.values()) kept.set(r.id, r);
  return [...kept.values()].sort((a, b) => (a.started_at < b.started_at ? -1 : a.started_at > b.started_at ? 1 : a.id - b.id));
}

export interface RunTarget {
  readonly name: string;
  readonly ok: boolean | undefined;
  readonly error?: string;
}

/** The targets of a backup run: objects once it finished, plain names while running or when it threw. */
export function runTargets(r: RunRow): RunTarget[] {
  const list = r.details.targets;
  if (!Array.isArray(list)) return r.target ? [{ name: r.target, ok: undefined }] : [];
  const out: RunTarget[] = [];
  for (const e of list as unknown[]) {
    if (typeof e === 'string') out.push({ name: e, ok: undefined });
    else if (e !== null && typeof e === 'object' && typeof (e as { target?: unknown }).target === 'string') {
      const o = e as { target: string; status?: unknown; error?: unknown };
      out.push({ name: o.target, ok: o.status !== 'failed', ...(typeof o.error === 'string' ? { error: o.error } : {}) });
    }
  }
  return out;
}
