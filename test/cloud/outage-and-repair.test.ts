import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3rver, type S3Emulator } from '../helpers/emulators.js';
import { PASS, scratchDir, triad, triadAsync, writePolicy } from '../helpers/triad.js';
import { bytes, snapshotOf } from '../helpers/tree.js';

/** Pack objects s3rver has stored (it keeps each object as `<name>._S3rver_object`). */
function storedPacks(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) => /\/data\/[0-9a-f]{2}\/[0-9a-f]{64}\._S3rver_object$/.test('/' + p)).length;
}

function countFiles(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).length;
}

describe('the S3 target goes down during a backup, then is repaired with copy', () => {
  const work = scratchDir();
  const src = join(work, 'src');
  const s3dir = join(work, 's3rver');
  let s3: S3Emulator;
  let policy: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    s3 = await startS3rver(s3dir);
    mkdirSync(src);
    // Random data in several files: many packs, so the outage lands in the middle of the uploads.
    for (let i = 0; i < 6; i++) writeFileSync(join(src, `part-${i}.bin`), bytes(100 + i, 12 * 1024 * 1024));
    policy = writePolicy(work, {
      sources: [src],
      targets: {
        nas: { type: 'local', path: join(work, 'nas'), media: 'nas', offsite: false },
        s3: s3.policyFields({ prefix: 'r/' }),
      },
    });
    env = { ...PASS, ...s3.env };
    expect(triad(['init', '-p', policy], { env }).code).toBe(0);
  });
  afterAll(async () => {
    await s3?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('the NAS copy commits, the run exits 1 and names the missing copy', async () => {
    const run = triadAsync(['backup', '-p', policy, '--json', '--retry-for', '2s'], { env });
    // Stop the emulator once a fourth pack has appeared: at most two uploads run at once, so
    // the first ones are complete by then (s3rver leaves the ones in flight truncated).
    const deadline = Date.now() + 60_000;
    while (storedPacks(s3dir) < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await s3.stop();
    expect(storedPacks(s3dir)).toBeGreaterThanOrEqual(4);
    const r = await run;
    expect(r.code, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout);
    const byName = Object.fromEntries(out.targets.map((t: { target: string }) => [t.target, t]));
    expect(byName.nas.status).toBe('committed');
    expect(byName.s3.status).toBe('failed');
    expect(byName.s3.error).toMatch(/s3:\/\/triad-test\/r\/.*(temporary failure|unreachable|ECONNREFUSED|connect)/i);
    expect(r.stderr).toContain("target 's3' failed");
    // The NAS snapshot restores.
    const to = join(work, 'restore-nas');
    expect(triad(['restore', '-p', policy, 'latest', '--to', to, '--target', 'nas'], { env }).code).toBe(0);
    expect(snapshotOf(join(to, 'src'))).toEqual(snapshotOf(src));
  });

  it('after the outage, copy repairs the cloud copy without resending what arrived, and check passes on both', async () => {
    s3 = await startS3rver(s3dir, { port: s3.port });
    const before = triad(['snapshots', '-p', policy, '--json'], { env });
    expect(before.code, before.stderr).toBe(0);
    const snap = JSON.parse(before.stdout).snapshots[0];
    expect(snap.targets).toEqual(['nas']);
    const nasPacks = countFiles(join(work, 'nas', 'data'));
    const c = triad(['copy', '-p', policy, '--from', 'nas', '--to', 's3', '--json'], { env });
    // With --json the error is on stdout.
    expect(c.code, c.stdout + c.stderr).toBe(0);
    const copied = JSON.parse(c.stdout);
    expect(copied.snapshots).toEqual([snap.id]);
    // Packs that reached the bucket before the outage were reused.
    expect(copied.packsReused).toBeGreaterThanOrEqual(1);
    expect(copied.packsCopied).toBeGreaterThan(0);
    expect(copied.packsCopied + copied.packsReused).toBe(nasPacks);
    const after = JSON.parse(triad(['snapshots', '-p', policy, '--json'], { env }).stdout);
    expect([...after.snapshots[0].targets].sort()).toEqual(['nas', 's3']);
    const chk = triad(['check', '-p', policy, '--read-data', '--json'], { env });
    expect(chk.code, chk.stdout + chk.stderr).toBe(0);
    const to = join(work, 'restore-s3');
    expect(triad(['restore', '-p', policy, 'latest', '--to', to, '--target', 's3'], { env }).code).toBe(0);
    expect(snapshotOf(join(to, 'src'))).toEqual(snapshotOf(src));
    // A second copy has nothing to do.
    const again = JSON.parse(triad(['copy', '-p', policy, '--from', 'nas', '--to', 's3', '--json'], { env }).stdout);
    expect(again.snapshots).toEqual([]);
  });
});
