// The public API of repo/maintenance: what the rest of triad may import from it.
export { DEFAULT_UNINDEXED_GRACE, type PruneOptions, type PrunePlan, type PruneResult, executePrune, planPrune, removeStaleTemporary } from './prune.js';
export { type RepairIndexResult, repairIndex } from './repair-index.js';
export { applyRetention, hasRetentionRules } from './retention.js';
export { FileSampler, type SnapshotSelector, selectSnapshots } from './sample-plan.js';
export { type BlobSource, type LostBlob, type LostFile, type PackToRepair, type RepairPacksResult, type RepairedPack, filesNeeding, loadIndexForRepair, repairPacks } from './repair-packs.js';
