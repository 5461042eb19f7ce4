import { fsPath } from '../../core/names.js';
import { createHmac } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { fsError } from '../../core/errors.js';

/** Whole-content keyed hash of a file on disk, streamed (equals the blob id of a one-chunk file). */
export async function keyedFileHash(macKey: Buffer, path: string, signal?: AbortSignal): Promise<string> {
  const h = createHmac('sha256', macKey);
  try {
    for await (const chunk of createReadStream(fsPath(path), { signal })) h.update(chunk as Buffer);
  } catch (err) {
    if ((err as Error | undefined)?.name === 'AbortError') throw err;
    throw fsError(err, path);
  }
  return h.digest('hex');
}
