/**
 * Worker thread of the restore: creates, writes and renames files whose content the main
 * thread has already decrypted and verified, so file creation (the kernel's share of a
 * restore) runs on every core.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { TriadError, errnoCode } from '../core/errors.js';
import { commitTemp, discardTemp, openTemp, writeTemp, type TempFile } from './file-out.js';
import type { WriteBatch, WriteDone, WriteResult } from './file-writer-protocol.js';

const port = parentPort!;
const { ring: shared, chunkBytes } = workerData as { ring: SharedArrayBuffer; chunkBytes: number };
const ring = Buffer.from(shared);
const open = new Map<number, TempFile>();
/** Files that failed: their later pieces are ignored. */
const failed = new Set<number>();

port.on('message', (m: WriteBatch) => {
  const buf = m.chunk >= 0 ? ring.subarray(m.chunk * chunkBytes, m.chunk * chunkBytes + m.size) : ring.subarray(0, 0);
  const results: WriteResult[] = [];
  for (const op of m.ops) {
    if (failed.has(op.file)) {
      if (op.end) failed.delete(op.file);
      continue;
    }
    let t = open.get(op.file);
    try {
      if (op.end === 'abort') {
        if (t) discardTemp(t);
        open.delete(op.file);
        continue;
      }
      if (!t) {
        const o = op.open!;
        t = openTemp(o.out, o.fresh, o.overwrite, o.createMode);
        open.set(op.file, t);
      }
      if (op.len) writeTemp(t, buf.subarray(op.off, op.off + op.len));
      if (op.end === 'commit') {
        open.delete(op.file);
        commitTemp(t, op.meta!, op.meta!);
        results.push({ file: op.file, ok: true });
      }
    } catch (err) {
      if (t) discardTemp(t);
      open.delete(op.file);
      if (!op.end) failed.add(op.file);
      results.push({ file: op.file, ok: false, code: err instanceof TriadError ? err.code : errnoCode(err), message: err instanceof Error ? err.message : String(err), hint: err instanceof TriadError ? err.hint : undefined });
    }
  }
  port.postMessage({ chunk: m.chunk, results } satisfies WriteDone);
});
