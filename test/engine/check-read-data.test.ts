import { closeSync, mkdirSync, openSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytes } from '../helpers/tree.js';
import { PASS, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';
import { packFiles } from '../restore-test/helpers.js';

function flipByte(file: string, at: number): void {
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0] = b[0]! ^ 0xff;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}

// `check --read-data` verifies packs on the main thread and on a worker thread, alternately:
// damage in several packs must be found whichever thread verified them.
describe('check --read-data over several packs', () => {
  it('reads every pack once, and reports each damaged pack with the files it holds', () => {
    const work = tempDir();
    const src = join(work, 'src');
    mkdirSync(src);
    for (let i = 0; i < 5; i++) writeFileSync(join(src, `f${i}.bin`), bytes(100 + i, 3 * 1024 * 1024));
    const policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas'), media: 'nas', offsite: false } }, rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    const packs = packFiles(join(work, 'nas'));
    expect(packs.length).toBeGreaterThanOrEqual(4);

    const ok = triad(['check', '-p', policy, '--read-data', '--json'], { env: PASS });
    expect(ok.code, ok.stderr).toBe(0);
    const clean = JSON.parse(ok.stdout).targets[0];
    expect(clean.packsRead).toBe(packs.length);
    expect(clean.damagedPacks).toEqual([]);

    // The three largest packs: data packs, next to each other in the order check reads them.
    const victims = packs.slice(0, 3);
    for (const v of victims) flipByte(v, Math.floor(statSync(v).size / 2));
    const bad = triad(['check', '-p', policy, '--read-data', '--json'], { env: PASS });
    expect(bad.code).toBe(4);
    const rep = JSON.parse(bad.stdout).targets[0];
    expect(rep.packsRead).toBe(packs.length);
    const damaged = rep.damagedPacks as { pack: string; reason: string; affected: { path: string }[] }[];
    expect(damaged.map((d) => d.pack)).toEqual(victims.map((v) => basename(v)).sort());
    for (const d of damaged) {
      expect(d.reason).toMatch(/does not match its name/);
      expect(d.affected.length, d.pack).toBeGreaterThan(0);
      for (const a of d.affected) expect(a.path).toMatch(/f\d\.bin$/);
    }
  });

  it('reports a damaged tree pack from the walk of the snapshots and from reading the data, in one run', () => {
    const work = tempDir();
    const src = join(work, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    for (let i = 0; i < 3; i++) writeFileSync(join(src, `f${i}.bin`), bytes(200 + i, 2 * 1024 * 1024));
    writeFileSync(join(src, 'sub', 'g.txt'), 'below\n');
    const policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas'), media: 'nas', offsite: false } }, rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    // The smallest pack holds the trees (a few hundred bytes against megabytes of data).
    const treePack = packFiles(join(work, 'nas')).at(-1)!;
    expect(statSync(treePack).size).toBeLessThan(64 * 1024);
    flipByte(treePack, Math.floor(statSync(treePack).size / 2));
    const bad = triad(['check', '-p', policy, '--read-data', '--json'], { env: PASS });
    expect(bad.code).toBe(4);
    const rep = JSON.parse(bad.stdout).targets[0];
    const errors = rep.errors as { kind: string; pack?: string }[];
    expect(errors.some((e) => e.kind === 'tree')).toBe(true);
    expect(errors.filter((e) => e.kind === 'damaged-pack').map((e) => e.pack)).toEqual([basename(treePack)]);
    expect(rep.packsRead).toBe(packFiles(join(work, 'nas')).length);
  });
});
