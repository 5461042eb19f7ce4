import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { s3rverForSuite } from '../helpers/emulators.js';

// The crash tests kill triad mid-upload and expect S3's semantics: an object appears whole or
// not at all. s3rver streams bodies straight into place, so the suite runs it with a preload
// that makes a PUT atomic; this proves the preload holds.
describe('s3rver as the suite runs it', () => {
  const suite = s3rverForSuite(mkdtempSync(path.join(tmpdir(), 'triad-s3rver-cut-')));

  it('keeps no object when the client dies after sending half of the body, and stores a whole one', async () => {
    const { client, s3 } = suite;
    const half = Buffer.alloc(64 * 1024, 7);
    // Half of the announced body, then nothing: the request is cut off as a SIGKILL would.
    let sent = false;
    const cut = new Readable({
      read() {
        if (!sent) this.push(half);
        sent = true;
      },
    });
    const abort = new AbortController();
    const put = client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'data/cut', Body: cut, ContentLength: half.length * 2 }), { abortSignal: abort.signal });
    setTimeout(() => abort.abort(), 300);
    await expect(put).rejects.toThrow();
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'data/whole', Body: half }));
    // s3rver notices the cut connection asynchronously: give it time to (wrongly) store it.
    await new Promise((r) => setTimeout(r, 300));
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'data/' }));
    expect((listed.Contents ?? []).map((o) => [o.Key, o.Size])).toEqual([['data/whole', half.length]]);
  });
});
