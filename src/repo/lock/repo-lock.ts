import { randomSecret, randomToken } from '../../core/token.js';
import { hostname } from 'node:os';
import { sleep } from '../../core/clock.js';
import { describeLockHolder, formatAge, type LockHolder } from '../../core/describe.js';
import { errnoCode, TriadError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import { isNotFound, StorageError, type ObjectInfo, type Storage } from '../../backends/storage.js';
import { ID_RE } from '../format.js';
import type { Repository } from '../repository.js';

/**
 * Repository locks (`locks/<id>`, docs/FORMAT.md §14), seen by every host sharing the repository.
 *
 * A lock object is a sealed JSON record (AAD "triad:lock") named by the keyed hash of its
 * plaintext, like snapshots. Shared locks (backup, restore, check) exclude only exclusive
 * ones (prune, forget); an exclusive lock excludes every other lock. A lock is refreshed
 * while held by writing a new object and removing the previous one, so nothing is ever
 * modified in place. A lock is stale when it was not refreshed for its lifetime (`expires` −
 * `refreshed`), or when it was taken on this host by a process that no longer exists; stale
 * locks never block anyone. On object stores the age is the store's own: its time now (the
 * HTTP Date of an answer) minus the object's Last-Modified, so no host's clock counts and a
 * host whose clock runs hours ahead cannot take over a live lock. Elsewhere `expires` is
 * compared with this machine's clock.
 */
export type LockKind = 'shared' | 'exclusive';

export const LOCK_AAD = Buffer.from('triad:lock');
/** A lock not refreshed for this long is stale (restic uses 30 minutes too). */
export const DEFAULT_STALE_AFTER = 30 * 60_000;

export interface LockRecord {
  version: 1;
  kind: LockKind;
  host: string;
  pid: number;
  username?: string;
  /** The command holding it, e.g. 'backup', 'prune'. */
  command?: string;
  policy?: string;
  /** When the lock was first taken (kept across refreshes). */
  time: string;
  /** When this object was written. */
  refreshed: string;
  /** After this instant the lock is stale. */
  expires: string;
  /** Random, so two locks taken in the same millisecond get different names. */
  nonce: string;
}

export interface LockInfo {
  /** Object name, `locks/<id>`. */
  name: string;
  id: string;
  /** Undefined when the object cannot be opened (damaged, or another repository's). */
  record?: LockRecord;
  stale: boolean;
  staleReason?: string;
  error?: string;
}

export interface LockOptions {
  clock: Clock;
  /** Host name written into the lock (the policy's `host`, else the OS host name). */
  host?: string;
  pid?: number;
  username?: string;
  command?: string;
  policy?: string;
  /** Wait up to this many ms for a conflicting lock to go away (0: fail at once). */
  wait?: number;
  /** How often to look again while waiting (default 5 s, at most `wait`). */
  pollEvery?: number;
  signal?: AbortSignal;
  /** A lock is stale this long after its last refresh (default 30 min). */
  staleAfter?: number;
  /** Refresh interval while held (default staleAfter / 6). 0 disables the timer (tests). */
  refreshEvery?: number;
  /** Whether a pid is alive on this host (tests may pin it). */
  isAlive?: (pid: number) => boolean;
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

function conflicts(a: LockKind, b: LockKind): boolean {
  return a === 'exclusive' || b === 'exclusive';
}

/** The fields that judge a lock live or stale, checked; a record without them is damage. */
export function decodeLockRecord(value: unknown): LockRecord {
  const r = value as LockRecord;
  const ok = typeof r === 'object' && r !== null && (r.kind === 'shared' || r.kind === 'exclusive') && typeof r.host === 'string' && Number.isSafeInteger(r.pid) && typeof r.time === 'string' && typeof r.expires === 'string';
  if (!ok) throw new TriadError('E_INTEGRITY', 'the lock record lacks its kind, host, pid or times');
  return r;
}

/** Every lock object of the replica, opened and judged stale or live. */
export async function listLocks(repo: Repository, opts: Pick<LockOptions, 'clock' | 'host' | 'isAlive' | 'signal'>): Promise<LockInfo[]> {
  return (await scanLocks(repo, opts)).locks;
}

/** An exclusive claim, `locks/exclusive-<epoch>`: a lock object whose name is fixed, so only one process can create it. */
export interface ClaimInfo extends LockInfo {
  epoch: number;
}

const CLAIM_RE = /^exclusive-(\d{1,15})$/;
const PROBE_RE = /^probe-[0-9a-f]{16}$/;

function claimName(epoch: number): string {
  return `locks/exclusive-${epoch}`;
}

/**
 * One listing of `locks/`: the per-holder lock objects (named by their keyed hash) and the
 * exclusive claims (named by epoch), each opened and judged stale or live.
 */
async function scanLocks(repo: Repository, opts: Pick<LockOptions, 'clock' | 'host' | 'isAlive' | 'signal'>): Promise<LockScan> {
  const judge = { host: opts.host ?? hostname(), alive: opts.isAlive ?? isProcessAlive, now: opts.clock.now().getTime(), storageNow: await storageTime(repo, opts.signal) };
  const locks: LockInfo[] = [];
  const claims: ClaimInfo[] = [];
  const probes: string[] = [];
  for await (const o of repo.storage.list('locks/', { signal: opts.signal })) {
    const id = o.name.slice('locks/'.length);
    const claim = CLAIM_RE.exec(id);
    if (PROBE_RE.test(id)) probes.push(o.name);
    else if (claim) {
      const info = await openLock(repo, o, id, () => repo.loadObject<unknown>(LOCK_AAD, o.name).then(decodeLockRecord), judge);
      if (info) claims.push({ ...info, epoch: Number(claim[1]) });
    } else if (ID_RE.test(id)) {
      const info = await openLock(repo, o, id, () => repo.loadManifest(LOCK_AAD, 'locks', id, decodeLockRecord), judge);
      if (info) locks.push(info);
    }
  }
  return { locks: locks.sort((a, b) => ((a.record?.time ?? '') < (b.record?.time ?? '') ? -1 : 1)), claims, probes };
}

interface LockScan {
  locks: LockInfo[];
  claims: ClaimInfo[];
  /** Conditional-create probes (`locks/probe-<random>`), left behind only by a process killed while probing. */
  probes: string[];
}

interface Judge {
  host: string;
  alive: (pid: number) => boolean;
  now: number;
  storageNow: number | undefined;
}

/** Loads one listed lock object and judges it; undefined when it was removed between list and load. */
async function openLock(repo: Repository, o: ObjectInfo, id: string, load: () => Promise<LockRecord>, judge: Judge): Promise<LockInfo | undefined> {
  let record: LockRecord;
  try {
    record = await load();
  } catch (err) {
    // Removed between list and load (released or refreshed): it no longer exists.
    if (isNotFound(err) || isNotFound((err as { cause?: unknown }).cause)) return undefined;
    return { name: o.name, id, stale: true, staleReason: 'cannot be opened', error: err instanceof Error ? err.message : String(err) };
  }
  let staleReason = expiry(record, o.modified, judge.storageNow, judge.now);
  if (staleReason === undefined && record.host === judge.host && !judge.alive(record.pid)) staleReason = `process ${record.pid} no longer runs on ${judge.host}`;
  return { name: o.name, id, record, stale: staleReason !== undefined, staleReason };
}

/** The store's time now, where it has a clock of its own (object stores); undefined elsewhere or when it cannot be read. */
async function storageTime(repo: Repository, signal: AbortSignal | undefined): Promise<number | undefined> {
  if (!repo.storage.serverTime) return undefined;
  const at = await repo.storage.serverTime({ signal }).catch(() => undefined);
  return at === undefined ? undefined : at.getTime();
}

/**
 * Why a lock is past its lifetime, or undefined while it is live: by the store's clock when
 * the store gives both its time and the object's, else by `expires` against this machine's.
 */
function expiry(record: LockRecord, modified: Date | undefined, storageNow: number | undefined, now: number): string | undefined {
  if (modified !== undefined && storageNow !== undefined) {
    const lifetime = Date.parse(record.expires) - Date.parse(record.refreshed);
    const life = Number.isFinite(lifetime) && lifetime > 0 ? lifetime : DEFAULT_STALE_AFTER;
    // Last-Modified and Date are whole seconds: a second of slack either way.
    const age = storageNow - modified.getTime();
    return age > life + 1000 ? `not refreshed for ${formatAge(age)} by the storage's clock (a lock lives ${formatAge(life)} without a refresh)` : undefined;
  }
  return Date.parse(record.expires) > now ? undefined : `expired at ${record.expires}`;
}

export function lockHolder(r: LockRecord): LockHolder {
  return { host: r.host, pid: r.pid, kind: r.kind, ...(r.command ? { command: r.command } : {}), since: r.time };
}

export function holderAgeMs(r: LockRecord, now: Date): number {
  return Math.max(0, now.getTime() - Date.parse(r.time));
}

export function describeHolder(r: LockRecord, now: Date): string {
  return describeLockHolder(lockHolder(r), holderAgeMs(r, now));
}


function lockedError(repo: Repository, holder: LockInfo, now: Date, waited: number): TriadError {
  const r = holder.record!;
  return new TriadError('E_REPO_LOCKED', `target '${repo.target}' is locked by ${describeHolder(r, now)}${waited > 0 ? `; gave up after waiting ${formatAge(waited)}` : ''}`, {
    hint: `wait for it to finish or pass --wait 10m; if that process is gone, run 'triad unlock -p POLICY --target ${repo.target}'`,
    details: { target: repo.target, holder: { host: r.host, pid: r.pid, kind: r.kind, command: r.command, since: r.time } },
  });
}

/** A lock held on one replica; refreshed by a timer until `release`. */
export class RepoLock {
  private timer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();
  private released = false;
  private readonly lostController = new AbortController();

  constructor(
    readonly repo: Repository,
    private record: LockRecord,
    private current: string,
    private readonly opts: LockOptions & { staleAfter: number },
    /** The epoch of the exclusive claim this lock holds, on stores that enforce conditional writes. */
    private readonly epoch?: number,
  ) {
    const every = opts.refreshEvery ?? Math.floor(opts.staleAfter / 6);
    if (every > 0) {
      this.timer = setInterval(() => void this.refresh(), every);
      this.timer.unref();
    }
  }

  get kind(): LockKind {
    return this.record.kind;
  }

  /** Object name of the current lock object. */
  get name(): string {
    return `locks/${this.current}`;
  }

  /** Aborted (with an E_REPO_LOCKED reason) when the lock was lost: removed by someone else or expired unrefreshed. */
  get lost(): AbortSignal {
    return this.lostController.signal;
  }

  /** Writes a fresh lock object, then removes the previous one. Serialised with release. */
  refresh(): Promise<void> {
    this.chain = this.chain.then(() => this.doRefresh());
    return this.chain;
  }

  private async doRefresh(): Promise<void> {
    if (this.released || this.lost.aborted) return;
    const now = this.opts.clock.now();
    // Past its lifetime by this host's clock, another host may already have taken it over.
    if (Date.parse(this.record.expires) <= now.getTime()) return this.lose('it expired before it could be refreshed');
    try {
      await this.repo.storage.stat(this.name);
      if (this.epoch !== undefined) await this.repo.storage.stat(claimName(this.epoch));
    } catch (err) {
      if (isNotFound(err)) return this.lose(`its lock object ${this.name} was removed by another process (triad unlock?)`);
      return;
    }
    const next: LockRecord = { ...this.record, refreshed: now.toISOString(), expires: new Date(now.getTime() + this.opts.staleAfter).toISOString() };
    try {
      if (this.epoch !== undefined) await this.refreshClaim(this.epoch, next);
      if (this.lost.aborted) return;
      const id = await writeLock(this.repo, next, this.opts.signal);
      const old = this.name;
      this.record = next;
      this.current = id;
      await this.repo.storage.remove(old).catch(() => undefined);
    } catch {
      // Tried again at the next refresh; the lifetime check above gives up in time.
    }
  }

  /**
   * Rewrites the claim in place, then looks for the next epoch's: a taker that found this
   * claim stale (its holder stalled past the lifetime) may have created it, and then the lock
   * is lost. Checked after the write, so a write that lands late is still caught.
   */
  private async refreshClaim(epoch: number, next: LockRecord): Promise<void> {
    await this.repo.storage.save(claimName(epoch), this.repo.sealObject(LOCK_AAD, next).sealed, { signal: this.opts.signal });
    try {
      await this.repo.storage.stat(claimName(epoch + 1));
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    this.lose(`another process took the exclusive lock over as ${claimName(epoch + 1)} after this one went unrefreshed`);
  }

  private lose(why: string): void {
    this.lostController.abort(new TriadError('E_REPO_LOCKED', `lost the ${this.record.kind} lock on target '${this.repo.target}': ${why}`, { hint: 'run the command again' }));
  }

  /** Stops refreshing and removes the lock object. Idempotent; never throws. */
  async release(): Promise<void> {
    if (this.released) return;
    if (this.timer) clearInterval(this.timer);
    await this.chain.catch(() => undefined);
    this.released = true;
    await this.repo.storage.remove(this.name).catch(() => undefined);
    // The claim last, so another exclusive taker never finds a claim free while our lock object remains.
    if (this.epoch !== undefined) await this.repo.storage.remove(claimName(this.epoch)).catch(() => undefined);
  }
}

async function writeLock(repo: Repository, record: LockRecord, signal?: AbortSignal): Promise<string> {
  const { plaintext, sealed } = repo.sealObject(LOCK_AAD, record);
  const id = repo.manifestId(plaintext);
  await repo.storage.save(`locks/${id}`, sealed, { signal });
  return id;
}

const conditionalCreates = new WeakMap<Storage, Promise<boolean>>();
const PROBE_BYTES = Buffer.from('triad conditional-create probe\n');

/**
 * Whether the store refuses an `ifAbsent` save over an existing object (local paths, Azure,
 * S3 and GCS do; some emulators and S3-compatible stores ignore the condition). Probed once
 * per opened store with a throw-away object under locks/, which lock readers skip.
 */
function enforcesIfAbsent(storage: Storage, signal?: AbortSignal): Promise<boolean> {
  let known = conditionalCreates.get(storage);
  if (!known) {
    known = probeIfAbsent(storage, signal);
    conditionalCreates.set(storage, known);
    known.catch(() => conditionalCreates.delete(storage));
  }
  return known;
}

async function probeIfAbsent(storage: Storage, signal?: AbortSignal): Promise<boolean> {
  const name = `locks/probe-${randomToken(8)}`;
  try {
    await storage.save(name, PROBE_BYTES, { signal, ifAbsent: true });
    await storage.save(name, PROBE_BYTES, { signal, ifAbsent: true });
    return false;
  } catch (err) {
    // On the first save too: a retried save whose first attempt landed finds its own object.
    if (isExists(err)) return true;
    throw err;
  } finally {
    await storage.remove(name, { signal }).catch(() => undefined);
  }
}

function isExists(err: unknown): boolean {
  return err instanceof StorageError && err.kind === 'exists';
}

/** Creates the claim of `epoch` for `record`; false when another process created it first. */
async function createClaim(repo: Repository, epoch: number, record: LockRecord, signal?: AbortSignal): Promise<boolean> {
  try {
    await repo.storage.save(claimName(epoch), repo.sealObject(LOCK_AAD, record).sealed, { signal, ifAbsent: true });
    return true;
  } catch (err) {
    if (!isExists(err)) throw err;
    // A retried save whose first attempt landed reports 'exists' for our own claim.
    return (await loadClaim(repo, epoch))?.nonce === record.nonce;
  }
}

/** The record of a claim, or undefined when it is gone or cannot be opened. */
async function loadClaim(repo: Repository, epoch: number): Promise<LockRecord | undefined> {
  try {
    return decodeLockRecord(await repo.loadObject<unknown>(LOCK_AAD, claimName(epoch)));
  } catch {
    return undefined;
  }
}

function newRecord(kind: LockKind, host: string, staleAfter: number, opts: LockOptions): LockRecord {
  const now = opts.clock.now();
  return {
    version: 1,
    kind,
    host,
    pid: opts.pid ?? process.pid,
    ...(opts.username !== undefined ? { username: opts.username } : {}),
    ...(opts.command !== undefined ? { command: opts.command } : {}),
    ...(opts.policy !== undefined ? { policy: opts.policy } : {}),
    time: now.toISOString(),
    refreshed: now.toISOString(),
    expires: new Date(now.getTime() + staleAfter).toISOString(),
    nonce: randomToken(8),
  };
}

/** A live lock of another process that `kind` conflicts with: a per-holder object or a claim. */
function liveConflict(kind: LockKind, seen: LockScan, ours: readonly string[] = []): LockInfo | undefined {
  const other = (l: LockInfo): boolean => !ours.includes(l.name) && !l.stale && l.record !== undefined;
  return seen.locks.find((l) => other(l) && conflicts(kind, l.record!.kind)) ?? seen.claims.find(other);
}

/**
 * Takes a lock on one replica (docs/FORMAT.md §14). Look for conflicting live locks. An
 * exclusive taker then creates the claim of the next epoch with a conditional write, which
 * exactly one of several racing takers gets (on a store that ignores conditions every taker
 * goes on, and the listing below settles it as before). Write the lock object; look again,
 * and back off if a conflicting lock appeared meanwhile (restic's protocol, which settles
 * shared against exclusive). Locks left by a process that died on this host are removed on
 * the way. With `wait`, conflicts are retried until the deadline, then E_REPO_LOCKED (exit
 * 11) names the holder.
 */
export async function acquireLock(repo: Repository, kind: LockKind, opts: LockOptions): Promise<RepoLock> {
  const staleAfter = opts.staleAfter ?? DEFAULT_STALE_AFTER;
  const host = opts.host ?? hostname();
  const wait = opts.wait ?? 0;
  const t0 = opts.clock.monotonic();
  const view = { clock: opts.clock, host, isAlive: opts.isAlive, signal: opts.signal };
  const useClaims = kind === 'exclusive' && (await enforcesIfAbsent(repo.storage, opts.signal));
  for (let attempt = 0; ; attempt++) {
    opts.signal?.throwIfAborted();
    const seen = await scanLocks(repo, view);
    await removeDeadOnThisHost(repo, seen.locks, host);
    let holder = liveConflict(kind, seen);
    if (!holder) {
      const record = newRecord(kind, host, staleAfter, opts);
      const epoch = useClaims ? Math.max(0, ...seen.claims.map((c) => c.epoch)) + 1 : undefined;
      if (epoch !== undefined && !(await createClaim(repo, epoch, record, opts.signal))) {
        const winner = await loadClaim(repo, epoch);
        // Gone already (its taker backed off or finished): look again at once.
        if (!winner) continue;
        holder = { name: claimName(epoch), id: `exclusive-${epoch}`, record: winner, stale: false };
      } else {
        const claim = epoch === undefined ? undefined : claimName(epoch);
        const id = await writeLock(repo, record, opts.signal);
        const again = await scanLocks(repo, view);
        holder = liveConflict(kind, again, [`locks/${id}`, ...(claim ? [claim] : [])]);
        if (!holder) {
          if (epoch !== undefined) await removeLeftovers(repo, again, epoch);
          return new RepoLock(repo, record, id, { ...opts, host, staleAfter }, epoch);
        }
        await repo.storage.remove(`locks/${id}`).catch(() => undefined);
        if (claim) await repo.storage.remove(claim).catch(() => undefined);
      }
    }
    const waited = opts.clock.monotonic() - t0;
    if (waited >= wait) throw lockedError(repo, holder, opts.clock.now(), wait > 0 ? waited : 0);
    // Jitter breaks the tie when two processes keep backing off from each other.
    const poll = Math.min(opts.pollEvery ?? 5000, wait - waited) * (0.75 + (randomSecret(1)[0]! / 255) * 0.5);
    await sleep(Math.max(10, poll), opts.signal);
    if (attempt > 1_000_000) throw lockedError(repo, holder, opts.clock.now(), waited);
  }
}

/**
 * Once an epoch is won, the claims before it are stale leftovers, and so are probes: another
 * process probing now would lose to this lock anyway, and without its probe it only falls back
 * to write-then-list. Removing them keeps `locks/` short.
 */
async function removeLeftovers(repo: Repository, seen: LockScan, epoch: number): Promise<void> {
  const names = [...seen.claims.filter((c) => c.epoch < epoch).map((c) => c.name), ...seen.probes];
  for (const name of names) await repo.storage.remove(name).catch(() => undefined);
}

async function removeDeadOnThisHost(repo: Repository, locks: LockInfo[], host: string): Promise<void> {
  for (const l of locks) {
    if (l.stale && l.record?.host === host && l.staleReason?.startsWith('process ')) await repo.storage.remove(l.name).catch(() => undefined);
  }
}

/** Removes stale locks (or, with `all`, every lock) and likewise claims; returns the locks removed. */
export async function removeLocks(repo: Repository, opts: Pick<LockOptions, 'clock' | 'host' | 'isAlive' | 'signal'> & { all?: boolean }): Promise<{ removed: LockInfo[]; kept: LockInfo[] }> {
  const { locks, claims } = await scanLocks(repo, opts);
  const removed: LockInfo[] = [];
  const kept: LockInfo[] = [];
  for (const l of locks) {
    if (opts.all || l.stale) {
      await repo.storage.remove(l.name, { signal: opts.signal });
      removed.push(l);
    } else kept.push(l);
  }
  // A claim only repeats its holder's lock object: removed alongside, not reported.
  for (const c of claims) if (opts.all || c.stale) await repo.storage.remove(c.name, { signal: opts.signal });
  return { removed, kept };
}

/**
 * Runs `fn` while holding `kind` locks on every replica given (taken in target-name order,
 * released in `finally`, also on error and on abort). `fn` receives a signal that aborts
 * when the caller's signal does or when any lock is lost.
 */
export async function withRepoLocks<T>(repos: readonly Repository[], kind: LockKind, opts: LockOptions, fn: (signal: AbortSignal, locks: RepoLock[]) => Promise<T>): Promise<T> {
  const held: RepoLock[] = [];
  try {
    for (const r of inTargetOrder(repos)) held.push(await acquireLock(r, kind, opts));
    const signals = held.map((l) => l.lost);
    if (opts.signal) signals.push(opts.signal);
    return await fn(signals.length ? AbortSignal.any(signals) : new AbortController().signal, held);
  } finally {
    await Promise.all(held.map((l) => l.release()));
  }
}

/**
 * Takes `kind` locks on the replicas like withRepoLocks, but a replica whose lock cannot be
 * written (full, read-only or unreachable storage) is left out with its error instead of
 * failing the call, so a backup goes on with the others. A lock held by another process
 * still fails the call (E_REPO_LOCKED, exit 11), as do the caller's abort and a failure on
 * every replica. The caller releases the locks it gets.
 */
export async function acquireEachLock(repos: readonly Repository[], kind: LockKind, opts: LockOptions): Promise<{ held: RepoLock[]; failed: Map<Repository, unknown> }> {
  const held: RepoLock[] = [];
  const failed = new Map<Repository, unknown>();
  try {
    for (const r of inTargetOrder(repos)) {
      try {
        held.push(await acquireLock(r, kind, opts));
      } catch (err) {
        if (opts.signal?.aborted || (err instanceof TriadError && err.code === 'E_REPO_LOCKED')) throw err;
        failed.set(r, err);
      }
    }
  } catch (err) {
    await Promise.all(held.map((l) => l.release()));
    throw err;
  }
  if (held.length === 0 && failed.size > 0) throw failed.values().next().value;
  return { held, failed };
}

/** Locks are taken in target-name order, so two processes never wait for each other crosswise. */
function inTargetOrder(repos: readonly Repository[]): Repository[] {
  return [...repos].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}

// ---- local job lock --------------------------------------------------------------------
