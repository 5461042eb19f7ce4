// The public API of repo/index: what the rest of triad may import from it.
export { type AbsentPack, type BlobLocation, MasterIndex, type StoredPack, absentPacks, decodeIndexFile, encodeIndex, listPacks, loadIndexFile, unindexPacks } from './index-store.js';
export { KnownSet } from './known-set.js';
export { type RoutedIndex, loadIndexRoutingAround, loadRawIndex, MAX_BLOBS_PER_INDEX, readPackHeader, toPackEntry, writeIndexFiles } from './index-files.js';
export type { DamagedIndexFile, IndexFileJson, RawEntry } from './index-store.js';
export { repairIndexHint } from '../../core/describe.js';
