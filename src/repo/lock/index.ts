// The public API of repo/lock: the repository's locks (seen by every host) and the local job lock.
export { type LockInfo, type LockKind, type LockOptions, type RepoLock, acquireEachLock, acquireLock, decodeLockRecord, describeHolder, holderAgeMs, listLocks, lockHolder, removeLocks, withRepoLocks } from './repo-lock.js';
export { type JobLock, acquireJobLock, parseJobLock } from './job-lock.js';
