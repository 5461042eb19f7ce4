import { mkdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PASS, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';
import { bytes } from '../helpers/tree.js';
import { PackBuilder } from '../../src/repo/blob/pack.js';
import { packObjectName } from '../../src/repo/format.js';
import { contents, filesUnder, openRepo } from './helpers.js';

function setup(): { dir: string; src: string; policy: string; snapshot: string } {
  const dir = tempDir();
  const src = join(dir, 'src');
  mkdirSync(join(src, 'sub'), { recursive: true });
  writeFileSync(join(src, 'a.bin'), bytes(1, 700 * 1024));
  writeFileSync(join(src, 'sub', 'b.txt'), bytes(2, 5000, true));
  const policy = writeLocalPolicy(dir, { sources: [src], targets: { nas: { path: join(dir, 'nas'), media: 'nas' } }, rule: 'none' });
  expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
  const b = triad(['backup', '-p', policy, '--json'], { env: PASS });
  expect(b.code, b.stderr).toBe(0);
  return { dir, src, policy, snapshot: JSON.parse(b.stdout).snapshot };
}

describe('repair index', () => {
  it('recovers a deleted index file from the pack headers; prune refuses to run before it', () => {
    const { dir, src, policy, snapshot } = setup();
    const index = [...filesUnder(join(dir, 'nas', 'index')).keys()];
    expect(index).toHaveLength(1);
    unlinkSync(join(dir, 'nas', 'index', index[0]!));

    const broken = triad(['check', '-p', policy, '--json'], { env: PASS });
    expect(broken.code).toBe(4);
    expect(JSON.parse(broken.stdout).targets[0].unindexedPacks.length).toBeGreaterThan(0);

    // Prune must not treat the now-unindexed packs as garbage.
    const p = triad(['prune', '-p', policy, '--unindexed-grace', '0'], { env: PASS });
    expect(p.code).toBe(1);
    expect(p.stdout + p.stderr).toContain('repair index');
    expect(filesUnder(join(dir, 'nas', 'data')).size).toBeGreaterThan(0);

    const r = triad(['repair', 'index', '-p', policy, '--json'], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout).targets[0];
    expect(out.packsIndexed).toBe(filesUnder(join(dir, 'nas', 'data')).size);
    expect(out.packsAdded).toHaveLength(out.packsIndexed);
    expect(out.damaged).toEqual([]);
    expect(filesUnder(join(dir, 'nas', 'index')).size).toBe(1);

    const c = triad(['check', '-p', policy, '--read-data', '--json'], { env: PASS });
    expect(c.code, c.stdout).toBe(0);
    expect(JSON.parse(c.stdout).targets[0].unindexedPacks).toEqual([]);
    const to = tempDir();
    expect(triad(['restore', '-p', policy, snapshot, '--to', to], { env: PASS }).code).toBe(0);
    const got = contents(join(to, readdirSync(to)[0]!));
    const want = contents(src);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [k, v] of want) expect(got.get(k)!.equals(v), k).toBe(true);
  });

  it('reports a damaged pack and leaves it out (exit 1)', () => {
    const { dir, policy } = setup();
    const packs = [...filesUnder(join(dir, 'nas', 'data')).keys()];
    const victim = join(dir, 'nas', 'data', packs[0]!);
    writeFileSync(victim, Buffer.from('not a pack at all'));
    const r = triad(['repair', 'index', '-p', policy, '--json'], { env: PASS });
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout).targets[0];
    expect(out.damaged.map((d: { pack: string }) => d.pack)).toEqual([packs[0]!.split('/').pop()]);
    expect(out.packsIndexed).toBe(packs.length - 1);
  });
});

describe('unindexed packs and the grace period', () => {
  it('are left alone by the first prune and removed by a prune an hour later', async () => {
    const { dir, policy } = setup();
    // A pack no index names, as an interrupted backup leaves it.
    const repo = await openRepo(join(dir, 'nas'));
    const b = new PackBuilder();
    const plain = bytes(9, 4000);
    const id = repo.blobId(plain);
    b.add('data', id, repo.encodeBlob('data', id, plain, 'off'), plain.length);
    const pack = b.finish(repo.key.encrypt);
    await repo.storage.save(packObjectName(pack.id), pack.bytes);
    await repo.storage.close();

    const at = (iso: string) => ({ ...PASS, TRIAD_TEST_NOW: iso });
    const first = triad(['prune', '-p', policy, '--json'], { env: at('2030-01-01T00:00:00Z') });
    expect(first.code, first.stderr).toBe(0);
    const plan1 = JSON.parse(first.stdout).targets[0].plan;
    expect(plan1.keepUnindexed.map((p: { id: string }) => p.id)).toEqual([pack.id]);
    expect(filesUnder(join(dir, 'nas')).has(packObjectName(pack.id))).toBe(true);

    const soon = triad(['prune', '-p', policy, '--json'], { env: at('2030-01-01T00:30:00Z') });
    expect(soon.code, soon.stderr).toBe(0);
    expect(JSON.parse(soon.stdout).targets[0].plan.keepUnindexed).toHaveLength(1);
    expect(filesUnder(join(dir, 'nas')).has(packObjectName(pack.id))).toBe(true);

    const later = triad(['prune', '-p', policy, '--json'], { env: at('2030-01-01T01:00:01Z') });
    expect(later.code, later.stderr).toBe(0);
    const t = JSON.parse(later.stdout).targets[0];
    expect(t.plan.removeUnindexed.map((p: { id: string }) => p.id)).toEqual([pack.id]);
    expect(t.bytesFreed).toBeGreaterThanOrEqual(pack.bytes.length);
    expect(filesUnder(join(dir, 'nas')).has(packObjectName(pack.id))).toBe(false);
    const c = triad(['check', '-p', policy, '--read-data'], { env: PASS });
    expect(c.code, c.stdout).toBe(0);
  });
});
