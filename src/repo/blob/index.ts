// The public API of repo/blob: what the rest of triad may import from it.
export { type ChunkerParams, DEFAULT_CHUNKER, type Gear, chunkBuffer, makeGear, nextCut } from './chunker.js';
export { type CompressionMode, ReusingUnframer, frame, frameParts, unframe } from './compress.js';
export { ContentCheck } from './content-check.js';
export { PackBuilder, type PackEntry, parsePackHeader } from './pack.js';
