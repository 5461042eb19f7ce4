/**
 * A forget SIGKILLed right after it removed a snapshot object (found by the torture run, seed
 * 4242 round 6): the catalogue must not go on recording that snapshot as complete on the target,
 * or check reports it missing (exit 4) and hints to copy back what retention removed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { bytes } from '../helpers/tree.js';
import { PASS, tempDir, triadAsync, writeLocalPolicy } from '../helpers/triad.js';

it('forget killed just after removing a snapshot object leaves check clean, and the next forget finishes the job', async () => {
  const work = tempDir();
  const src = join(work, 'src');
  mkdirSync(src);
  const policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas') } }, rule: 'none', extra: 'retention:\n  keep_last: 1' });
  expect((await triadAsync(['init', '-p', policy], { env: PASS })).code).toBe(0);
  for (let i = 0; i < 3; i++) {
    writeFileSync(join(src, `f${i}.bin`), bytes(i + 1, 10_000));
    const b = await triadAsync(['backup', '-p', policy], { env: PASS });
    expect(b.code, b.stderr).toBe(0);
  }
  const kill = { seed: 1, rate: 0, kill: { op: 'remove', match: '^snapshots/', when: 'after' } };
  const f = await triadAsync(['forget', '-p', policy], { env: { ...PASS, TRIAD_TEST_FAULTS: JSON.stringify(kill) } });
  expect(f.code, 'killed by the fault wrapper').toBe(1); // spawn reports a signal death as code null → 1

  const c = await triadAsync(['check', '-p', policy, '--json'], { env: PASS });
  expect(JSON.parse(c.stdout).targets[0].errors, c.stdout).toEqual([]);
  expect(c.code, c.stdout + c.stderr).toBe(0);
  const snaps = () => triadAsync(['snapshots', '-p', policy, '--json'], { env: PASS }).then((r) => JSON.parse(r.stdout).snapshots.length as number);
  expect(await snaps()).toBe(2);

  const again = await triadAsync(['forget', '-p', policy], { env: PASS });
  expect(again.code, again.stderr).toBe(0);
  expect(await snaps()).toBe(1);
  const c2 = await triadAsync(['check', '-p', policy, '--json'], { env: PASS });
  expect(c2.code, c2.stdout + c2.stderr).toBe(0);
});
