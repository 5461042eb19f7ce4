/** Names and constants of the on-disk format (docs/FORMAT.md is the prose version). */
export const FORMAT_VERSION = 1;

export type BlobType = 'data' | 'tree';
export const BLOB_TYPE_CODE: Record<BlobType, number> = { data: 0, tree: 1 };
export const BLOB_TYPE_NAME: BlobType[] = ['data', 'tree'];

/** Associated data binds every sealed object to its kind, so one can't be swapped for another. */
export const AAD = {
  key: Buffer.from('triad:key'),
  config: Buffer.from('triad:config'),
  packHeader: Buffer.from('triad:pack-header'),
  index: Buffer.from('triad:index'),
  snapshot: Buffer.from('triad:snapshot'),
  journal: Buffer.from('triad:journal'),
} as const;

export function blobAad(type: BlobType, id: Buffer): Buffer {
  return Buffer.concat([Buffer.of(BLOB_TYPE_CODE[type]), id]);
}

export function packObjectName(packId: string): string {
  return `data/${packId.slice(0, 2)}/${packId}`;
}

export const ID_RE = /^[0-9a-f]{64}$/;

/** Packs are closed once they reach this size (or at the end of a run). */
export const PACK_TARGET_SIZE = 4 * 1024 * 1024;
