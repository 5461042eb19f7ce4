// The public API of repo/check: what the rest of triad may import from it.
export { type CheckReport, type DamagedPack, type PackReRead, type ReadData, checkRepository, copyHint } from './checker.js';
export { type StructureProblem, checkSnapshotStructure, contentSizeMismatch, listStoredPacks } from './snapshot-check.js';
