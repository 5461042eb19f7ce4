// The public API of repo/index: what the rest of triad may import from it.
export { type AbsentPack, MasterIndex, type StoredPack, absentPacks, encodeIndex, listPacks, unindexPacks } from './index-store.js';
export { KnownSet } from './known-set.js';
