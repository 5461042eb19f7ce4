// The public API of repo/read: what the rest of triad may import from it.
export { BlobError, BlobReader } from './blob-reader.js';
export { findNode, walkTree } from './walk.js';
