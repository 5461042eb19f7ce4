import { createHmac, type Hmac } from 'node:crypto';
import { TriadError } from '../../core/errors.js';
import { keyedHash } from '../crypto/index.js';

/** What a file node says its content is: how many blobs, how many bytes, and its whole-content hash. */
export interface ExpectedContent {
  blobs: number;
  size: number;
  hash?: string;
}

/**
 * Checks a restored file's content as its blobs stream past (each already verified against
 * its own id): the size and whole-content hash must match the file's tree node. Used on the
 * main thread and in the restore's writer threads.
 */
export class ContentCheck {
  private readonly whole: Hmac | undefined;
  private size = 0;
  private count = 0;
  private only = '';

  /** `wholeElsewhere`: the whole-content hash of a file of several blobs is checked by whoever writes it. */
  constructor(
    private readonly mac: Buffer,
    private readonly expect: ExpectedContent,
    private readonly rel: string,
    private readonly wholeElsewhere = false,
  ) {
    this.whole = expect.blobs > 1 && !wholeElsewhere ? createHmac('sha256', mac) : undefined;
  }

  add(id: string, plain: Uint8Array): void {
    this.whole?.update(plain);
    this.size += plain.length;
    this.count++;
    this.only = id;
  }

  /** Throws E_INTEGRITY unless the content matches; returns its size. */
  finish(): number {
    const { blobs, size, hash } = this.expect;
    if (this.size !== size) throw new TriadError('E_INTEGRITY', `size mismatch for ${this.rel}: restored ${this.size} bytes, snapshot says ${size}`);
    if (this.count !== blobs) throw new TriadError('E_INTEGRITY', `blob count mismatch for ${this.rel}: restored ${this.count}, snapshot says ${blobs}`);
    // A one-blob file's hash is its blob id; an empty file's is the keyed hash of nothing.
    if (blobs > 1 && this.wholeElsewhere) return this.size;
    const got = blobs === 1 ? this.only : blobs === 0 ? keyedHash(this.mac, Buffer.alloc(0)).toString('hex') : this.whole!.digest('hex');
    if (hash && got !== hash) throw new TriadError('E_INTEGRITY', `content hash mismatch for ${this.rel}`);
    return this.size;
  }
}
