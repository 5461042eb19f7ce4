import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bytes } from '../helpers/tree.js';
import { PASS, scratchDir, triad } from '../helpers/triad.js';
import { writeLocalPolicy } from '../helpers/triad.js';
import { packFiles } from '../restore-test/helpers.js';

// A pack whose first copy fails verification is read once more before it is called damaged: a
// garbled transfer is noise. The test entry's fault wrapper garbles the loads of one data pack,
// the first only (noise) or every one (damage at rest); the bytes on disk never change.
describe('check --read-data and restore-test read a failing pack a second time', () => {
  let work: string;
  let policy: string;
  let victim: string;
  const faults = (reads?: number) => ({ TRIAD_TEST_FAULTS: JSON.stringify({ seed: 1, rate: 0, corrupt: { match: `^${victim}$`, ...(reads ? { reads } : {}) } }) });

  beforeAll(() => {
    work = scratchDir();
    const src = join(work, 'src');
    mkdirSync(src);
    for (let i = 0; i < 3; i++) writeFileSync(join(src, `f${i}.bin`), bytes(300 + i, 1024 * 1024));
    policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas'), media: 'nas', offsite: false } }, rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    // The largest pack holds data; its object name as the storage sees it.
    victim = relative(join(work, 'nas'), packFiles(join(work, 'nas'))[0]!);
  });

  it('check: a garbled first read is re-read and passes (exit 0, one re-read reported)', () => {
    const r = triad(['check', '-p', policy, '--read-data', '--json'], { env: { ...PASS, ...faults(1) } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const t = JSON.parse(r.stdout).targets[0];
    expect(t.damagedPacks).toEqual([]);
    expect(t.reReads).toHaveLength(1);
    expect(t.reReads[0].pack).toBe(basename(victim));
    expect(t.reReads[0].reason).toMatch(/does not match its name/);
  });

  it('check: the same pack garbled on every read is damage (exit 4), after one re-read', () => {
    const r = triad(['check', '-p', policy, '--read-data', '--json'], { env: { ...PASS, ...faults() } });
    expect(r.code, r.stderr).toBe(4);
    const t = JSON.parse(r.stdout).targets[0];
    expect(t.reReads.map((x: { pack: string }) => x.pack)).toEqual([basename(victim)]);
    expect(t.damagedPacks.map((d: { pack: string }) => d.pack)).toEqual([basename(victim)]);
    const text = triad(['check', '-p', policy, '--read-data'], { env: { ...PASS, ...faults() } });
    expect(text.code).toBe(4);
    expect(text.stdout).toContain("hint: run 'triad repair packs -p POLICY --target nas'");
    expect(text.stdout).toContain('1 pack(s) read a second time after a failed verification');
    expect(text.stderr).toContain(`pack ${basename(victim).slice(0, 12)} read a second time`);
  });

  it('restore-test: a garbled first read is re-read and the test passes (exit 0, one re-read reported)', () => {
    const scratch = join(work, 'scratch');
    const r = triad(['restore-test', '-p', policy, '--scratch', scratch, '--files', '3', '--snapshots', 'latest', '--json'], { env: { ...PASS, ...faults(1) } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const t = JSON.parse(r.stdout).targets[0];
    expect(t.failed).toBe(0);
    expect(t.reReads).toHaveLength(1);
    expect(t.reReads[0].pack).toBe(basename(victim));
  });

  it('restore-test: persistent corruption still fails (exit 4) and points to repair packs', () => {
    const scratch = join(work, 'scratch');
    const r = triad(['restore-test', '-p', policy, '--scratch', scratch, '--files', '3', '--snapshots', 'latest'], { env: { ...PASS, ...faults() } });
    expect(r.code, r.stdout + r.stderr).toBe(4);
    expect(r.stdout).toMatch(/decryption-failure/);
    expect(r.stdout).toContain("nas: hint: run 'triad repair packs -p POLICY --target nas'");
  });
});
