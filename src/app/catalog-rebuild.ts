import { runReportedJob } from './job-run.js';
import { repoPassphrase } from './repo-open.js';
import { RUN_KINDS, STATUSES, importRestoreTests, runFromRecord, str } from './journal-rows.js';
import { TriadError } from '../core/errors.js';
import { openStorage } from '../backends/open.js';
import type { Storage } from '../backends/storage.js';
import { openCatalog, type Catalog } from '../catalog/catalog.js';
import type { PackRow, RowStage } from '../catalog/index.js';
import type { PassphraseSpec, Policy, TargetSpec } from '../policy/types.js';
import { BlobReader } from '../repo/read/index.js';
import { AAD, ID_RE } from '../repo/format.js';
import { loadIndexFile, MasterIndex } from '../repo/index/index.js';
import { decodeJournalRecord, decodeSnapshotManifest, ledgerOf, type JournalRecord } from '../repo/model/index.js';
import type { PackEntry } from '../repo/blob/index.js';
import { Repository } from '../repo/repository.js';
import type { SnapshotManifest } from '../repo/model/index.js';
import { walkTree } from '../repo/read/index.js';
import { targetFromUrl, type RepoUrl } from './repo-url.js';
import { catalogFor, catalogPathFor, errorMessage, loadPolicyFile, passphraseFor, selectTargets, storageOptions, warnWeakKeys, type AppContext } from './session.js';

/** Entries walked between two progress events while filing a snapshot. */
const PROGRESS_EVERY = 5000;

export interface RebuildOptions {
  /** With a policy: rebuild the policy's part of the catalogue from its target `target`. */
  policyFile?: string;
  /** The target to read (with a policy), or the name to record the repository under (with `repo`). */
  target?: string;
  /** Without a policy: where the repository is and how to unlock it. */
  repo?: RepoUrl & { passphrase?: PassphraseSpec; passphraseValue?: string; policy?: string };
}

export interface RebuildResult {
  catalog: string;
  target: string;
  location: string;
  repositoryId: string;
  policies: string[];
  snapshots: { total: number; imported: number; skipped: number };
  files: number;
  /** Packs newly recorded on the target. */
  packs: number;
  /** Blobs the target's index files list. */
  blobs: number;
  runs: { total: number; imported: number; skipped: number; damaged: { id: string; error: string }[] };
  restoreTests: number;
  /** Copies on other targets known only from the journal, recorded as missing until verified. */
  journalPresence: number;
  /** Pack presence rows the journal's verification ledger set (verified, restored intact or failed). */
  ledgerEntries: number;
  durationMs: number;
  /** 0, or 1 when an `after` hook failed (a failed rebuild throws). */
  exitCode: number;
}

/** A source opened for reading: one replica, the catalogue to fill and what it may hold. */
interface Source {
  policy?: Policy;
  spec: TargetSpec;
  storage: Storage;
  repo: Repository;
  catalog: Catalog;
  /** With --repo: only this policy's part of the repository (default: every policy in it). */
  policyFilter?: string;
}

/**
 * Rebuilds the catalogue from one replica alone: snapshots and their file entries, packs (with
 * their blobs' sizes), run history and restore tests from the journal. Idempotent and resumable: a snapshot
 * whose file rows are all present and a journal record already imported are skipped, and each
 * snapshot's entries are filed in one transaction, so an interrupted rebuild continues at the
 * snapshot it stopped in. Memory stays bounded: file rows are staged on disk (as a backup's
 * are); only tree-blob locations are kept.
 */
export async function rebuildCatalog(ctx: AppContext, opts: RebuildOptions): Promise<RebuildResult> {
  // From a policy it is one of the policy's jobs (hooks, heartbeat, webhook); from --repo alone there is no policy to report to.
  if (opts.policyFile !== undefined && opts.repo === undefined) return runReportedJob(ctx, opts.policyFile, 'catalog-rebuild', {}, (c) => rebuildUnreported(c, opts));
  return rebuildUnreported(ctx, opts);
}

async function rebuildUnreported(ctx: AppContext, opts: RebuildOptions): Promise<RebuildResult> {
  const started = ctx.clock.monotonic();
  const src = await openSource(ctx, opts);
  try {
    return await rebuild(ctx, src, started);
  } finally {
    src.catalog.close();
    await src.storage.close().catch(() => undefined);
  }
}

async function openSource(ctx: AppContext, opts: RebuildOptions): Promise<Source> {
  let policy: Policy | undefined;
  let spec: TargetSpec;
  let passphrase: string;
  if (opts.policyFile) {
    if (opts.repo) throw new TriadError('E_USAGE', 'give either a policy (-p) or --repo, not both');
    policy = await loadPolicyFile(ctx, opts.policyFile);
    if (!opts.target) {
      throw new TriadError('E_USAGE', `name the target to rebuild from with --target`, { hint: `policy ${policy.name} has the targets: ${policy.targets.map((t) => t.name).join(', ')}` });
    }
    spec = selectTargets(policy, [opts.target])[0]!;
    passphrase = await passphraseFor(ctx, policy);
  } else if (opts.repo) {
    spec = targetFromUrl({ ...opts.repo, name: opts.target ?? opts.repo.name }, { env: ctx.env, cwd: ctx.cwd });
    passphrase = await repoPassphrase(ctx, opts.repo);
  } else {
    throw new TriadError('E_USAGE', 'give a policy (-p POLICY --target NAME) or a repository (--repo URL)');
  }
  const storage = await openStorage(spec, storageOptions(ctx, spec));
  try {
    const repo = await Repository.open(spec.name, storage, passphrase);
    warnWeakKeys(ctx, policy, [repo]);
    const catalog = policy ? catalogFor(ctx, policy) : openCatalog(catalogPathFor(ctx));
    return { policy, spec, storage, repo, catalog, policyFilter: opts.repo?.policy };
  } catch (err) {
    await storage.close().catch(() => undefined);
    throw err;
  }
}

async function rebuild(ctx: AppContext, src: Source, started: number): Promise<RebuildResult> {
  const { repo, catalog, spec } = src;
  const wanted = src.policy?.name ?? src.policyFilter;
  const policies = new Set<string>();
  const ensurePolicy = (name: string): boolean => {
    if (wanted !== undefined && name !== wanted) return false;
    if (!policies.has(name)) {
      policies.add(name);
      recordTargets(catalog, name, src);
    }
    return true;
  };
  if (src.policy) ensurePolicy(src.policy.name);

  // 1. Snapshot manifests (small): they say which policies the repository serves.
  const manifests: (SnapshotManifest & { id: string })[] = [];
  for await (const o of repo.storage.list('snapshots/', { signal: ctx.signal })) {
    const id = o.name.slice('snapshots/'.length);
    if (!ID_RE.test(id)) continue;
    const m = await repo.loadManifest(AAD.snapshot, 'snapshots', id, decodeSnapshotManifest);
    if (ensurePolicy(m.policy)) manifests.push({ ...m, id });
    ctx.emit?.({ type: 'progress', job: 'catalog-rebuild', phase: 'manifests', files: manifests.length });
  }
  manifests.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.id < b.id ? -1 : 1));

  // 2. Packs, one index file (one transaction per policy) at a time. Only the locations of
  //    tree blobs stay in memory: they are what walking the snapshots needs.
  const trees = new MasterIndex();
  const indexNames: string[] = [];
  for await (const o of repo.storage.list('index/', { signal: ctx.signal })) indexNames.push(o.name);
  indexNames.sort();
  let packs = 0;
  let blobs = 0;
  for (const [i, name] of indexNames.entries()) {
    ctx.signal?.throwIfAborted();
    const file = await loadIndexFile(repo, name);
    const packRows: PackRow[] = [];
    for (const p of file.packs) {
      let blobBytes = 0;
      let rawBytes = 0;
      const treeEntries: PackEntry[] = [];
      for (const [t, id, offset, length, rawLength] of p.blobs) {
        blobBytes += length;
        rawBytes += rawLength;
        if (t === 1 && ID_RE.test(id)) treeEntries.push({ type: 'tree', id: Buffer.from(id, 'hex'), offset, length, rawLength });
      }
      packRows.push({ id: p.id, size: p.size, blobs: p.blobs.length, type: p.blobs[0]?.[0] === 1 ? 'tree' : 'data', blob_bytes: blobBytes, raw_bytes: rawBytes });
      blobs += p.blobs.length;
      trees.addPack(p.id, p.size, treeEntries);
    }
    for (const pol of policies) packs += catalog.addPacks(pol, spec.name, packRows);
    ctx.emit?.({ type: 'progress', job: 'catalog-rebuild', phase: 'indexes', files: i + 1, totalFiles: indexNames.length });
  }

  // 3. Snapshots with their file entries, streamed from the trees and staged on disk.
  const reader = new BlobReader(repo, trees);
  const counts = { imported: 0, skipped: 0, files: 0 };
  const stage = manifests.length === 0 ? undefined : catalog.stageRows();
  try {
    for (const m of manifests) await importSnapshot(ctx, src, reader, stage!, m, counts, manifests.length);
  } finally {
    await stage?.close();
  }
  const { imported, skipped, files } = counts;


  // 4. Run history from the journal.
  const runs = await importJournal(ctx, src, ensurePolicy);
  return {
    catalog: catalog.file,
    target: spec.name,
    location: src.storage.location,
    repositoryId: repo.id,
    policies: [...policies].sort(),
    snapshots: { total: manifests.length, imported, skipped },
    files,
    packs,
    blobs,
    runs: { total: runs.total, imported: runs.imported, skipped: runs.skipped, damaged: runs.damaged },
    restoreTests: runs.restoreTests,
    journalPresence: runs.presence,
    ledgerEntries: runs.ledger,
    durationMs: ctx.clock.monotonic() - started,
    exitCode: 0,
  };
}

/** Files one snapshot's entries (unless an earlier run or the backup did), then records it complete on the target. */
async function importSnapshot(
  ctx: AppContext,
  src: Source,
  reader: BlobReader,
  stage: RowStage,
  m: SnapshotManifest & { id: string },
  counts: { imported: number; skipped: number; files: number },
  total: number,
): Promise<void> {
  const { catalog, spec } = src;
  ctx.signal?.throwIfAborted();
  if (isComplete(catalog, m, spec.name)) {
    counts.skipped++;
    return;
  }
  const s = m.summary;
  catalog.upsertSnapshot({
    id: m.id, policy: m.policy, host: m.host, paths: m.paths, time: m.time, finished_at: m.finished, tree: m.tree, parent: m.parent ?? null,
    partial: m.partial, tags: m.tags ?? [], files: s.files, dirs: s.dirs, bytes: s.bytes, files_new: s.filesNew, files_changed: s.filesChanged,
    files_unchanged: s.filesUnchanged, bytes_read: s.bytesRead, bytes_added: s.dataAddedPacked,
  });
  let walked = 0;
  for await (const { path, node } of walkTree(reader, m.tree)) {
    const isFile = node.type === 'file';
    stage.push({ path, type: node.type, size: isFile ? node.size : 0, mode: node.mode, mtime: node.mtime, hash: isFile ? (node.hash ?? null) : null, chunks: isFile ? (node.content?.length ?? 0) : 0 });
    if (++walked % PROGRESS_EVERY === 0) {
      ctx.signal?.throwIfAborted();
      ctx.emit?.({ type: 'progress', job: 'catalog-rebuild', phase: 'snapshot-files', snapshot: m.id, files: counts.files + walked, totalFiles: s.files + s.dirs, path });
    }
  }
  counts.files += await stage.commit(m.id);
  // Presence last: a snapshot counts as imported only once all its file rows are in.
  catalog.setPresence(m.id, spec.name, { status: 'complete', at: m.finished });
  counts.imported++;
  ctx.emit?.({ type: 'progress', job: 'catalog-rebuild', phase: 'snapshots', files: counts.imported + counts.skipped, totalFiles: total });
}

/** Already imported by an earlier (possibly interrupted) rebuild or recorded by the backup itself. */
function isComplete(catalog: Catalog, m: SnapshotManifest & { id: string }, target: string): boolean {
  const row = catalog.snapshotById(m.id, m.policy);
  if (!row || row.presence.find((p) => p.target === target)?.status !== 'complete') return false;
  return catalog.countFiles(m.id) >= m.summary.files + m.summary.dirs;
}

/** Target rows as a backup records them; targets the catalogue already knows keep their row. */
function recordTargets(catalog: Catalog, policyName: string, src: Source): void {
  const known = new Set(catalog.listTargets(policyName).filter((t) => t.type !== null).map((t) => t.name));
  const specs = src.policy && src.policy.name === policyName ? src.policy.targets : [src.spec];
  for (const t of specs) {
    if (t.name !== src.spec.name && known.has(t.name)) continue;
    catalog.upsertTarget({
      policy: policyName, name: t.name, type: t.type, location: t.name === src.spec.name ? src.storage.location : displayLocation(t),
      media: t.media, offsite: t.offsite, immutable: t.immutable, offline: t.offline ?? false,
    });
  }
}

/** The location string the backend would report, without opening it. */
export function displayLocation(t: TargetSpec): string {
  const prefix = (p: string) => p.replace(/^\/+/, '').replace(/([^/])$/, '$1/');
  switch (t.type) {
    case 'local':
      return `local:${t.path}`;
    case 's3':
      return `s3://${t.bucket}/${prefix(t.prefix)}`;
    case 'azure':
      return `azure://${t.account ?? 'account'}/${t.container}/${prefix(t.prefix)}`;
    case 'gcs':
      return `gs://${t.bucket}/${prefix(t.prefix)}`;
  }
}

async function importJournal(
  ctx: AppContext,
  src: Source,
  ensurePolicy: (name: string) => boolean,
): Promise<{ total: number; imported: number; skipped: number; restoreTests: number; presence: number; ledger: number; damaged: { id: string; error: string }[] }> {
  const { repo, catalog, spec } = src;
  const ids: string[] = [];
  for await (const o of repo.storage.list('journal/', { signal: ctx.signal })) {
    const id = o.name.slice('journal/'.length);
    if (ID_RE.test(id)) ids.push(id);
  }
  const out = { total: ids.length, imported: 0, skipped: 0, restoreTests: 0, presence: 0, ledger: 0, damaged: [] as { id: string; error: string }[] };
  const now = ctx.clock.now();
  // Records are small (one per run): load the new ones, then import them oldest first.
  const pending: { id: string; r: JournalRecord }[] = [];
  for (const [i, id] of ids.entries()) {
    ctx.signal?.throwIfAborted();
    ctx.emit?.({ type: 'progress', job: 'catalog-rebuild', phase: 'journal', files: i + 1, totalFiles: ids.length });
    if (src.policy && catalog.journalSeen(src.policy.name, spec.name, id)) {
      out.skipped++;
      continue;
    }
    try {
      pending.push({ id, r: await repo.loadManifest(AAD.journal, 'journal', id, decodeJournalRecord) });
    } catch (err) {
      out.damaged.push({ id, error: errorMessage(err) });
    }
  }
  // Runs the catalogue recorded itself carry no journal id: recognise them by what both hold.
  const known = new Map<string, Set<string>>();
  const recordedAlready = (r: JournalRecord): boolean => {
    let keys = known.get(r.policy);
    if (!keys) {
      keys = new Set();
      for (const run of catalog.listRuns(r.policy)) {
        keys.add(`${run.kind}|${run.target ?? ''}|${run.started_at}`);
        if (run.kind === 'backup' && typeof run.details.snapshot === 'string') keys.add(`backup-snapshot|${run.details.snapshot}`);
      }
      known.set(r.policy, keys);
    }
    if (r.kind === 'backup' && r.snapshot) return keys.has(`backup-snapshot|${r.snapshot}`);
    const t = runFromRecord(r, '');
    return keys.has(`${r.kind}|${t.target ?? ''}|${new Date(r.started).toISOString()}`) || keys.has(`${r.kind}||${new Date(r.started).toISOString()}`);
  };
  pending.sort((a, b) => (a.r.started < b.r.started ? -1 : a.r.started > b.r.started ? 1 : a.id < b.id ? -1 : 1));
  for (const { id, r } of pending) {
    ctx.signal?.throwIfAborted();
    if (typeof r.policy !== 'string' || !ensurePolicy(r.policy)) {
      out.skipped++;
      continue;
    }
    if (catalog.journalSeen(r.policy, spec.name, id) || recordedAlready(r)) {
      // A run known from another replica's journal (a restore test writes one record to every
      // target) still carries this replica's part of the ledger; recording it again is harmless.
      catalog.transaction(() => {
        out.ledger += ledgerFromJournal(catalog, r, null);
        catalog.markJournalSeen(r.policy, spec.name, id);
      });
      out.skipped++;
      continue;
    }
    if (!RUN_KINDS.has(r.kind) || !STATUSES.has(r.status)) {
      // A kind this triad does not know (written by a newer one): ignorable, as FORMAT.md §13 says.
      catalog.markJournalSeen(r.policy, spec.name, id);
      out.skipped++;
      continue;
    }
    catalog.transaction(() => {
      const runId = catalog.importRun(runFromRecord(r, id));
      if (r.kind === 'restore-test') out.restoreTests += importRestoreTests(catalog, r, runId);
      if (r.kind === 'backup') out.presence += presenceFromJournal(catalog, r, spec.name, src.policy, now);
      out.ledger += ledgerFromJournal(catalog, r, runId);
      catalog.markJournalSeen(r.policy, spec.name, id);
    });
    out.imported++;
  }
  return out;
}

/**
 * The journal says which other targets took the snapshot; this replica cannot vouch that
 * they still hold it. Such copies are recorded as missing, with their completion time, so
 * RPO history keeps the interval in which they existed while current status claims nothing;
 * `catalog rebuild --target OTHER` or `catalog verify` marks them complete once confirmed.
 */
function presenceFromJournal(catalog: Catalog, r: JournalRecord, readFrom: string, policy: Policy | undefined, now: Date): number {
  if (!r.snapshot || !ID_RE.test(r.snapshot)) return 0;
  const snap = catalog.snapshotById(r.snapshot, r.policy);
  if (!snap) return 0;
  let n = 0;
  for (const t of r.targets ?? []) {
    if (!t.ok || t.name === readFrom) continue;
    if (policy && !policy.targets.some((x) => x.name === t.name)) continue;
    if (snap.presence.some((p) => p.target === t.name)) continue;
    catalog.setPresence(r.snapshot, t.name, { status: 'missing', at: now, completed_at: r.finished });
    n++;
  }
  return n;
}

/**
 * The verification ledger a check or restore test record carries, back on the packs'
 * presence rows (those the catalogue holds: a rebuild imports the packs before the journal).
 */
function ledgerFromJournal(catalog: Catalog, r: JournalRecord, runId: number | null): number {
  const d = r.details ?? {};
  const at = r.finished;
  if (r.kind === 'check') {
    const ledger = ledgerOf(d);
    const target = r.targets[0]?.name;
    if (!ledger || !target) return 0;
    return catalog.recordVerification(r.policy, target, { scope: 'pack', at, runId, verified: ledger.verified, failed: ledger.failed });
  }
  if (r.kind !== 'restore-test' || !Array.isArray(d.results)) return 0;
  let n = 0;
  for (const e of d.results as Record<string, unknown>[]) {
    const ledger = ledgerOf(e);
    const target = str(e.target);
    if (ledger && target) n += catalog.recordVerification(r.policy, target, { scope: 'blobs', at, runId, verified: ledger.intact, failed: ledger.failed });
  }
  return n;
}
