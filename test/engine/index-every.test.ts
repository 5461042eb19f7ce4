/**
 * A backup of many small files must not hold every new blob's index entry until its end:
 * the writer writes an index file once the packs waiting for one hold MAX_BLOBS_PER_INDEX
 * blobs, not only every 32 packs (a 4 MiB pack of small files holds tens of thousands).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLocalStorage } from '../../src/backends/local.js';
import { fixedClock } from '../../src/core/clock.js';
import { loadIndexFile, MasterIndex, MAX_BLOBS_PER_INDEX } from '../../src/repo/index/index.js';
import { Repository } from '../../src/repo/repository.js';
import { MultiTargetWriter } from '../../src/repo/backup/writer.js';
import { PASS, scratchDir } from '../helpers/triad.js';
import { TEST_KDF_COST } from '../helpers/kdf.js';

describe('backup writer index files', () => {
  const work = scratchDir();

  it(`writes an index file each time its stored packs hold ${MAX_BLOBS_PER_INDEX} blobs, each naming every blob once`, async () => {
    const dir = join(work, 'repo');
    const created = await Repository.create('nas', await openLocalStorage(dir, { create: true }), PASS.TEST_PASSPHRASE, { clock: fixedClock('2030-01-01T00:00:00Z'), host: 'test', kdf: TEST_KDF_COST });
    await created.storage.close();
    const repo = await Repository.open('nas', await openLocalStorage(dir), PASS.TEST_PASSPHRASE);
    const index = await MasterIndex.load(repo);
    const writer = new MultiTargetWriter([{ name: 'nas', repo, index, bytesWritten: 0, packsWritten: 0 }], 'off');

    // 2.4 times the limit in 200-byte blobs: about 20,000 to a 4 MiB pack, so 7 packs.
    const total = Math.round(MAX_BLOBS_PER_INDEX * 2.4);
    const data = randomBytes(200 * total);
    const added = new Set<string>();
    for (let i = 0; i < total; i++) {
      const plain = data.subarray(200 * i, 200 * i + 200);
      const id = repo.blobId(plain);
      await writer.add('data', id, plain);
      added.add(id.toString('hex'));
    }
    await writer.finishData();
    expect(writer.packsWritten).toBeLessThan(32);

    const names = readdirSync(join(dir, 'index')).map((n) => `index/${n}`);
    const perFile: number[][] = [];
    const named: string[] = [];
    for (const name of names) {
      const file = await loadIndexFile(repo, name);
      perFile.push(file.packs.map((p) => p.blobs.length));
      named.push(...file.packs.flatMap((p) => p.blobs.map((b) => b[1])));
    }
    // A file is written as soon as the packs waiting reach the limit: without the pack that
    // arrived last (at most the largest), every file holds fewer. Uploads finish in any order,
    // so the small last pack may join the others: at most one file (the one at the end) holds
    // fewer than the limit, and at least two are written.
    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
    expect(names.length).toBeGreaterThanOrEqual(2);
    for (const packs of perFile) expect(sum(packs) - Math.max(...packs)).toBeLessThan(MAX_BLOBS_PER_INDEX);
    expect(perFile.filter((packs) => sum(packs) < MAX_BLOBS_PER_INDEX).length).toBeLessThanOrEqual(1);
    expect(named).toHaveLength(total);
    expect(new Set(named)).toEqual(added);
    expect((await MasterIndex.load(repo)).size).toBe(total);
    await repo.storage.close();
  });
});
