// The public API of repo/backup: what the rest of triad may import from it.
export { type ArchiveSource, Archiver, type BackupWarning, estimateSources } from './archiver.js';
export { StatAhead } from './stat-ahead.js';
export { MultiTargetWriter, type TargetSession } from './writer.js';
