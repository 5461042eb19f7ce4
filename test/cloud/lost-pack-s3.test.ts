import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3rver, type S3Emulator } from '../helpers/emulators.js';
import { PASS, scratchDir, triadAsync, writePolicy } from '../helpers/triad.js';
import { bytes, snapshotOf } from '../helpers/tree.js';

describe('backup on S3 on top of a pack deleted from the bucket', () => {
  const work = scratchDir();
  const src = join(work, 'src');
  let s3: S3Emulator;
  let client: S3Client;
  let policy: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    s3 = await startS3rver(join(work, 's3rver'));
    client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: s3.credentials, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
    mkdirSync(src);
    writeFileSync(join(src, 'a.bin'), bytes(11, 1_500_000));
    writeFileSync(join(src, 'b.txt'), bytes(12, 20_000, true));
    policy = writePolicy(work, { sources: [src], targets: { cloud: s3.policyFields({ prefix: 'r/' }) }, rule: 'none' });
    env = { ...PASS, ...s3.env };
  });
  afterAll(async () => {
    client?.destroy();
    await s3?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  async function packs(): Promise<{ key: string; size: number }[]> {
    const r = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'r/data/' }));
    return (r.Contents ?? []).map((o) => ({ key: o.Key!, size: o.Size! }));
  }

  it('stores the lost blobs again, names the pack, and the new snapshot restores exactly', async () => {
    expect((await triadAsync(['init', '-p', policy], { env })).code).toBe(0);
    expect((await triadAsync(['backup', '-p', policy], { env })).code).toBe(0);
    const [largest] = (await packs()).sort((a, b) => b.size - a.size);
    writeFileSync(join(src, 'c.bin'), bytes(13, 200_000));
    expect((await triadAsync(['backup', '-p', policy], { env })).code).toBe(0);

    await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: largest!.key }));
    const b = await triadAsync(['backup', '-p', policy, '--json'], { env });
    expect(b.code, b.stderr).toBe(0);
    const to = join(work, 'restored');
    const r = await triadAsync(['restore', '-p', policy, 'latest', '--to', to], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(snapshotOf(join(to, 'src'))).toEqual(snapshotOf(src));
    expect(b.stderr).toContain(`target 'cloud': 1 pack(s) named by the index are missing or cut short: ${largest!.key.slice(largest!.key.lastIndexOf('/') + 1)} (missing)`);
    expect(JSON.parse(b.stdout).summary.dataAdded).toBeGreaterThanOrEqual(1_500_000);
  });
});
