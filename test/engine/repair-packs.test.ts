import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytes } from '../helpers/tree.js';
import { PASS, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';
import { flipByte, packFiles } from '../restore-test/helpers.js';

/** Two local targets holding one small backup; `f1.bin` is the file the tests damage. */
function twoTargets(): { work: string; src: string; policy: string; nas: string; usb: string } {
  const work = tempDir();
  const src = join(work, 'src');
  mkdirSync(join(src, 'sub'), { recursive: true });
  for (let i = 0; i < 3; i++) writeFileSync(join(src, `f${i}.bin`), bytes(400 + i, 1024 * 1024));
  writeFileSync(join(src, 'sub', 'small.txt'), 'small file\n');
  const nas = join(work, 'nas');
  const usb = join(work, 'usb');
  const policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: nas, media: 'nas', offsite: false }, usb: { path: usb, media: 'removable', offsite: true } } });
  expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
  const b = triad(['backup', '-p', policy], { env: PASS });
  expect(b.code, b.stderr).toBe(0);
  return { work, src, policy, nas, usb };
}

/** Restores the latest snapshot from `target` and compares every file with the source, byte for byte. */
function expectRestoresExactly(w: ReturnType<typeof twoTargets>, target: string): void {
  const to = join(w.work, `restore-${target}`);
  const r = triad(['restore', '-p', w.policy, 'latest', '--to', to, '--target', target], { env: PASS });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const restored = join(to, basename(w.src));
  for (const f of ['f0.bin', 'f1.bin', 'f2.bin', 'sub/small.txt']) expect(readFileSync(join(restored, f)).equals(readFileSync(join(w.src, f))), f).toBe(true);
  rmSync(to, { recursive: true, force: true });
}

describe('triad repair packs', () => {
  it('replaces a damaged data pack with blobs kept from it and fetched from the other target; check and restore are then clean', () => {
    const w = twoTargets();
    const victim = packFiles(w.nas)[0]!;
    flipByte(victim, Math.floor(statSync(victim).size / 2));
    const bad = triad(['check', '-p', w.policy, '--target', 'nas', '--read-data'], { env: PASS });
    expect(bad.code).toBe(4);
    expect(bad.stdout).toContain("hint: run 'triad repair packs -p POLICY --target nas'");

    const dry = triad(['repair', 'packs', '-p', w.policy, '--target', 'nas', '--dry-run', '--json'], { env: PASS });
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout).targets[0];
    expect(plan.packs.map((p: { pack: string }) => p.pack)).toEqual([basename(victim)]);
    expect(plan.packs[0].fetched.usb).toBeGreaterThanOrEqual(1);
    expect(plan.packsRemoved).toEqual([]);
    expect(existsSync(victim)).toBe(true);

    const r = triad(['repair', 'packs', '-p', w.policy, '--target', 'nas', '--json'], { env: PASS });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const t = JSON.parse(r.stdout).targets[0];
    const p = t.packs[0];
    expect(p.lost).toBe(0);
    // The flipped byte spoils one blob; the others of the pack are kept from it.
    expect(p.fetched.usb).toBe(1);
    expect(p.kept).toBe(p.blobs - 1);
    expect(t.packsRemoved).toEqual([basename(victim)]);
    expect(t.packsWritten.length).toBeGreaterThanOrEqual(1);
    expect(existsSync(victim)).toBe(false);

    const check = triad(['check', '-p', w.policy, '--read-data', '--json'], { env: PASS });
    expect(check.code, check.stdout).toBe(0);
    expectRestoresExactly(w, 'nas');
    // Nothing left to do: a second run finds no damaged pack.
    const again = triad(['repair', 'packs', '-p', w.policy, '--target', 'nas'], { env: PASS });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nas: no damaged pack found');
  });

  it('replaces a missing tree pack entirely from the other target', () => {
    const w = twoTargets();
    const treePack = packFiles(w.nas).at(-1)!;
    rmSync(treePack);
    expect(triad(['check', '-p', w.policy, '--target', 'nas'], { env: PASS }).code).toBe(4);
    const r = triad(['repair', 'packs', '-p', w.policy, '--target', 'nas'], { env: PASS });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/nas: repaired 1 pack\(s\): 0 blob\(s\) kept, \d+ fetched from other targets, 0 lost/);
    expect(triad(['check', '-p', w.policy, '--read-data'], { env: PASS }).code).toBe(0);
    expectRestoresExactly(w, 'nas');
  });

  it('names the files of a blob that no target holds intact, and exits 4', () => {
    const w = twoTargets();
    // The same data pack damaged on both targets: the blob the flipped byte spoils is lost.
    const onNas = packFiles(w.nas)[0]!;
    const onUsb = join(w.usb, 'data', basename(join(onNas, '..')), basename(onNas));
    for (const f of [onNas, onUsb]) flipByte(f, Math.floor(statSync(f).size / 2));
    const r = triad(['repair', 'packs', '-p', w.policy, '--target', 'nas'], { env: PASS });
    expect(r.code, r.stdout + r.stderr).toBe(4);
    expect(r.stdout).toMatch(/nas: 1 blob\(s\) are intact on no target; these files cannot be restored from 'nas':/);
    expect(r.stdout).toMatch(/snapshot [0-9a-f]{8} \(test\): src\/f\d\.bin/);
    expect(r.stdout).toContain('hint: forget the affected snapshots, or restore those files from another copy');
    // The damaged pack is gone, its intact blobs are in a new pack: only the lost file is missing now.
    expect(existsSync(onNas)).toBe(false);
    const check = triad(['check', '-p', w.policy, '--target', 'nas', '--read-data', '--json'], { env: PASS });
    expect(check.code).toBe(4);
    const errors = JSON.parse(check.stdout).targets[0].errors as { kind: string; path?: string }[];
    expect(errors.map((e) => e.kind)).toEqual(['missing-blob']);
  });

  // Killed at the two deletions of the repair (an index file naming the damaged pack, then the
  // pack itself): the replica is never worse than before, and running the repair again finishes it.
  for (const [what, match] of [['old index file', '^index/'], ['damaged pack', '^data/']] as const) {
    it(`killed just before removing the ${what}, a second run finishes the repair`, () => {
      const w = twoTargets();
      const victim = packFiles(w.nas)[0]!;
      const packsBefore = packFiles(w.nas).length;
      flipByte(victim, Math.floor(statSync(victim).size / 2));
      const kill = { TRIAD_TEST_FAULTS: JSON.stringify({ seed: 1, rate: 0, kill: { op: 'remove', match, when: 'before' } }) };
      const killed = triad(['repair', 'packs', '-p', w.policy, '--target', 'nas'], { env: { ...PASS, ...kill } });
      expect(killed.code, killed.stdout + killed.stderr).toBe(128);
      // Nothing was deleted yet, and the recovered blobs were stored (in one new pack) before any deletion.
      expect(existsSync(victim)).toBe(true);
      expect(packFiles(w.nas)).toHaveLength(packsBefore + 1);
      const r = triad(['repair', 'packs', '-p', w.policy, '--target', 'nas'], { env: PASS });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(existsSync(victim)).toBe(false);
      const check = triad(['check', '-p', w.policy, '--read-data'], { env: PASS });
      expect(check.code, check.stdout).toBe(0);
      expectRestoresExactly(w, 'nas');
    });
  }

  it('refuses --pack without --target, and an unknown pack (exit 2)', () => {
    const w = twoTargets();
    expect(triad(['repair', 'packs', '-p', w.policy, '--pack', 'ab'], { env: PASS }).code).toBe(2);
    const r = triad(['repair', 'packs', '-p', w.policy, '--target', 'nas', '--pack', 'zz'], { env: PASS });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no index of target 'nas' names a pack zz");
  });
});
