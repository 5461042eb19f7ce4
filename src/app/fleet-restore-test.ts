import { hostname } from 'node:os';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TriadError, ExitCode } from '../core/errors.js';
import { seededRandom } from '../core/random.js';
import type { SampleSpec } from '../policy/types.js';
import { DAY } from '../policy/time-constants.js';
import { withRepoLocks } from '../repo/lock/index.js';
import { FileSampler } from '../repo/maintenance/index.js';
import { writeJournal, type Snapshot } from '../repo/model/index.js';
import { walkTree } from '../repo/read/index.js';
import { openTestReplica, testReplica, type TestReplica } from '../repo/restore/index.js';
import { openRepoUrl, type RepoAccess } from './repo-open.js';
import { DEFAULT_MAX_BYTES, makeScratch, restoreTestJournal, sampleLimit, type RestoreTestResult, type TargetTestResult } from './restore-test.js';
import { errorMessage, partialReads, userName, warnDamagedIndex, warnDamagedSnapshot, type AppContext } from './session.js';

/** Files sampled from each host's latest snapshot when neither --sample, --files nor --bytes says. */
export const FLEET_SAMPLE_FILES = 20;

export interface FleetRestoreTestOptions {
  readonly repo: RepoAccess;
  /** Only this host's snapshots; undefined: every host's. */
  readonly host?: string;
  /** The name the hosts' policies give this repository: the results are recorded under it (default: the URL's scheme). */
  readonly target?: string;
  readonly sample?: SampleSpec;
  readonly seed: number;
  readonly scratch: string;
  /** Scratch bytes each host × policy's sample may use (default 1 GiB). */
  readonly maxBytes?: number;
}

export interface FleetRestoreTestResult {
  readonly location: string;
  readonly repositoryId: string;
  readonly target: string;
  readonly seed: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  /** One restore test per host × policy, of its latest snapshot, each recorded in the repository's journal. */
  readonly tests: RestoreTestResult[];
  readonly ok: boolean;
  /** 0 all intact, 4 damage found (DESIGN.md §7). */
  readonly exitCode: number;
}

/**
 * `triad restore-test --repo URL --all-hosts | --host H`: from one place, restores a seeded sample
 * of every host × policy's latest snapshot in a shared repository and verifies every byte against
 * the hashes recorded at backup time. No policy file and no catalogue: files are listed from the
 * snapshots' trees. Each host × policy's result is a journal record in the repository (under the
 * target name given), where its own `catalog rebuild` and `fleet report` find it as evidence.
 */
export async function runFleetRestoreTest(ctx: AppContext, opts: FleetRestoreTestOptions): Promise<FleetRestoreTestResult> {
  const started = ctx.clock.now();
  const t0 = ctx.clock.monotonic();
  const opened = await openRepoUrl(ctx, opts.target === undefined ? opts.repo : { ...opts.repo, name: opts.target });
  const target = opened.spec.name;
  try {
    const lock = { clock: ctx.clock, host: hostname(), username: userName(), command: 'restore-test', ...(ctx.signal ? { signal: ctx.signal } : {}), ...(ctx.lockStaleAfterMs !== undefined ? { staleAfter: ctx.lockStaleAfterMs } : {}) };
    // A shared lock: a prune cannot remove packs under the test, and the test never blocks backups.
    const tests = await withRepoLocks([opened.repo], 'shared', lock, async (signal) => {
      const lctx: AppContext = { ...ctx, signal };
      const t = ctx.clock.monotonic();
      const replica = await openTestReplica(target, opened.repo, undefined, {
        onDamaged: warnDamagedSnapshot(ctx, target),
        onIndexRouted: (routed) => warnDamagedIndex(ctx, target, routed),
        signal,
        readMode: partialReads(ctx),
      });
      const overheadMs = ctx.clock.monotonic() - t;
      const latest = latestPerHostPolicy(replica, opts.host);
      if (latest.length === 0) {
        throw new TriadError('E_SNAPSHOT_NOT_FOUND', `no snapshot${opts.host === undefined ? '' : ` of host ${opts.host}`} in ${opened.storage.location}`, {
          hint: opts.host === undefined ? 'back up into it first' : 'check the host name with `triad snapshots -p POLICY --all-hosts`',
        });
      }
      const out: RestoreTestResult[] = [];
      for (const snap of latest) out.push(await testOne(lctx, { replica, snap, target, location: opened.storage.location, overheadMs, opts }));
      return out;
    });
    const ok = tests.every((r) => r.ok);
    return {
      location: opened.storage.location,
      repositoryId: opened.repo.id,
      target,
      seed: opts.seed,
      startedAt: started.toISOString(),
      finishedAt: ctx.clock.now().toISOString(),
      durationMs: ctx.clock.monotonic() - t0,
      tests,
      ok,
      exitCode: ok ? ExitCode.OK : ExitCode.FINDING,
    };
  } finally {
    await opened.storage.close().catch(() => undefined);
  }
}

/** The newest snapshot (by recovery point, then id) of each host × policy, ordered by host then policy. */
function latestPerHostPolicy(replica: TestReplica, host: string | undefined): Snapshot[] {
  const newest = new Map<string, Snapshot>();
  for (const s of replica.snapshots.values()) {
    if (host !== undefined && s.host !== host) continue;
    const key = `${s.host}\0${s.policy}`;
    const prev = newest.get(key);
    if (!prev || s.time > prev.time || (s.time === prev.time && s.id > prev.id)) newest.set(key, s);
  }
  return [...newest.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s);
}

/** Samples one snapshot from its tree, restores and verifies it in its own scratch directory, and records the result. */
async function testOne(
  ctx: AppContext,
  a: { replica: TestReplica; snap: Snapshot; target: string; location: string; overheadMs: number; opts: FleetRestoreTestOptions },
): Promise<RestoreTestResult> {
  const { snap, opts } = a;
  const startedAt = ctx.clock.now();
  const t0 = ctx.clock.monotonic();
  const random = seededRandom(opts.seed);
  const spec = opts.sample ?? { kind: 'files', value: FLEET_SAMPLE_FILES };
  const maxBytes = opts.maxBytes ?? (spec.kind === 'bytes' ? spec.value : DEFAULT_MAX_BYTES);
  const sampler = new FileSampler<{ path: string; size: number; mode?: number; hash?: string | null }>(random);
  let listingProblem: string | undefined;
  try {
    for await (const { path, node } of walkTree(a.replica.reader, snap.tree)) {
      ctx.signal?.throwIfAborted();
      if (node.type === 'file') sampler.offer({ path, size: node.size, mode: node.mode, hash: node.hash ?? null });
    }
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    // A tree that cannot be read is damage the test reports (the snapshot fails its structure check).
    listingProblem = `the snapshot's tree cannot be listed: ${errorMessage(err)}`;
  }
  const files = listingProblem === undefined ? sampler.pick(sampleLimit(spec, sampler.offered, 1, maxBytes)) : [];
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const scratch = makeScratch(resolve(ctx.cwd, opts.scratch), bytes);
  let tested;
  try {
    tested = await testReplica({ ...a.replica, snapshots: new Map([[snap.id, snap]]) }, [{ snapshot: snap, files, ...(listingProblem === undefined ? {} : { listingProblem }) }], {
      dir: join(scratch, 't'),
      overheadMs: a.overheadMs,
      monotonic: () => ctx.clock.monotonic(),
      signal: ctx.signal,
      onProgress: (p) => ctx.emit?.({ type: 'progress', job: 'restore-test', target: `${snap.host}/${snap.policy}`, ...p }),
      onReRead: (r) => ctx.emit?.({ type: 'pack-reread', target: a.target, pack: r.pack, reason: r.reason }),
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const t: TargetTestResult = { ...tested, target: a.target, location: a.location, reachable: true, durationMs: a.overheadMs + ctx.clock.monotonic() - t0 };
  const finishedAt = ctx.clock.now();
  const result: RestoreTestResult = {
    policy: snap.policy,
    host: snap.host,
    timezone: 'UTC',
    seed: opts.seed,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: ctx.clock.monotonic() - t0,
    sample: { spec, snapshots: 'latest', maxBytes, files: files.length, bytes, snapshotList: [{ id: snap.id, time: snap.time, listing: listingProblem === undefined ? 'tree' : 'unavailable', candidates: sampler.offered, files: files.map((f) => ({ path: f.path, size: f.size })), bytes, ...(listingProblem === undefined ? {} : { note: listingProblem }) }] },
    previous: null,
    everyMs: 30 * DAY,
    overdue: false,
    targets: [t],
    ok: t.ok,
    exitCode: t.ok ? ExitCode.OK : ExitCode.FINDING,
    runId: 0,
    journal: { id: '', failed: [] },
  };
  result.journal = await writeJournal([a.replica.reader.repo], restoreTestJournal(snap.policy, snap.host, result, startedAt, finishedAt));
  return result;
}
