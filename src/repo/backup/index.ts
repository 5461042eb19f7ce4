// The public API of repo/backup: what the rest of triad may import from it.
export { type BackupWarning, type FileRecord, estimateSources } from './archiver.js';
export type { ArchiveSource } from './source-tree.js';
export { type SnapshotEvents, type SnapshotOptions, type SnapshotProgress, type SnapshotRun, type SnapshotTarget, type TargetOutcome, runSnapshot } from './commit.js';
export { type WrittenPack } from './writer.js';
export { type ExcludeMatcher, makeExcludeMatcher } from './exclude.js';
export { type Exclusion, type ExclusionRule, SourceFilter } from './source-filter.js';
