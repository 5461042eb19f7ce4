import { parentPort, workerData } from 'node:worker_threads';
import { frameParts, setCompressionLevel, type CompressionMode } from './compress.js';
import { sealParts } from './crypto.js';
import { blobAad, type BlobType } from './format.js';

/** Compresses and encrypts blobs off the main thread; see encode-pool.ts. */
interface Task {
  seq: number;
  type: BlobType;
  id: Uint8Array;
  data: Uint8Array;
  mode: CompressionMode;
}

const key = Buffer.from(workerData.key as Uint8Array);
if (typeof workerData.level === 'number') setCompressionLevel(workerData.level);

parentPort!.on('message', (t: Task) => {
  try {
    const sealed = sealParts(key, frameParts(t.data, t.mode), blobAad(t.type, Buffer.from(t.id)));
    // Transfer, not copy: the sealed blob goes straight into a pack on the main thread.
    const out = new Uint8Array(sealed.buffer, sealed.byteOffset, sealed.length);
    const transfer = sealed.byteOffset === 0 && sealed.buffer.byteLength === sealed.length ? [sealed.buffer as ArrayBuffer] : [];
    parentPort!.postMessage({ seq: t.seq, sealed: out }, transfer);
  } catch (err) {
    parentPort!.postMessage({ seq: t.seq, error: err instanceof Error ? err.message : String(err) });
  }
});
