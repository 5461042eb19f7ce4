import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { s3rverForSuite } from '../helpers/emulators.js';
import { PASS, scratchDir, triadAsync, writePolicy } from '../helpers/triad.js';
import { bytes, snapshotOf } from '../helpers/tree.js';

describe('repair packs on an S3 target, from a local one', () => {
  const work = scratchDir();
  const emu = s3rverForSuite(work);

  it('a pack with a flipped byte in the bucket is replaced, and the cloud copy restores exactly', async () => {
    const { s3, client } = emu;
    const src = join(work, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.bin'), bytes(21, 1_500_000));
    writeFileSync(join(src, 'b.txt'), bytes(22, 20_000, true));
    const nas = { type: 'local', path: join(work, 'nas'), media: 'nas', offsite: false };
    const policy = writePolicy(work, { sources: [src], targets: { nas, cloud: s3.policyFields({ prefix: 'r/' }) }, rule: 'none' });
    const env = { ...PASS, ...s3.env };
    expect((await triadAsync(['init', '-p', policy], { env })).code).toBe(0);
    expect((await triadAsync(['backup', '-p', policy], { env })).code).toBe(0);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'r/data/' }));
    const largest = (listed.Contents ?? []).sort((a, b) => b.Size! - a.Size!)[0]!.Key!;
    const body = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: largest }))).Body!.transformToByteArray());
    body[body.length >> 1] ^= 0xff;
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: largest, Body: body }));

    const bad = await triadAsync(['check', '-p', policy, '--target', 'cloud', '--read-data'], { env });
    expect(bad.code, bad.stdout).toBe(4);
    const r = await triadAsync(['repair', 'packs', '-p', policy, '--target', 'cloud', '--json'], { env });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const t = JSON.parse(r.stdout).targets[0];
    expect(t.packs[0].fetched.nas).toBe(1);
    expect(t.packsRemoved).toEqual([largest.slice(largest.lastIndexOf('/') + 1)]);

    const check = await triadAsync(['check', '-p', policy, '--read-data'], { env });
    expect(check.code, check.stdout).toBe(0);
    const to = join(work, 'restored');
    const restored = await triadAsync(['restore', '-p', policy, 'latest', '--to', to, '--target', 'cloud'], { env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(snapshotOf(join(to, 'src'))).toEqual(snapshotOf(src));
  });
});
