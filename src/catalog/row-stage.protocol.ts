import { NumericRecords } from '../core/workers/index.js';

/** Messages between the catalogue's main thread and its row thread (flat: one batch of rows each). */
export const FILE_TYPE_CODES = ['file', 'dir', 'symlink', 'fifo', 'chardev', 'blockdev'] as const;
export const BLOB_TYPE_CODES = ['data', 'tree'] as const;

/** What the row thread needs: the catalogue file and its busy timeout. */
export interface RowStageInit {
  file: string;
  busyMs: number;
}

/** A file row's numbers. */
export const ROW_RECORD = new NumericRecords(['size', 'mode', 'mtime', 'chunks'] as const);
/** A pack's numbers; `type` indexes BLOB_TYPE_CODES; blobBytes and rawBytes sum its blobs' lengths. */
export const PACK_RECORD = new NumericRecords(['size', 'blobs', 'type', 'blobBytes', 'rawBytes'] as const);

export type ToRowStage =
  | {
      type: 'rows';
      /** The rows' paths joined with NUL, which no path holds. */
      paths: string;
      /** Index into FILE_TYPE_CODES, one per row. */
      types: Uint8Array;
      /** ROW_RECORDs. */
      nums: Float64Array;
      /** 32 bytes per row; meaningful where `hashed` is 1. */
      hashes: Uint8Array;
      hashed: Uint8Array;
    }
  | {
      type: 'packs';
      /** The target's id in the catalogue. */
      target: number;
      /** 32 bytes per pack. */
      packIds: Uint8Array;
      /** PACK_RECORDs. */
      packNums: Float64Array;
    }
  | { type: 'commit'; snap: number }
  /** Answered once every message before it is done: the thread then holds no lock. */
  | { type: 'settle' };

/** Answers to commit and settle, in order; `failed`: a message could not be written (the stage is then failed). */
export type FromRowStage = { type: 'committed'; rows: number } | { type: 'settled' } | { type: 'failed'; code: string | undefined; message: string };
