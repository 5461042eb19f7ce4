// The public API of repo/read: what the rest of triad may import from it.
export { BlobError, BlobReader, type ReadMode } from './blob-reader.js';
export { findNode, HeldTrees, heldContent, walkTree, type TreeSource } from './walk.js';
export { DEFAULT_RANGE_TUNING, planRanges, type RangeTuning } from './read-plan.js';
