/** Messages between the catalogue's main thread and its row thread (flat: one batch of rows each). */
export const FILE_TYPE_CODES = ['file', 'dir', 'symlink'] as const;
export const BLOB_TYPE_CODES = ['data', 'tree'] as const;

export type StageMessage =
  | {
      op: 'rows';
      /** The rows' paths joined with NUL, which no path holds. */
      paths: string;
      /** Index into FILE_TYPE_CODES, one per row. */
      types: Uint8Array;
      /** size, mode, mtime, chunks: four per row. */
      nums: Float64Array;
      /** 32 bytes per row; meaningful where `hashed` is 1. */
      hashes: Uint8Array;
      hashed: Uint8Array;
    }
  | {
      op: 'packs';
      /** The target's id in the catalogue. */
      target: number;
      /** 32 bytes per pack. */
      packIds: Uint8Array;
      /** size, blob count, type (index into BLOB_TYPE_CODES): three per pack. */
      packNums: Float64Array;
      /** 32 bytes per blob. */
      blobIds: Uint8Array;
      /** pack (index into this message's packs), type, stored length, plaintext length: four per blob. */
      blobNums: Float64Array;
    }
  | { op: 'commit'; snap: number }
  /** Answered once every message before it is done: the thread then holds no lock. */
  | { op: 'settle' };

export type StageReply = { op: 'committed'; rows: number } | { op: 'settled' } | { op: 'error'; code?: string; message: string };
