// The public API of repo/maintenance: what the rest of triad may import from it.
export { DEFAULT_UNINDEXED_GRACE, type PruneOptions, type PrunePlan, type PruneResult, type RepairIndexResult, executePrune, planPrune, removeStaleTemporary, repairIndex } from './prune.js';
export { applyRetention, hasRetentionRules } from './retention.js';
export { FileSampler, type SnapshotSelector, selectSnapshots } from './sample-plan.js';
