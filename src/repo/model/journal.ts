import type { Repository } from '../repository.js';
import { AAD, ID_RE } from '../format.js';

/**
 * `journal/<id>`: an encrypted record of every run (backup, copy, forget, prune, check,
 * restore test), so the history that reports need survives the loss of the catalogue.
 * id = keyed hash of the plaintext, identical on every replica that receives the record.
 */
export interface JournalRecord {
  version: 1;
  kind: 'backup' | 'copy' | 'forget' | 'prune' | 'check' | 'restore-test' | 'init';
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

/** Every journal record of a replica, oldest first; damaged records are reported, not fatal. */
export async function readJournal(repo: Repository): Promise<{ records: (JournalRecord & { id: string })[]; damaged: { id: string; error: string }[] }> {
  const records: (JournalRecord & { id: string })[] = [];
  const damaged: { id: string; error: string }[] = [];
  for await (const o of repo.storage.list('journal/')) {
    const id = o.name.slice('journal/'.length);
    if (!ID_RE.test(id)) continue;
    try {
      records.push({ ...(await repo.loadManifest<JournalRecord>(AAD.journal, 'journal', id)), id });
    } catch (err) {
      damaged.push({ id, error: err instanceof Error ? err.message : String(err) });
    }
  }
  records.sort((a, b) => (a.started < b.started ? -1 : a.started > b.started ? 1 : 0));
  return { records, damaged };
}
