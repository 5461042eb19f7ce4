import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { socketFile } from '../helpers/tree.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBackup } from '../../src/app/backup.js';
import { initRepositories } from '../../src/app/init.js';
import { systemClock } from '../../src/core/clock.js';
import type { AppEvent } from '../../src/core/events.js';
import { eventText } from '../../src/cli/render/events.js';
import { PASS, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';
import { TEST_KDF } from '../helpers/kdf.js';

describe('partial snapshots and special files', () => {
  it('a file vanishing mid-backup is a warning; the snapshot is kept, marked partial, exit 3', async () => {
    const work = tempDir();
    const src = join(work, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.txt'), 'first');
    writeFileSync(join(src, 'b.txt'), 'second, will vanish');
    writeFileSync(join(src, 'c.txt'), 'third');
    // Sorts first: the walk reports it (a warning) after listing the directory and before
    // it hands any file to the readers, which is when b.txt is removed below.
    socketFile(join(src, '0-sock'));
    const policy = writeLocalPolicy(work, { sources: [src] });
    const warnings: string[] = [];
    const ctx = {
      env: PASS, cwd: work, clock: systemClock, kdf: TEST_KDF,
      emit: (e: AppEvent) => {
        const m = eventText(e);
        warnings.push(m);
        if (m.includes('0-sock')) rmSync(join(src, 'b.txt'));
      },
    };
    await initRepositories(ctx, { policyFile: policy });
    const r = await runBackup(ctx, { policyFile: policy });
    expect(r.partial).toBe(true);
    expect(r.exitCode).toBe(3);
    expect(r.snapshot).toMatch(/^[0-9a-f]{64}$/);
    expect(r.warnings.map((w) => w.code).sort()).toEqual(['special', 'vanished']);
    expect(warnings.some((w) => w.includes('b.txt'))).toBe(true);
    // The snapshot is listed as partial and restores what was read.
    const ls = triad(['snapshots', '-p', policy, '--json'], { env: PASS });
    const snaps = JSON.parse(ls.stdout).snapshots;
    expect(snaps).toHaveLength(1);
    expect(snaps[0].partial).toBe(true);
    const to = join(work, 'r');
    expect(triad(['restore', '-p', policy, 'latest', '--to', to], { env: PASS }).code).toBe(0);
  });

  it('a missing source path is a clear error, nothing is written', () => {
    const work = tempDir();
    const policy = writeLocalPolicy(work, { sources: [join(work, 'does-not-exist')] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    const r = triad(['backup', '-p', policy], { env: PASS });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('does-not-exist');
    expect(r.stderr).toContain('does not exist');
    const s = triad(['snapshots', '-p', policy, '--json'], { env: PASS });
    expect(JSON.parse(s.stdout).snapshots).toEqual([]);
  });
});
