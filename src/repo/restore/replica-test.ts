import { displayPath } from '../../core/names.js';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { checkSnapshotStructure, copyHint, listStoredPacks, type StructureProblem } from '../check/index.js';
import { loadIndexRoutingAround, repairIndexHint, type RoutedIndex } from '../index/index.js';
import { loadSnapshots, type DamagedSnapshot, type Snapshot, type TreeNode } from '../model/index.js';
import { BlobReader, HeldTrees, type ReadMode } from '../read/index.js';
import type { Repository } from '../repository.js';
import { locateSampled, restoreAndVerify, type ExpectedFile, type FailureKind, type Located } from './verify-restore.js';

export type SourceComparison = 'identical' | 'changed' | 'missing' | 'mismatch' | 'other-host' | 'not-a-source';

export interface FileTestResult {
  snapshot: string;
  path: string;
  size: number;
  status: 'passed' | 'failed' | 'skipped';
  kind?: FailureKind;
  reason?: string;
  pack?: string;
  blob?: string;
  source?: SourceComparison;
  transferMs: number;
}

export interface SnapshotStructureResult {
  snapshot: string;
  present: boolean;
  ok: boolean;
  trees: number;
  files: number;
  problems: StructureProblem[];
  omitted: number;
  note?: string;
}

/** One replica opened for a restore test: what it holds and the reader over it. */
export interface TestReplica {
  name: string;
  reader: BlobReader;
  /** The policy's snapshots on this replica, by id. */
  snapshots: Map<string, Snapshot>;
  /** Pack sizes the replica lists. */
  stored: Map<string, number>;
  /** Damaged index files (routed around: their packs read from their headers) and snapshot objects (left out): damage found, though the data may restore. */
  damagedObjects: ObjectDamage[];
}

/** A damaged repository object a restore test found, and what repairs it. */
export interface ObjectDamage {
  kind: 'index' | 'snapshot';
  object: string;
  reason: string;
  hint: string;
}

/** One snapshot of the sample and the files drawn from it. */
export interface SampleSnapshot {
  snapshot: Snapshot;
  files: ExpectedFile[];
  /** Targets the catalogue records the snapshot complete on (undefined: not in the catalogue). */
  completeOn?: Set<string>;
  /** Why the snapshot's files could not be listed at all; the snapshot then fails its structure check. */
  listingProblem?: string;
}

export interface ReplicaTestOptions {
  /** Scratch directory of this replica; each snapshot's files go below it and are removed after. */
  dir: string;
  /** Fixed overhead already spent on this replica (open, key derivation, index loading). */
  overheadMs: number;
  monotonic: () => number;
  signal?: AbortSignal;
  /** Compares a restored, verified file with the live source; without it nothing is compared. */
  compareSource?: (snap: Snapshot, path: string, node: TreeNode, restoredHash: string, macKey: Buffer) => Promise<SourceComparison>;
  onProgress?(p: { files: number; totalFiles: number; bytes: number; totalBytes: number; path: string }): void;
  /** A pack read again after its first copy failed verification. */
  onReRead?(r: { pack: string; reason: string }): void;
}

export interface ReplicaTestResult {
  ok: boolean;
  files: number;
  passed: number;
  failed: number;
  skipped: number;
  /** Plaintext bytes restored and verified. */
  bytes: number;
  /** Bytes downloaded (trees and the byte ranges of packs the sample needs). */
  bytesFetched: number;
  /** Packs read a second time because the first copy failed verification (noise unless the second failed too). */
  reReads: { pack: string; reason: string }[];
  /** Load requests made for them. */
  requests: number;
  /** Open, key derivation, index loading, listings and tree walks. */
  overheadMs: number;
  /** Fetching, decrypting and writing file contents. */
  transferMs: number;
  /** Reading restored copies back to hash them (test-only cost, not in the estimate). */
  verifyMs: number;
  throughputBytesPerSec: number | null;
  /** Damaged index files (the test read the packs' headers instead) and snapshot objects of the replica. */
  damagedObjects: ObjectDamage[];
  /** overhead + size of the newest sampled snapshot ÷ throughput. */
  estimatedFullRestoreMs: number | null;
  estimateFor?: { snapshot: string; bytes: number };
  structure: SnapshotStructureResult[];
  results: FileTestResult[];
  /** Packs holding blobs of files that restored intact (the ledger notes them, not as whole packs verified). */
  intactPacks: string[];
  /** Packs a failed file was found damaged, truncated or missing in. */
  failedPacks: string[];
}

/** Loads a replica's index, the policy's snapshots on it (every policy's when `policy` is undefined) and its pack listing. */
export async function openTestReplica(
  name: string,
  repo: Repository,
  policy: string | undefined,
  opts: { onDamaged?: (d: DamagedSnapshot) => void; onIndexRouted?: (routed: RoutedIndex) => void; signal?: AbortSignal; readMode?: ReadMode },
): Promise<TestReplica> {
  const stored = await listStoredPacks(repo, opts.signal);
  const routed = await loadIndexRoutingAround(repo, { listed: [...stored].map(([id, size]) => ({ id, size })), signal: opts.signal });
  if (routed.damaged.length > 0) opts.onIndexRouted?.(routed);
  const damagedObjects: ObjectDamage[] = routed.damaged.map((d) => ({ kind: 'index', object: d.name, reason: d.reason, hint: repairIndexHint(name) }));
  const onDamaged = (d: DamagedSnapshot) => {
    damagedObjects.push({ kind: 'snapshot', object: d.name, reason: d.reason, hint: copyHint(name) });
    opts.onDamaged?.(d);
  };
  const snapshots = new Map<string, Snapshot>();
  for (const snap of await loadSnapshots(repo, { onDamaged, signal: opts.signal })) if (policy === undefined || snap.policy === policy) snapshots.set(snap.id, snap);
  return { name, reader: new BlobReader(repo, routed.index, opts.readMode), snapshots, stored, damagedObjects };
}

/**
 * Restores the sample from one replica and verifies every file, after a structure check
 * of each sampled snapshot it holds. A snapshot the catalogue records complete here but
 * the replica lacks fails its files; one never stored here skips them. Problems are
 * results, never thrown; only an abort or a full scratch disk throws.
 */
export async function testReplica(rep: TestReplica, sample: SampleSnapshot[], opts: ReplicaTestOptions): Promise<ReplicaTestResult> {
  const { reader, name } = rep;
  const r: ReplicaTestResult = {
    ok: true, files: 0, passed: 0, failed: 0, skipped: 0, bytes: 0, bytesFetched: 0, reReads: [], requests: 0, overheadMs: opts.overheadMs, transferMs: 0, verifyMs: 0,
    throughputBytesPerSec: null, estimatedFullRestoreMs: null, structure: [], results: [], damagedObjects: rep.damagedObjects, intactPacks: [], failedPacks: [],
  };
  const intact = new Set<string>();
  const failed = new Set<string>();
  reader.onReRead = (x) => opts.onReRead?.(x);
  const totalFiles = sample.reduce((n, p) => n + p.files.length, 0);
  const totalBytes = sample.reduce((n, p) => n + p.files.reduce((m, f) => m + f.size, 0), 0);
  const add = (f: FileTestResult): void => {
    r.results.push(f);
    if (f.status === 'passed') r.passed++;
    else if (f.status === 'failed') r.failed++;
    else r.skipped++;
    if (f.status !== 'skipped') r.files++;
  };
  // Every sampled snapshot's trees (held once: unchanged directories are shared) and every
  // sampled file located first, so the reader fetches the packs' needed bytes once, in order.
  const trees = new HeldTrees(reader);
  const prepared: { p: SampleSnapshot; snap?: Snapshot; structure?: SnapshotStructureResult; located: Located[] }[] = [];
  for (const p of sample) {
    const snap = rep.snapshots.get(p.snapshot.id);
    if (!snap) {
      prepared.push({ p, located: [] });
      continue;
    }
    const ts = opts.monotonic();
    await trees.load(snap.tree, () => true);
    const st = await checkSnapshotStructure(reader, snap.tree, rep.stored, opts.signal, trees);
    const structure: SnapshotStructureResult = {
      snapshot: snap.id, present: true, ok: st.problems.length === 0 && !p.listingProblem, trees: st.trees, files: st.files, problems: st.problems, omitted: st.omitted,
      ...(p.listingProblem ? { note: p.listingProblem } : {}),
    };
    const located: Located[] = [];
    for (const f of p.files) located.push(await locateSampled(trees, snap.tree, f));
    prepared.push({ p, snap, structure, located });
    r.overheadMs += opts.monotonic() - ts;
  }
  reader.plan(prepared.flatMap(({ located }) => located.flatMap((l) => ('failure' in l ? [] : (l.node.content ?? [])))));
  for (const [k, { p, snap, structure, located }] of prepared.entries()) {
    if (!snap || !structure) {
      absentSnapshot(r, name, p, add);
      continue;
    }
    r.structure.push(structure);
    if (r.estimateFor === undefined) r.estimateFor = { snapshot: snap.id, bytes: snap.summary.bytes };
    const scratch = join(opts.dir, String(k));
    for (const [i, f] of p.files.entries()) {
      opts.signal?.throwIfAborted();
      const tf = opts.monotonic();
      const v = await restoreAndVerify(reader, snap.tree, f, { scratch, stored: rep.stored, monotonic: opts.monotonic, signal: opts.signal }, located[i]);
      r.transferMs += v.transferMs;
      r.verifyMs += v.verifyMs;
      r.overheadMs += Math.max(0, opts.monotonic() - tf - v.transferMs - v.verifyMs);
      r.bytes += v.bytes;
      const base = { snapshot: snap.id, path: displayPath(f.path), size: f.size, transferMs: v.transferMs };
      if (v.ok) for (const c of v.node?.content ?? []) intact.add(reader.index.get(c)?.pack ?? '');
      else if (v.failure?.pack && v.failure.kind !== 'source-mismatch') failed.add(v.failure.pack);
      if (!v.ok) {
        add({ ...base, status: 'failed', kind: v.failure!.kind, reason: v.failure!.reason, ...(v.failure!.pack ? { pack: v.failure!.pack } : {}), ...(v.failure!.blob ? { blob: v.failure!.blob } : {}) });
      } else if (opts.compareSource) {
        const cmp = await opts.compareSource(snap, f.path, v.node!, v.hash!, reader.repo.key.mac);
        if (cmp === 'mismatch') add({ ...base, status: 'failed', kind: 'source-mismatch', reason: 'the live source file has the same size and mtime but different content (changed in place or damaged)', source: cmp });
        else add({ ...base, status: 'passed', source: cmp });
      } else {
        add({ ...base, status: 'passed' });
      }
      opts.onProgress?.({ files: r.results.length, totalFiles, bytes: r.bytes, totalBytes, path: displayPath(f.path) });
    }
    rmSync(scratch, { recursive: true, force: true });
  }
  intact.delete('');
  for (const p of failed) intact.delete(p);
  r.intactPacks = [...intact].sort();
  r.failedPacks = [...failed].sort();
  r.bytesFetched = reader.bytesFetched;
  r.reReads = [...reader.reReads];
  r.requests = reader.requests;
  if (r.bytes > 0 && r.transferMs > 0) r.throughputBytesPerSec = (r.bytes / r.transferMs) * 1000;
  r.ok = r.failed === 0 && r.structure.every((x) => x.ok) && r.damagedObjects.length === 0;
  // A damaged copy is no restorable copy: no estimate from it (compliance reads it as a failed test).
  if (r.estimateFor && r.ok) {
    r.estimatedFullRestoreMs = r.estimateFor.bytes === 0 ? r.overheadMs : r.throughputBytesPerSec ? r.overheadMs + (r.estimateFor.bytes / r.throughputBytesPerSec) * 1000 : null;
  }
  return r;
}

/** A sampled snapshot this replica does not hold: a failure where the catalogue expects it, else skipped. */
function absentSnapshot(r: ReplicaTestResult, name: string, p: SampleSnapshot, add: (f: FileTestResult) => void): void {
  const expected = p.completeOn?.has(name) ?? false;
  r.structure.push({
    snapshot: p.snapshot.id, present: false, ok: !expected, trees: 0, files: 0, problems: [], omitted: 0,
    note: expected ? 'missing on this target, although the catalogue records it complete here' : 'not on this target',
  });
  for (const f of p.files) {
    add(expected
      ? { snapshot: p.snapshot.id, path: displayPath(f.path), size: f.size, status: 'failed', kind: 'missing-snapshot', reason: `snapshot ${p.snapshot.id.slice(0, 8)} is missing on target '${name}'`, transferMs: 0 }
      : { snapshot: p.snapshot.id, path: displayPath(f.path), size: f.size, status: 'skipped', reason: `snapshot ${p.snapshot.id.slice(0, 8)} is not on target '${name}'`, transferMs: 0 });
  }
}
