// The public API of repo/restore: what the rest of triad may import from it.
export { dumpTar } from './dump.js';
export { type RestoreResult, restoreTree } from './restorer.js';
export { type FailureKind, restoreAndVerify } from './verify-restore.js';
export { keyedFileHash } from './file-hash.js';
export { type FileTestResult, type ReplicaTestResult, type SampleSnapshot, type SnapshotStructureResult, type SourceComparison, type TestReplica, openTestReplica, testReplica } from './replica-test.js';
