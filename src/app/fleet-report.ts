import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode } from '../core/errors.js';
import { isNotFound } from '../backends/storage.js';
import { openCatalog, type Catalog } from '../catalog/catalog.js';
import { buildPolicyReport, withFindings, type Finding, type PolicyReport } from '../compliance/index.js';
import { DAY } from '../policy/time-constants.js';
import { AAD, ID_RE } from '../repo/format.js';
import { decodeJournalRecord, decodeSnapshotManifest, policyDigestOf, type JournalRecord, type PolicyDigest, type SnapshotManifest } from '../repo/model/index.js';
import { RUN_KINDS, STATUSES, importRestoreTests, num, runFromRecord, str } from './journal-rows.js';
import { policyFromDigest } from './policy-digest.js';
import { openRepoUrl, type OpenedRepo, type RepoAccess } from './repo-open.js';
import { fileSystemUsage, readHistory, reportInput, storedFigures, type ReportPolicy } from './report.js';
import { errorMessage, type AppContext } from './session.js';

/**
 * `triad fleet report|status --repo URL`: the compliance report of every host × policy that
 * backs up into one repository, from the repository alone (DESIGN.md §6b). The journal's run
 * records are filed, one at a time, into a throwaway catalogue in a temporary directory, keyed
 * by host and policy; each pair is then judged by the same code as `triad report`, against the
 * objectives its latest backup recorded. Memory holds object names and one record per reader,
 * never the history: that lives in the temporary catalogue.
 */
export interface FleetReportOptions {
  readonly repo: RepoAccess;
  /** Evaluation time; defaults to ctx.clock.now(). */
  readonly at?: Date;
  /** Overrides every policy's objectives.window. */
  readonly windowMs?: number;
  readonly zone?: string;
  /** Only this host's policies. */
  readonly host?: string;
}

export interface FleetEntry {
  readonly host: string;
  readonly policy: string;
  /** The name the host's policy gives the repository read (from its backups' records); the URL's scheme when none says. */
  readonly target: string;
  /** The objectives came from a backup record; false for a repository written before records kept them. */
  readonly objectivesRecorded: boolean;
  readonly report: PolicyReport;
}

export interface FleetReportResult {
  readonly at: Date;
  readonly location: string;
  readonly repositoryId: string;
  readonly entries: readonly FleetEntry[];
  /** Snapshots in the repository now, and journal records read. */
  readonly snapshots: number;
  readonly records: number;
  /** Bytes of the repository's packs (all hosts; shared data counted once). */
  readonly storedBytes: number;
  /** Journal records that could not be read (left out of the history). */
  readonly damaged: readonly { id: string; error: string }[];
  readonly durationMs: number;
  /** 0 when every host × policy is compliant, 4 when any has a finding. */
  readonly exitCode: typeof ExitCode.OK | typeof ExitCode.FINDING;
}

/** Journal records fetched at once: object stores answer small GETs in parallel. */
const LOAD_CONCURRENCY = 32;
/**
 * The tree id filed for a backup record written before records kept it: the throwaway catalogue
 * needs one, and a report never reads trees.
 */
const TREE_NOT_RECORDED = '0'.repeat(64);
/** Journal records filed per catalogue transaction. */
const FILE_BATCH = 256;

/** One host × policy while the journal is filed. */
interface Group {
  readonly host: string;
  readonly policy: string;
  /** The catalogue's policy key: policy names may repeat across hosts. */
  readonly key: string;
  digest?: PolicyDigest;
  digestAt: string;
  /** The target name the host's backups give the repository read, from the newest record naming it. */
  readTarget?: string;
  readTargetAt: string;
  /** Every target the records name (a policy without a digest is judged on these). */
  readonly targets: Set<string>;
}

/** Files the repository's history into a temporary catalogue and judges every host × policy in it. */
export async function buildFleetReport(ctx: AppContext, opts: FleetReportOptions): Promise<FleetReportResult> {
  const started = ctx.clock.monotonic();
  const at = opts.at ?? ctx.clock.now();
  const opened = await openRepoUrl(ctx, opts.repo);
  const dir = mkdtempSync(join(tmpdir(), 'triad-fleet-'));
  let catalog: Catalog | undefined;
  try {
    catalog = openCatalog(join(dir, 'fleet.db'), { scratch: true });
    const filed = await fileHistory(ctx, opened, catalog, opts.host);
    const fs = opened.spec.type === 'local' ? await fileSystemUsage(opened.spec.path) : undefined;
    const entries: FleetEntry[] = [];
    for (const g of [...filed.groups.values()].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.policy < b.policy ? -1 : a.policy > b.policy ? 1 : 0))) {
      ctx.signal?.throwIfAborted();
      entries.push(evaluateGroup(catalog, g, { at, windowMs: opts.windowMs, zone: opts.zone, readName: g.readTarget ?? opened.spec.name, fs }));
    }
    return {
      at,
      location: opened.storage.location,
      repositoryId: opened.repo.id,
      entries,
      snapshots: filed.snapshots,
      records: filed.records,
      storedBytes: filed.storedBytes,
      damaged: filed.damaged,
      durationMs: ctx.clock.monotonic() - started,
      exitCode: entries.some((e) => e.report.exitCode === ExitCode.FINDING) ? ExitCode.FINDING : ExitCode.OK,
    };
  } finally {
    catalog?.close();
    rmSync(dir, { recursive: true, force: true });
    await opened.storage.close().catch(() => undefined);
  }
}

interface Filed {
  groups: Map<string, Group>;
  snapshots: number;
  records: number;
  storedBytes: number;
  damaged: { id: string; error: string }[];
}

/**
 * Lists snapshots (names only) and packs (sizes only), then files each journal record as it
 * arrives; snapshots no backup record names (a journal write that failed) are read from their
 * manifests last.
 */
async function fileHistory(ctx: AppContext, o: OpenedRepo, catalog: Catalog, host: string | undefined): Promise<Filed> {
  const { repo, storage } = o;
  const listed = new Set<string>();
  for await (const e of storage.list('snapshots/', { signal: ctx.signal })) {
    const id = e.name.slice('snapshots/'.length);
    if (ID_RE.test(id)) listed.add(id);
  }
  let storedBytes = 0;
  for await (const e of storage.list('data/', { signal: ctx.signal })) storedBytes += e.size;
  const ids: string[] = [];
  for await (const e of storage.list('journal/', { signal: ctx.signal })) {
    const id = e.name.slice('journal/'.length);
    if (ID_RE.test(id)) ids.push(id);
  }
  const out: Filed = { groups: new Map(), snapshots: listed.size, records: 0, storedBytes, damaged: [] };
  const filer = new RecordFiler(catalog, out.groups, listed, storage.location);
  // Filed a batch per transaction: one commit per record would cost more than reading it.
  let batch: { r: JournalRecord; id: string }[] = [];
  const flush = (): void => {
    const records = batch;
    batch = [];
    catalog.transaction(() => {
      for (const { r, id } of records) filer.file(r, id);
    });
  };
  await forEachLimited(ids, LOAD_CONCURRENCY, async (id, i) => {
    ctx.signal?.throwIfAborted();
    let r: JournalRecord;
    try {
      r = await repo.loadManifest(AAD.journal, 'journal', id, decodeJournalRecord);
    } catch (err) {
      // Removed between the listing and the load: not history any more.
      if (isNotFound(err)) return;
      out.damaged.push({ id, error: errorMessage(err) });
      return;
    }
    out.records++;
    if (host === undefined || r.host === host) batch.push({ r, id });
    if (batch.length >= FILE_BATCH) flush();
    if ((i + 1) % 500 === 0) ctx.emit?.({ type: 'progress', job: 'fleet-report', files: i + 1, totalFiles: ids.length });
  });
  flush();
  for (const id of listed) {
    if (filer.named.has(id)) continue;
    let m: SnapshotManifest;
    try {
      m = await repo.loadManifest(AAD.snapshot, 'snapshots', id, decodeSnapshotManifest);
    } catch (err) {
      if (isNotFound(err)) continue;
      out.damaged.push({ id: `snapshots/${id}`, error: errorMessage(err) });
      continue;
    }
    if (host === undefined || m.host === host) filer.fileManifest(id, m, o.spec.name);
  }
  return out;
}

/** Files journal records into the temporary catalogue, keyed by host and policy. */
class RecordFiler {
  /** Snapshots a backup record named (the others are read from their manifests). */
  readonly named = new Set<string>();

  constructor(
    private readonly catalog: Catalog,
    private readonly groups: Map<string, Group>,
    private readonly listed: ReadonlySet<string>,
    private readonly location: string,
  ) {}

  file(r: JournalRecord, id: string): void {
    if (!RUN_KINDS.has(r.kind) || !STATUSES.has(r.status)) return;
    const g = this.group(r.host, r.policy);
    for (const t of r.targets) g.targets.add(t.name);
    const readName = r.targets.find((t) => t.location === this.location)?.name;
    if (readName !== undefined && r.started >= g.readTargetAt) {
      g.readTarget = readName;
      g.readTargetAt = r.started;
    }
    const digest = r.kind === 'backup' ? policyDigestOf(r.details) : undefined;
    if (digest && r.started >= g.digestAt) {
      g.digest = digest;
      g.digestAt = r.started;
    }
    // Called inside the batch's transaction (fileHistory's flush): a savepoint per record would cost more than its rows.
    if (r.kind === 'backup' && r.snapshot !== undefined && ID_RE.test(r.snapshot)) {
      this.backupSnapshot(g, r, r.snapshot, readName);
      this.named.add(r.snapshot);
    }
    const runId = this.catalog.importRun(runFromRecord(r, id, g.key));
    if (r.kind === 'restore-test') importRestoreTests(this.catalog, r, runId, g.key);
  }

  /**
   * The snapshot a backup record names, complete on every target the record says took it: on the
   * repository read, only while the snapshot is still listed (else forgotten); on the others as
   * the record says (this repository cannot see them).
   */
  private backupSnapshot(g: Group, r: JournalRecord, snapshot: string, readName: string | undefined): void {
    const d = r.details ?? {};
    const s = (typeof d.summary === 'object' && d.summary !== null ? d.summary : {}) as Record<string, unknown>;
    this.catalog.upsertSnapshot({
      id: snapshot, policy: g.key, host: r.host, paths: Array.isArray(d.paths) ? d.paths.filter((p): p is string => typeof p === 'string') : [],
      time: str(d.time) ?? r.started, finished_at: r.finished, tree: str(d.tree) ?? TREE_NOT_RECORDED, parent: str(d.parent) ?? null, partial: d.partial === true || r.status === 'partial', tags: [],
      files: num(s.files) ?? 0, dirs: num(s.dirs) ?? 0, bytes: num(s.bytes) ?? 0, files_new: num(s.filesNew) ?? 0, files_changed: num(s.filesChanged) ?? 0,
      files_unchanged: num(s.filesUnchanged) ?? 0, bytes_read: num(s.bytesRead) ?? 0, bytes_added: num(s.dataAddedPacked) ?? 0,
    });
    for (const t of r.targets) {
      if (!t.ok) continue;
      const gone = t.name === readName && !this.listed.has(snapshot);
      this.catalog.setPresence(snapshot, t.name, { status: gone ? 'forgotten' : 'complete', at: r.finished, completed_at: r.finished, rule: gone ? 'not in the repository' : null });
    }
  }

  /** A snapshot no backup record names, from its manifest: complete on the repository read. */
  fileManifest(id: string, m: SnapshotManifest, fallbackTarget: string): void {
    const g = this.group(m.host, m.policy);
    const target = g.readTarget ?? fallbackTarget;
    g.targets.add(target);
    const s = m.summary;
    this.catalog.transaction(() => {
      this.catalog.upsertSnapshot({
        id, policy: g.key, host: m.host, paths: m.paths, time: m.time, finished_at: m.finished, tree: m.tree, parent: m.parent ?? null, partial: m.partial, tags: m.tags ?? [],
        files: s.files, dirs: s.dirs, bytes: s.bytes, files_new: s.filesNew, files_changed: s.filesChanged, files_unchanged: s.filesUnchanged, bytes_read: s.bytesRead, bytes_added: s.dataAddedPacked,
      });
      this.catalog.setPresence(id, target, { status: 'complete', at: m.finished, completed_at: m.finished });
    });
  }

  private group(host: string, policy: string): Group {
    const key = `${host}/${policy}`;
    let g = this.groups.get(key);
    if (!g) this.groups.set(key, (g = { host, policy, key, digestAt: '', readTargetAt: '', targets: new Set() }));
    return g;
  }
}

/** One host × policy judged as `triad report` judges a policy, against the objectives its backups recorded. */
function evaluateGroup(
  catalog: Catalog,
  g: Group,
  o: { at: Date; windowMs: number | undefined; zone: string | undefined; readName: string; fs: { usedBytes: number; freeBytes: number } | undefined },
): FleetEntry {
  const policy = g.digest ? policyFromDigest(g.policy, g.digest) : unrecordedPolicy(g, o.readName);
  const window = o.windowMs ?? policy.objectives.window;
  const history = readHistory(catalog, g.key, { since: new Date(o.at.getTime() - window), at: o.at });
  const capacity = policy.targets.map((t) => ({ ...storedFigures(t.name, history, o.at), ...(t.name === o.readName && o.fs ? o.fs : {}) }));
  let report = buildPolicyReport(reportInput({ policy, history, at: o.at, windowMs: o.windowMs, zone: o.zone, capacity }));
  if (!g.digest) report = withFindings(report, [objectivesNotRecorded(g)]);
  return { host: g.host, policy: g.policy, target: o.readName, objectivesRecorded: g.digest !== undefined, report: { host: g.host, ...report } };
}

/**
 * A policy whose backup records predate the digest: its targets as the records name them, no
 * RPO or RTO and no rule (nothing to judge them against), the default window and intervals.
 */
function unrecordedPolicy(g: Group, readName: string): ReportPolicy {
  return {
    name: g.policy,
    rule: 'none',
    timezone: 'UTC',
    objectives: { window: 30 * DAY },
    production: { media: 'disk' },
    keys: {},
    restore_test: { every: 30 * DAY },
    verify: { every: 30 * DAY },
    targets: [...g.targets].sort().map((name) => ({ name, type: name === readName ? 'repository' : 'unknown', media: 'unknown', offsite: false, immutable: false, offline: false })),
  };
}

function objectivesNotRecorded(g: Group): Omit<Finding, 'affectsCompliance'> {
  return {
    severity: 'warning',
    code: 'objectives-not-recorded',
    message: `no backup record of policy ${g.policy} on host ${g.host} keeps its objectives (written by an older triad): its RPO, RTO and 3-2-1 rule are not judged here`,
    action: `run one backup of policy ${g.policy} on host ${g.host} with this triad version (it records them), or judge it there with \`triad report -p POLICY\``,
  };
}

/** Runs `fn` over `items` with at most `limit` calls in flight, in order of start. */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
