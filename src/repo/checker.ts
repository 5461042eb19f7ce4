import type { Random } from '../core/random.js';
import { TriadError } from '../core/errors.js';
import { BlobReader } from './blob-reader.js';
import { ID_RE, packObjectName } from './format.js';
import { MasterIndex } from './index-store.js';
import { MemoryPool } from '../core/memory-pool.js';
import { verifyPackBytes } from './pack-verify.js';
import { PackVerifyPool } from './pack-verify-pool.js';
import type { Repository } from './repository.js';
import { loadSnapshots, type Snapshot } from './snapshot.js';
import { walkTree } from './walk.js';

export interface CheckProblem {
  kind: 'missing-pack' | 'pack-size' | 'damaged-pack' | 'missing-blob' | 'tree' | 'snapshot' | 'index' | 'key';
  message: string;
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
  /** Packs no index names: left by an interrupted run; harmless, removed by prune. */
  unindexedPacks: string[];
  damagedPacks: DamagedPack[];
}

export interface CheckOptions {
  /** 'none': structure only; 'all': every pack; a number: that percentage of packs, sampled. */
  readData: 'none' | 'all' | number;
  random: Random;
  signal?: AbortSignal;
  onProgress?(p: { packs: number; totalPacks: number; bytes: number }): void;
}

export async function checkRepository(repo: Repository, opts: CheckOptions): Promise<CheckReport> {
  const report: CheckReport = { target: repo.target, snapshots: 0, packs: 0, blobs: 0, packsRead: 0, bytesRead: 0, errors: [], unindexedPacks: [], damagedPacks: [] };
  let index: MasterIndex;
  try {
    index = await MasterIndex.load(repo);
  } catch (err) {
    report.errors.push({ kind: 'index', message: (err as Error).message });
    index = new MasterIndex();
  }
  report.blobs = index.size;
  const stored = new Map<string, number>();
  for await (const o of repo.storage.list('data/')) {
    const id = o.name.slice(o.name.lastIndexOf('/') + 1);
    if (ID_RE.test(id)) stored.set(id, o.size);
  }
  report.packs = index.packs.size;
  for (const [pack, size] of index.packs) {
    const actual = stored.get(pack);
    if (actual === undefined) report.errors.push({ kind: 'missing-pack', pack, message: `pack ${pack.slice(0, 12)} is named by an index but missing` });
    else if (actual !== size) report.errors.push({ kind: 'pack-size', pack, message: `pack ${pack.slice(0, 12)} has ${actual} bytes, the index says ${size} (truncated or damaged)` });
  }
  for (const id of stored.keys()) if (!index.packs.has(id)) report.unindexedPacks.push(id);

  let snapshots: Snapshot[] = [];
  try {
    snapshots = await loadSnapshots(repo);
  } catch (err) {
    report.errors.push({ kind: 'snapshot', message: (err as Error).message });
  }
  report.snapshots = snapshots.length;
  const reader = new BlobReader(repo, index);
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

  // Both at once: the tree walk alone kept the verifying worker idle for its first 2-3 s
  // (a bench check took 7.3 s with 1.5 s of the worker idle).
  const [structure, data] = await Promise.allSettled([checkStructure(), opts.readData === 'none' ? undefined : verifyData(repo, index, stored, opts, report)]);
  if (structure.status === 'rejected') throw structure.reason;
  if (data.status === 'rejected') throw data.reason;
  const damaged = data.value;
  if (damaged?.size) {
    const sorted = new Map([...damaged].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
    report.damagedPacks = await affectedFiles(reader, index, snapshots, sorted);
    for (const d of report.damagedPacks) report.errors.push({ kind: 'damaged-pack', pack: d.pack, message: `pack ${d.pack.slice(0, 12)} is damaged: ${d.reason}` });
  }
  return report;
}

/** Reads and verifies the packs `opts.readData` asks for; returns the damaged ones with why. */
async function verifyData(repo: Repository, index: MasterIndex, stored: Map<string, number>, opts: CheckOptions, report: CheckReport): Promise<Map<string, string>> {
  let packs = [...index.packs.keys()].filter((p) => stored.has(p)).sort();
  if (typeof opts.readData === 'number') {
    const want = Math.max(1, Math.ceil((packs.length * opts.readData) / 100));
    const pool = [...packs];
    packs = [];
    while (packs.length < want && pool.length) packs.push(pool.splice(opts.random.int(pool.length), 1)[0]!);
  }
  const damaged = new Map<string, string>();
  const done = (pack: string, reason: string | undefined) => {
    report.packsRead++;
    report.bytesRead += index.packs.get(pack) ?? 0;
    opts.onProgress?.({ packs: report.packsRead, totalPacks: packs.length, bytes: report.bytesRead });
    if (reason) damaged.set(pack, reason);
  };
  // The main thread reads every pack and verifies some itself, the workers the others:
  // each worker holds two packs at most (one waiting: it is not idle while this thread
  // loads the next), and memory stays that of a few packs.
  const verifier = new PackVerifyPool(repo.key);
  const queued = verifier.size * 2;
  // Pack memory goes round: loaded into, verified (here or in a worker), handed back.
  const memory = new MemoryPool(queued + 1);
  try {
    const inflight: Promise<void>[] = [];
    for (const pack of packs) {
      opts.signal?.throwIfAborted();
      let bytes: Buffer;
      try {
        bytes = await repo.storage.load(packObjectName(pack), undefined, { buffer: (n) => memory.take(n) });
      } catch (err) {
        done(pack, `cannot be read: ${(err as Error).message}`);
        continue;
      }
      if (inflight.length < queued) {
        const lent = memory.owns(bytes.buffer);
        inflight.push(
          verifier.verify(pack, bytes, lent).then((d) => {
            if (lent) memory.giveBack(d.buf, true);
            done(pack, d.reason ?? misplaced(index, pack, d.entries));
          }),
        );
      } else {
        const d = verifyPackBytes(repo.key, pack, bytes);
        memory.giveBack(bytes.buffer);
        done(pack, d.reason ?? misplaced(index, pack, d.entries));
        await inflight.shift();
      }
    }
    await Promise.all(inflight);
  } finally {
    await verifier.close();
  }
  return damaged;
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
