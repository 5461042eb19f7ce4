import { accessSync, constants as fsConstants, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { errnoCode, fsError, TriadError } from '../core/errors.js';
import { CATALOG_ELSEWHERE_HINT } from '../catalog/catalog.js';
import type { Policy } from '../policy/types.js';
import { acquireEachLock, acquireJobLock, withRepoLocks, type JobLock, type LockKind, type LockOptions, type RepoLock } from '../repo/lock/index.js';
import type { Repository } from '../repo/repository.js';
import { catalogPathFor, hostName, userName, type AppContext } from './session.js';

/**
 * How use cases take locks:
 * - repository locks on every replica they touch: backup, copy, restore-test, restore, dump,
 *   ls, check, and the dry runs of forget, prune and repair packs → 'shared'; forget, prune, repair index, repair packs
 *   → 'exclusive';
 * - the local job lock, `<catalogue dir>/locks/<policy>.<command>.lock`, taken with the
 *   repository locks by withPolicyLocks and withEachPolicyLock, so two runs of the same
 *   command of one policy on this host never overlap (a slow cron run and the next).
 */
export interface LockRequest {
  command: string;
  /** Wait this long (ms) for a conflicting lock instead of failing at once (--wait). */
  wait?: number;
}

export function lockOptions(ctx: AppContext, policy: Policy, req: LockRequest): LockOptions {
  return {
    clock: ctx.clock,
    host: hostName(policy),
    username: userName(),
    command: req.command,
    policy: policy.name,
    wait: req.wait ?? 0,
    pollEvery: Math.min(5000, Math.max(200, Math.floor((req.wait ?? 0) / 10))),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    ...(ctx.lockStaleAfterMs !== undefined ? { staleAfter: ctx.lockStaleAfterMs } : {}),
  };
}

export function jobLockFile(ctx: AppContext, policy: Policy, command: string): string {
  return join(dirname(catalogPathFor(ctx, policy)), 'locks', `${policy.name}.${command}.lock`);
}

export function takeJobLock(ctx: AppContext, policy: Policy, command: string): JobLock {
  const file = jobLockFile(ctx, policy, command);
  // Taken already by this process, before the job's hooks ran: the caller releases it.
  if (ctx.heldJobLocks?.includes(command)) return { file, release: () => undefined };
  try {
    return acquireJobLock(file, { clock: ctx.clock, host: hostName(policy), command, policy: policy.name });
  } catch (err) {
    if (err instanceof TriadError || errnoCode(err) === undefined) throw err;
    throw catalogDirectoryError(file, catalogPathFor(ctx, policy), err);
  }
}

/**
 * The job lock lives beside the catalogue, so a read-only or foreign catalogue directory
 * stops the run before anything is written. A recursive mkdir on a read-only file system
 * reports ENOENT; the directory's own access check names the real cause.
 */
function catalogDirectoryError(file: string, catalog: string, err: unknown): TriadError {
  let cause = err;
  try {
    accessSync(nearestExisting(dirname(file)), fsConstants.W_OK);
  } catch (accessErr) {
    cause = accessErr;
  }
  const { message } = fsError(cause, `job lock ${file}, beside the catalogue ${catalog}`);
  return new TriadError('E_CATALOG', message, { hint: CATALOG_ELSEWHERE_HINT, cause });
}

function nearestExisting(dir: string): string {
  let d = dir;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  return d;
}

/**
 * Runs `fn` holding the job lock and `kind` locks on every repository given; everything is
 * released when `fn` settles (also on error or SIGINT/SIGTERM). `fn` gets a signal that
 * aborts on the user's signal or when a repository lock is lost.
 */
export async function withPolicyLocks<T>(
  ctx: AppContext,
  policy: Policy,
  repos: readonly Repository[],
  kind: LockKind,
  req: LockRequest,
  fn: (signal: AbortSignal, locks: RepoLock[]) => Promise<T>,
): Promise<T> {
  const job = takeJobLock(ctx, policy, req.command);
  try {
    return await withRepoLocks(repos, kind, lockOptions(ctx, policy, req), fn);
  } finally {
    job.release();
  }
}

/**
 * For a run that goes on without the replicas whose lock cannot be written: `fn` gets the
 * locks held and the error of each replica left out, and watches each lock's `lost` signal
 * itself (losing one replica's lock need not stop the others). The caller holds the job
 * lock (see underJobLock).
 */
export async function withEachRepoLock<T>(
  ctx: AppContext,
  policy: Policy,
  repos: readonly Repository[],
  kind: LockKind,
  req: LockRequest,
  fn: (locks: RepoLock[], failed: Map<Repository, unknown>) => Promise<T>,
): Promise<T> {
  const { held, failed } = await acquireEachLock(repos, kind, lockOptions(ctx, policy, req));
  try {
    return await fn(held, failed);
  } finally {
    await Promise.all(held.map((l) => l.release()));
  }
}
