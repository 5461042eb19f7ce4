// The public API of repo/lock: what the rest of triad may import from it.
export { type JobLock, type LockInfo, type LockKind, type LockOptions, type RepoLock, acquireEachLock, acquireJobLock, acquireLock, describeHolder, removeLocks, withRepoLocks } from './lock.js';
