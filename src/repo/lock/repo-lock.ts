import { randomSecret, randomToken } from '../../core/token.js';
import { hostname } from 'node:os';
import { sleep } from '../../core/clock.js';
import { describeLockHolder, formatAge, type LockHolder } from '../../core/describe.js';
import { errnoCode, TriadError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import { isNotFound } from '../../backends/storage.js';
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
  const host = opts.host ?? hostname();
  const alive = opts.isAlive ?? isProcessAlive;
  const now = opts.clock.now().getTime();
  const storageNow = await storageTime(repo, opts.signal);
  const out: LockInfo[] = [];
  for await (const o of repo.storage.list('locks/', { signal: opts.signal })) {
    const id = o.name.slice('locks/'.length);
    if (!ID_RE.test(id)) continue;
    let record: LockRecord;
    try {
      record = await repo.loadManifest(LOCK_AAD, 'locks', id, decodeLockRecord);
    } catch (err) {
      // Removed between list and load (released or refreshed): it no longer exists.
      if (isNotFound(err) || isNotFound((err as { cause?: unknown }).cause)) continue;
      out.push({ name: o.name, id, stale: true, staleReason: 'cannot be opened', error: err instanceof Error ? err.message : String(err) });
      continue;
    }
    let staleReason = expiry(record, o.modified, storageNow, now);
    if (staleReason === undefined && record.host === host && !alive(record.pid)) staleReason = `process ${record.pid} no longer runs on ${host}`;
    out.push({ name: o.name, id, record, stale: staleReason !== undefined, staleReason });
  }
  return out.sort((a, b) => ((a.record?.time ?? '') < (b.record?.time ?? '') ? -1 : 1));
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
    try {
      await this.repo.storage.stat(this.name);
    } catch (err) {
      if (isNotFound(err)) return this.lose(`its lock object ${this.name} was removed by another process (triad unlock?)`);
      return this.checkExpired(now);
    }
    const next: LockRecord = { ...this.record, refreshed: now.toISOString(), expires: new Date(now.getTime() + this.opts.staleAfter).toISOString() };
    try {
      const id = await writeLock(this.repo, next, this.opts.signal);
      const old = this.name;
      this.record = next;
      this.current = id;
      await this.repo.storage.remove(old).catch(() => undefined);
    } catch {
      this.checkExpired(now);
    }
  }

  private checkExpired(now: Date): void {
    if (Date.parse(this.record.expires) <= now.getTime()) this.lose('it expired before it could be refreshed');
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
  }
}

async function writeLock(repo: Repository, record: LockRecord, signal?: AbortSignal): Promise<string> {
  const { plaintext, sealed } = repo.sealObject(LOCK_AAD, record);
  const id = repo.manifestId(plaintext);
  await repo.storage.save(`locks/${id}`, sealed, { signal });
  return id;
}

/**
 * Takes a lock on one replica (restic's protocol): look for conflicting live locks; write
 * ours; look again, and back off if a conflicting lock appeared meanwhile. Locks left by a
 * process that died on this host are removed on the way. With `wait`, conflicts are
 * retried until the deadline, then E_REPO_LOCKED (exit 11) names the holder.
 */
export async function acquireLock(repo: Repository, kind: LockKind, opts: LockOptions): Promise<RepoLock> {
  const staleAfter = opts.staleAfter ?? DEFAULT_STALE_AFTER;
  const host = opts.host ?? hostname();
  const wait = opts.wait ?? 0;
  const t0 = opts.clock.monotonic();
  const view = { clock: opts.clock, host, isAlive: opts.isAlive, signal: opts.signal };
  for (let attempt = 0; ; attempt++) {
    opts.signal?.throwIfAborted();
    const locks = await listLocks(repo, view);
    await removeDeadOnThisHost(repo, locks, host);
    let holder = locks.find((l) => !l.stale && l.record && conflicts(kind, l.record.kind));
    if (!holder) {
      const now = opts.clock.now();
      const record: LockRecord = {
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
      const id = await writeLock(repo, record, opts.signal);
      const again = await listLocks(repo, view);
      holder = again.find((l) => l.id !== id && !l.stale && l.record && conflicts(kind, l.record.kind));
      if (!holder) return new RepoLock(repo, record, id, { ...opts, host, staleAfter });
      await repo.storage.remove(`locks/${id}`).catch(() => undefined);
    }
    const waited = opts.clock.monotonic() - t0;
    if (waited >= wait) throw lockedError(repo, holder, opts.clock.now(), wait > 0 ? waited : 0);
    // Jitter breaks the tie when two processes keep backing off from each other.
    const poll = Math.min(opts.pollEvery ?? 5000, wait - waited) * (0.75 + (randomSecret(1)[0]! / 255) * 0.5);
    await sleep(Math.max(10, poll), opts.signal);
    if (attempt > 1_000_000) throw lockedError(repo, holder, opts.clock.now(), waited);
  }
}

async function removeDeadOnThisHost(repo: Repository, locks: LockInfo[], host: string): Promise<void> {
  for (const l of locks) {
    if (l.stale && l.record?.host === host && l.staleReason?.startsWith('process ')) await repo.storage.remove(l.name).catch(() => undefined);
  }
}

/** Removes stale locks (or, with `all`, every lock); returns what was removed. */
export async function removeLocks(repo: Repository, opts: Pick<LockOptions, 'clock' | 'host' | 'isAlive' | 'signal'> & { all?: boolean }): Promise<{ removed: LockInfo[]; kept: LockInfo[] }> {
  const locks = await listLocks(repo, opts);
  const removed: LockInfo[] = [];
  const kept: LockInfo[] = [];
  for (const l of locks) {
    if (opts.all || l.stale) {
      await repo.storage.remove(l.name, { signal: opts.signal });
      removed.push(l);
    } else kept.push(l);
  }
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
