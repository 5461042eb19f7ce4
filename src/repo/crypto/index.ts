// The public API of repo/crypto: what the rest of triad may import from it.
export { IntegrityFailure, type KdfCost, type KdfStrength, type MasterKey, PRODUCTION_KDF, PRODUCTION_KDF_STRENGTH, describeKdf, kdfBelowFloor, OVERHEAD, ReusingOpener, keyedHash, newMasterKey, open, seal, sealParts, sealedLength } from './crypto.js';
export { type KeyInfo, keyFileOpens, keyOpenedBy, listKeyFiles, newKeyFile, removeKeyFile, saveKeyFile } from './key-admin.js';
export { type DamagedKeyFile, type KeyFileMeta, findMasterKey, wrapMasterKey } from './keys.js';
