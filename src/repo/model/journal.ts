import type { Repository } from '../repository.js';
import { AAD, ID_RE } from '../format.js';
import { IntegrityFailure } from '../crypto/index.js';

/**
 * `journal/<id>`: an encrypted record of every run (backup, copy, forget, prune, check,
 * restore test), so the history that reports need survives the loss of the catalogue.
 * id = keyed hash of the plaintext, identical on every replica that receives the record.
 */
export interface JournalRecord {
  version: 1;
  kind: 'backup' | 'copy' | 'forget' | 'prune' | 'check' | 'restore-test' | 'init' | 'key-verify';
  policy: string;
  host: string;
  started: string;
  finished: string;
  status: 'ok' | 'partial' | 'failed' | 'interrupted';
  exitCode: number;
  /** Targets the run concerned, with their own outcome. */
  targets: { name: string; ok: boolean; error?: string; location?: string; bytesWritten?: number; packs?: number }[];
  snapshot?: string;
  bytesRead?: number;
  bytesWritten?: number;
  files?: number;
  /** Kind-specific data (summary, seed, failures, forgotten snapshots…); never secrets. */
  details?: Record<string, unknown>;
}

/**
 * `details.policy` of a backup record: what a report needs of the policy that ran it (objectives,
 * rule, media of every target), so a report built from the repository alone (`fleet report`)
 * judges each host's policy against its own contract. Never secrets: no paths of key files, no
 * credentials, no hook commands. Records written before this field existed lack it.
 */
export const POLICY_DETAIL = 'policy';

export interface PolicyDigest {
  rule: string;
  timezone: string;
  description?: string;
  production: { media: string };
  /** Milliseconds; `since` as ISO 8601. */
  objectives: { rpo?: number; rto?: number; window: number; since?: string; warn_at?: number };
  restore_test: { every: number };
  verify: { every: number };
  keys: { prove_every?: number };
  targets: { name: string; type: string; media: string; offsite: boolean; immutable: boolean; offline: boolean }[];
}

/** The digest a record's details hold, its shape checked; undefined when there is none (older records). */
export function policyDigestOf(details: unknown): PolicyDigest | undefined {
  if (typeof details !== 'object' || details === null) return undefined;
  const d = (details as Record<string, unknown>)[POLICY_DETAIL] as PolicyDigest | undefined;
  const ok =
    typeof d === 'object' && d !== null && typeof d.rule === 'string' && typeof d.objectives === 'object' && d.objectives !== null && typeof d.objectives.window === 'number' &&
    Array.isArray(d.targets) && d.targets.every((t) => typeof t === 'object' && t !== null && typeof t.name === 'string' && typeof t.media === 'string');
  return ok ? d : undefined;
}

/**
 * The verification ledger in a record: `details.ledger` of a check record, and of each entry
 * of a restore test's `details.results`. `verified`: packs read whole and found intact;
 * `intact`: packs a restore test restored blobs of intact; `failed`: packs found damaged.
 */
export const LEDGER_DETAIL = 'ledger';

export interface JournalLedger {
  verified: string[];
  intact: string[];
  failed: string[];
}

/** The ledger a record's details hold, ids checked; undefined when there is none (older records). */
export function ledgerOf(details: unknown): JournalLedger | undefined {
  if (typeof details !== 'object' || details === null) return undefined;
  const l = (details as Record<string, unknown>)[LEDGER_DETAIL];
  if (typeof l !== 'object' || l === null) return undefined;
  const ids = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && ID_RE.test(x)) : []);
  const o = l as Record<string, unknown>;
  return { verified: ids(o.verified), intact: ids(o.intact), failed: ids(o.failed) };
}

export function sealJournal(repo: Repository, record: JournalRecord): { id: string; sealed: Buffer } {
  const { plaintext, sealed } = repo.sealObject(AAD.journal, record);
  return { id: repo.manifestId(plaintext), sealed };
}

/** Writes the record to each repository given; returns the ids of the targets that failed. */
export async function writeJournal(repos: Repository[], record: JournalRecord): Promise<{ id: string; failed: string[] }> {
  if (repos.length === 0) return { id: '', failed: [] };
  const { id, sealed } = sealJournal(repos[0]!, record);
  const failed: string[] = [];
  await Promise.all(
    repos.map(async (r) => {
      try {
        await r.storage.save(`journal/${id}`, sealed);
      } catch {
        failed.push(r.target);
      }
    }),
  );
  return { id, failed };
}

/** The fields reports and the catalogue rebuild rely on, checked; a record without them is damage. */
export function decodeJournalRecord(value: unknown): JournalRecord {
  const r = value as JournalRecord;
  const ok =
    typeof r === 'object' && r !== null && typeof r.kind === 'string' && typeof r.policy === 'string' && typeof r.host === 'string' && typeof r.started === 'string' && typeof r.finished === 'string' &&
    typeof r.status === 'string' && typeof r.exitCode === 'number' && Array.isArray(r.targets) && r.targets.every((t) => typeof t === 'object' && t !== null && typeof t.name === 'string') &&
    (r.details === undefined || (typeof r.details === 'object' && r.details !== null));
  if (!ok) throw new IntegrityFailure('the record lacks its kind, policy, host, times, status or targets');
  return r;
}

/** Every journal record of a replica, oldest first; damaged records are reported, not fatal. */
export async function readJournal(repo: Repository): Promise<{ records: (JournalRecord & { id: string })[]; damaged: { id: string; error: string }[] }> {
  const records: (JournalRecord & { id: string })[] = [];
  const damaged: { id: string; error: string }[] = [];
  for await (const o of repo.storage.list('journal/')) {
    const id = o.name.slice('journal/'.length);
    if (!ID_RE.test(id)) continue;
    try {
      records.push({ ...(await repo.loadManifest(AAD.journal, 'journal', id, decodeJournalRecord)), id });
    } catch (err) {
      damaged.push({ id, error: err instanceof Error ? err.message : String(err) });
    }
  }
  records.sort((a, b) => (a.started < b.started ? -1 : a.started > b.started ? 1 : 0));
  return { records, damaged };
}
