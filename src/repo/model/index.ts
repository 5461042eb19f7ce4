// The public API of repo/model: what the rest of triad may import from it.
export { type JournalLedger, type JournalRecord, type PolicyDigest, LEDGER_DETAIL, POLICY_DETAIL, decodeJournalRecord, ledgerOf, policyDigestOf, readJournal, writeJournal } from './journal.js';
export { type DamagedSnapshot, type Snapshot, type SnapshotManifest, type SnapshotSummary, decodeSnapshotManifest, loadSnapshots, resolveSnapshot, sealSnapshot } from './snapshot.js';
export { type NodeTime, decimalSeconds, msOf, nodeMtimeNs, nodeTime, timeSpecOf, utimesArg } from './times.js';
export { type NodeType, type SpecialType, type Tree, type TreeNode, LinkFirstNames, SPECIAL_TYPES, decodeTree, encodeTree, isDeviceType, isSafeName, isSpecialType, linkGroupOf } from './tree.js';
export { snapshotPathOf, sourceTopNames } from './source-names.js';
