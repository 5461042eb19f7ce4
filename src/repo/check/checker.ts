import type { Random } from '../../core/random.js';
import { TriadError } from '../../core/errors.js';
import { isNotFound } from '../../backends/storage.js';
import { BlobReader } from '../read/index.js';
import { ID_RE, packObjectName } from '../format.js';
import { loadIndexRoutingAround, repairIndexHint, type MasterIndex } from '../index/index.js';
import { repairPacksHint } from '../../core/describe.js';
import { MemoryPool } from '../../core/memory-pool.js';
import { verifyPackBytes } from './pack-verify.js';
import { PackVerifyPool } from './pack-verify-pool.js';
import { isObjectDamage, type Repository } from '../repository.js';
import { loadSnapshots, type Snapshot } from '../model/index.js';
import { contentSizeMismatch } from './snapshot-check.js';
import { walkTree } from '../read/index.js';

export interface CheckProblem {
  kind: 'missing-pack' | 'pack-size' | 'damaged-pack' | 'missing-blob' | 'tree' | 'snapshot' | 'missing-snapshot' | 'index' | 'not-a-pack' | 'size-mismatch' | 'key';
  message: string;
  /** What to do about it, where the problem itself does not say. */
  hint?: string;
  pack?: string;
  snapshot?: string;
  path?: string;
}

export interface DamagedPack {
  pack: string;
  reason: string;
  /** Files (and the snapshots holding them) that need a blob of this pack. */
  affected: { snapshot: string; path: string }[];
}

export interface CheckReport {
  target: string;
  snapshots: number;
  packs: number;
  blobs: number;
  packsRead: number;
  bytesRead: number;
  errors: CheckProblem[];
  /** Packs no index names: left by an interrupted run; harmless, removed by prune (with read-data 'all': verified whole). */
  unindexedPacks: string[];
  damagedPacks: DamagedPack[];
  /** Indexed packs read whole and found intact (the verification ledger records them). */
  verifiedPacks: string[];
  /** Packs read a second time because the first copy failed verification; damage only when the second fails too. */
  reReads: PackReRead[];
}

/** A pack whose first read failed verification, read once more before it was called damaged. */
export interface PackReRead {
  pack: string;
  /** Why the first copy failed (when the second fails too, the pack is among the damaged ones). */
  reason: string;
}

/** Which packs a check reads whole. */
export type ReadData = 'none' | 'all' | number | { packs: readonly string[] };

export interface CheckOptions {
  /** 'none': structure only; 'all': every pack; a number: that percentage of packs, sampled; `packs`: those packs (others ignored). */
  readData: ReadData;
  random: Random;
  /** Snapshots the caller knows to be complete on this replica (from the catalogue): any not found is damage. */
  expectedSnapshots?: { id: string; time: string }[];
  signal?: AbortSignal;
  onProgress?(p: { packs: number; totalPacks: number; bytes: number }): void;
  /** A pack read again after its first copy failed verification. */
  onReRead?(r: PackReRead): void;
}

export async function checkRepository(repo: Repository, opts: CheckOptions): Promise<CheckReport> {
  const report: CheckReport = { target: repo.target, snapshots: 0, packs: 0, blobs: 0, packsRead: 0, bytesRead: 0, errors: [], unindexedPacks: [], damagedPacks: [], verifiedPacks: [], reReads: [] };
  const stored = new Map<string, number>();
  /** Files in data/ whose names no pack can have. */
  const strays: string[] = [];
  for await (const o of repo.storage.list('data/', { signal: opts.signal })) {
    const id = o.name.slice(o.name.lastIndexOf('/') + 1);
    if (ID_RE.test(id) && o.name === packObjectName(id)) stored.set(id, o.size);
    else strays.push(o.name);
  }
  // A damaged index file is reported, and the packs it covered are read from their headers,
  // so the snapshots are still checked rather than all reported as missing.
  const routed = await loadIndexRoutingAround(repo, { listed: [...stored].map(([id, size]) => ({ id, size })), signal: opts.signal });
  const index = routed.index;
  for (const d of routed.damaged) report.errors.push({ kind: 'index', message: d.reason, hint: repairIndexHint(repo.target) });
  for (const d of routed.damagedPacks) {
    const reason = `in no readable index, and its header cannot be read: ${d.reason}`;
    report.errors.push({ kind: 'damaged-pack', pack: d.pack, message: `pack ${d.pack.slice(0, 12)} is ${reason}` });
    report.damagedPacks.push({ pack: d.pack, reason, affected: [] });
  }
  report.blobs = index.size;
  report.packs = index.packs.size;
  for (const [pack, size] of index.packs) {
    const actual = stored.get(pack);
    const hint = repairPacksHint(repo.target);
    if (actual === undefined) report.errors.push({ kind: 'missing-pack', pack, message: `pack ${pack.slice(0, 12)} is named by an index but missing`, hint });
    else if (actual !== size) report.errors.push({ kind: 'pack-size', pack, message: `pack ${pack.slice(0, 12)} has ${actual} bytes, the index says ${size} (truncated or damaged)`, hint });
  }
  for (const id of stored.keys()) if (!index.packs.has(id)) report.unindexedPacks.push(id);

  const damagedSnapshots: string[] = [];
  const snapshots = await loadSnapshots(repo, {
    onDamaged: (d) => {
      const id = d.name.slice('snapshots/'.length);
      damagedSnapshots.push(id);
      report.errors.push({ kind: 'snapshot', snapshot: id, message: d.reason, hint: copyHint(repo.target) });
    },
    signal: opts.signal,
  });
  report.snapshots = snapshots.length;
  missingSnapshots(report, opts.expectedSnapshots ?? [], [...snapshots.map((s) => s.id), ...damagedSnapshots]);
  const reader = new BlobReader(repo, index);
  reader.onReRead = (r) => noteReRead(report, opts, r);
  // Trees already found whole (every subtree and blob below them indexed). Snapshots share
  // most of their trees, so each is checked once, not once per snapshot.
  const whole = new Set<string>();
  /** Checks a tree and everything below it; returns whether nothing is missing there. */
  const checkTree = async (s: Snapshot, treeId: string, prefix: string): Promise<boolean> => {
    if (whole.has(treeId)) return true;
    let ok = true;
    for (const node of (await reader.tree(treeId)).nodes) {
      opts.signal?.throwIfAborted();
      const path = prefix ? `${prefix}/${node.name}` : node.name;
      if (node.type === 'dir' && node.subtree) {
        if (!index.has(node.subtree)) {
          report.errors.push({ kind: 'missing-blob', snapshot: s.id, path, message: `snapshot ${s.id.slice(0, 8)}: tree of ${path} is missing` });
          ok = false;
        }
        // A missing subtree throws here, ending this snapshot's walk with a tree error.
        if (!(await checkTree(s, node.subtree, path))) ok = false;
      }
      for (const c of node.content ?? []) {
        if (!index.has(c)) {
          report.errors.push({ kind: 'missing-blob', snapshot: s.id, path, message: `snapshot ${s.id.slice(0, 8)}: ${path} needs blob ${c.slice(0, 12)}, which no index holds` });
          ok = false;
          break;
        }
      }
      const wrongSize = node.type === 'file' ? contentSizeMismatch(index, node) : undefined;
      if (wrongSize) {
        report.errors.push({ kind: 'size-mismatch', snapshot: s.id, path, message: `snapshot ${s.id.slice(0, 8)}: ${path}: ${wrongSize}` });
        ok = false;
      }
    }
    if (ok) whole.add(treeId);
    return ok;
  };
  const checkStructure = async (): Promise<void> => {
    for (const s of snapshots) {
      try {
        if (!index.has(s.tree)) throw new TriadError('E_INTEGRITY', `root tree ${s.tree.slice(0, 12)} is not in any index`);
        await checkTree(s, s.tree, '');
      } catch (err) {
        if ((err as Error).name === 'AbortError') throw err;
        report.errors.push({ kind: 'tree', snapshot: s.id, message: `snapshot ${s.id.slice(0, 8)}: ${(err as Error).message}` });
      }
    }
  };

  // Both at once: the tree walk alone kept the verifying worker idle at the start of every
  // check (bench/RESULTS.md, "check: walk and verify at once").
  const [structure, data, garbage] = await Promise.allSettled([
    checkStructure(),
    opts.readData === 'none' ? undefined : verifyData(repo, index, stored, opts, report),
    opts.readData === 'all' ? verifyUnindexed(repo, stored, strays, opts, report) : undefined,
  ]);
  if (garbage.status === 'rejected') throw garbage.reason;
  if (structure.status === 'rejected') throw structure.reason;
  if (data.status === 'rejected') throw data.reason;
  const damaged = data.value;
  if (damaged?.size) {
    const sorted = new Map([...damaged].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
    report.damagedPacks = await affectedFiles(reader, index, snapshots, sorted);
    for (const d of report.damagedPacks) report.errors.push({ kind: 'damaged-pack', pack: d.pack, message: `pack ${d.pack.slice(0, 12)} is damaged: ${d.reason}`, hint: repairPacksHint(repo.target) });
  }
  return report;
}

/** What to do about a damaged or missing snapshot object of `target`. */
export function copyHint(target: string): string {
  return `'triad copy -p POLICY --from OTHER --to ${target}' copies it back from another target that holds it; 'triad catalog verify -p POLICY' compares the catalogue with the targets`;
}

/** Snapshots the catalogue records as complete on the replica that it does not hold. */
function missingSnapshots(report: CheckReport, expected: { id: string; time: string }[], found: string[]): void {
  const there = new Set(found);
  for (const e of expected) {
    if (there.has(e.id)) continue;
    report.errors.push({
      kind: 'missing-snapshot',
      snapshot: e.id,
      message: `snapshot ${e.id.slice(0, 8)} (${e.time}) is recorded in the catalogue as complete on this target, but the target does not hold it`,
      hint: copyHint(report.target),
    });
  }
}

/** Largest file in data/ read whole to tell a pack from garbage; packs are a few MiB. */
const MAX_PACK_READ = 1024 * 1024 * 1024;

/**
 * With every byte read: files in data/ that no index names must still be whole packs (name =
 * hash of the bytes, a header that opens, blobs that verify); anything else there is damage.
 */
async function verifyUnindexed(repo: Repository, stored: Map<string, number>, strays: string[], opts: CheckOptions, report: CheckReport): Promise<void> {
  const removable = `no snapshot uses it: 'triad repair packs -p POLICY --target ${repo.target}' removes it, or 'triad prune' after its grace period`;
  for (const name of strays) {
    report.errors.push({ kind: 'not-a-pack', path: name, message: `${name} in data/ does not have a pack's name (data/<2 hex>/<64 hex>)`, hint: 'no snapshot uses it: remove it' });
  }
  for (const pack of [...report.unindexedPacks]) {
    opts.signal?.throwIfAborted();
    const name = packObjectName(pack);
    const size = stored.get(pack) ?? 0;
    let reason: string | undefined;
    if (size > MAX_PACK_READ) reason = `it has ${size} bytes, more than any pack (left unread)`;
    else {
      reason = (await readAndVerify(repo, pack, opts, report)).reason;
      if (reason !== undefined) reason = await reReadVerdict(repo, pack, reason, opts, report);
    }
    if (reason === undefined) continue;
    report.unindexedPacks.splice(report.unindexedPacks.indexOf(pack), 1);
    report.errors.push({ kind: 'not-a-pack', pack, path: name, message: `${name}, in no index, is not a valid pack: ${reason}`, hint: removable });
  }
}

/** Reads and verifies the packs `opts.readData` asks for; returns the damaged ones with why. */
async function verifyData(repo: Repository, index: MasterIndex, stored: Map<string, number>, opts: CheckOptions, report: CheckReport): Promise<Map<string, string>> {
  let packs = [...index.packs.keys()].filter((p) => stored.has(p)).sort();
  if (typeof opts.readData === 'object') {
    const chosen = new Set(opts.readData.packs);
    packs = packs.filter((p) => chosen.has(p));
  } else if (typeof opts.readData === 'number') {
    const want = Math.max(1, Math.ceil((packs.length * opts.readData) / 100));
    const pool = [...packs];
    packs = [];
    while (packs.length < want && pool.length) packs.push(pool.splice(opts.random.int(pool.length), 1)[0]!);
  }
  const damaged = new Map<string, string>();
  /** `final`: a verdict no second read can change (a pack gone, or too large to read). */
  const done = async (pack: string, first: string | undefined, final = false) => {
    report.packsRead++;
    report.bytesRead += index.packs.get(pack) ?? 0;
    // A transfer cut short or garbled on the way is noise, not damage: only a second bad copy counts.
    const reason = first === undefined || final ? first : await reReadVerdict(repo, pack, first, opts, report, index);
    opts.onProgress?.({ packs: report.packsRead, totalPacks: packs.length, bytes: report.bytesRead });
    if (reason) damaged.set(pack, reason);
    else report.verifiedPacks.push(pack);
  };
  // The main thread reads every pack and verifies some itself, the workers the others:
  // each worker holds two packs at most (one waiting: it is not idle while this thread
  // loads the next), and memory stays that of a few packs.
  const verifier = new PackVerifyPool(repo.key);
  const queued = verifier.size * 2;
  // Pack memory goes round: loaded into, verified (here or in a worker), handed back.
  const memory = new MemoryPool(queued + 1);
  const inflight: Promise<void>[] = [];
  try {
    for (const pack of packs) {
      opts.signal?.throwIfAborted();
      const size = stored.get(pack)!;
      if (size > MAX_PACK_READ) {
        await done(pack, `it has ${size} bytes, more than any pack (left unread)`, true);
        continue;
      }
      let bytes: Buffer;
      try {
        bytes = await repo.storage.load(packObjectName(pack), undefined, { buffer: (n) => memory.take(n), signal: opts.signal });
      } catch (err) {
        if (!isObjectDamage(err) && !isNotFound(err)) throw err;
        await done(pack, `cannot be read: ${(err as Error).message}`, isNotFound(err));
        continue;
      }
      if (inflight.length < queued) {
        const lent = memory.owns(bytes.buffer);
        inflight.push(
          verifier.verify(pack, bytes, lent).then((d) => {
            if (lent) memory.giveBack(d.buf, true);
            return done(pack, d.reason ?? misplaced(index, pack, d.entries));
          }),
        );
      } else {
        const d = verifyPackBytes(repo.key, pack, bytes);
        memory.giveBack(bytes.buffer);
        await done(pack, d.reason ?? misplaced(index, pack, d.entries));
        await inflight.shift();
      }
    }
    await Promise.all(inflight);
  } finally {
    // Closing rejects the verifications still in flight when the loop gave up early: they
    // are settled here, not left as unhandled rejections.
    const settled = Promise.allSettled(inflight);
    await verifier.close();
    await settled;
  }
  return damaged;
}

/** Reads a whole pack and verifies it on this thread; a read the storage reports as damaged counts as a failed verification. */
async function readAndVerify(repo: Repository, pack: string, opts: CheckOptions, report: CheckReport): Promise<{ reason?: string; entries: [string, number, number][] }> {
  try {
    const bytes = await repo.storage.load(packObjectName(pack), undefined, { signal: opts.signal });
    report.bytesRead += bytes.length;
    return verifyPackBytes(repo.key, pack, bytes);
  } catch (err) {
    if (!isObjectDamage(err)) throw err;
    return { reason: `cannot be read: ${(err as Error).message}`, entries: [] };
  }
}

/**
 * A pack whose first copy failed verification is read once more: why it is damaged when the
 * second copy fails too, undefined when the second is whole (the first read was noise).
 */
async function reReadVerdict(repo: Repository, pack: string, first: string, opts: CheckOptions, report: CheckReport, index?: MasterIndex): Promise<string | undefined> {
  const again = await readAndVerify(repo, pack, opts, report);
  const reason = again.reason ?? (index ? misplaced(index, pack, again.entries) : undefined);
  noteReRead(report, opts, { pack, reason: first });
  return reason;
}

function noteReRead(report: CheckReport, opts: CheckOptions, r: PackReRead): void {
  report.reReads.push(r);
  opts.onReRead?.(r);
}

/** Why a verified pack disagrees with the index, if it does. */
function misplaced(index: MasterIndex, pack: string, entries: [string, number, number][]): string | undefined {
  for (const [id, offset, length] of entries) {
    const loc = index.get(id);
    if (loc && loc.pack === pack && (loc.offset !== offset || loc.length !== length)) return `blob ${id.slice(0, 12)} is not where the index says`;
  }
  return undefined;
}

async function affectedFiles(reader: BlobReader, index: MasterIndex, snapshots: Snapshot[], damaged: Map<string, string>): Promise<DamagedPack[]> {
  const out = new Map<string, DamagedPack>();
  for (const [pack, reason] of damaged) out.set(pack, { pack, reason, affected: [] });
  for (const s of snapshots) {
    try {
      for await (const { path, node } of walkTree(reader, s.tree)) {
        for (const c of node.content ?? []) {
          const loc = index.get(c);
          const d = loc && out.get(loc.pack);
          if (d) {
            d.affected.push({ snapshot: s.id, path });
            break;
          }
        }
      }
    } catch {
      // A damaged tree pack is reported already; files below it cannot be listed.
    }
  }
  return [...out.values()];
}
