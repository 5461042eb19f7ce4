import { readdirSync, statSync, truncateSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytes, snapshotOf } from '../helpers/tree.js';
import { PASS, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';

/** Pack files of a local target, with their sizes. */
function packsOf(repo: string): Map<string, number> {
  const dir = join(repo, 'data');
  const out = new Map<string, number>();
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile() && /^[0-9a-f]{64}$/.test(e.name)) out.set(join(e.parentPath, e.name), statSync(join(e.parentPath, e.name)).size);
  }
  return out;
}

/** The largest pack of a target: the data pack of a backup of a few large files. */
function largestPack(repo: string): string {
  return [...packsOf(repo)].sort((a, b) => b[1] - a[1])[0]![0];
}

/**
 * Two snapshots on every target of `targets` (the second adds a file), as in the report:
 * the first backup's packs are the ones a later backup reuses without reading the files.
 */
function twoSnapshots(targets: string[]) {
  const work = tempDir();
  const src = join(work, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.bin'), bytes(1, 1_500_000));
  writeFileSync(join(src, 'b.bin'), bytes(2, 1_200_000));
  writeFileSync(join(src, 'notes.txt'), bytes(3, 5000, true));
  const policy = writeLocalPolicy(work, {
    sources: [src],
    targets: Object.fromEntries(targets.map((t) => [t, { path: join(work, t), media: 'nas', offsite: false }])),
    rule: 'none',
  });
  expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
  expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
  const firstPacks = Object.fromEntries(targets.map((t) => [t, [...packsOf(join(work, t)).keys()]]));
  const firstLargest = Object.fromEntries(targets.map((t) => [t, largestPack(join(work, t))]));
  writeFileSync(join(src, 'c.bin'), bytes(4, 300_000));
  expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
  return { work, src, policy, firstPacks, firstLargest };
}

function restoreExact(work: string, policy: string, src: string, target?: string): void {
  const to = join(work, `restored-${target ?? 'any'}`);
  const r = triad(['restore', '-p', policy, 'latest', '--to', to, ...(target ? ['--target', target] : [])], { env: PASS });
  expect(r.code, r.stderr).toBe(0);
  expect(snapshotOf(join(to, 'src'))).toEqual(snapshotOf(src));
}

describe('backup on top of a pack that is lost or cut short', () => {
  it('a deleted pack: the next backup stores its blobs again, says so, and its snapshot restores exactly', () => {
    const { work, src, policy, firstLargest } = twoSnapshots(['nas']);
    const lost = firstLargest.nas!;
    unlinkSync(lost);
    const b = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(b.code, b.stderr).toBe(0);
    restoreExact(work, policy, src);
    const out = JSON.parse(b.stdout);
    // The files whose content was in the lost pack were read again and stored.
    expect(out.summary.dataAdded).toBeGreaterThanOrEqual(1_500_000);
    expect(b.stderr).toContain(`target 'nas': 1 pack(s) named by the index are missing or cut short: ${lost.slice(lost.lastIndexOf('/') + 1)} (missing)`);
    expect(b.stderr).toContain("run 'triad check -p POLICY --target nas'");
    // The index no longer names the lost pack, and every snapshot is whole again: the
    // sources still held the lost blobs, and blob ids are the same wherever they are stored.
    const check = triad(['check', '-p', policy], { env: PASS });
    expect(check.code, check.stdout + check.stderr).toBe(0);
  });

  it('a truncated pack: the next backup stores its blobs again and its snapshot restores exactly', () => {
    const { work, src, policy, firstLargest } = twoSnapshots(['nas']);
    const short = firstLargest.nas!;
    const size = statSync(short).size;
    truncateSync(short, Math.floor(size / 2));
    const b = triad(['backup', '-p', policy], { env: PASS });
    expect(b.code, b.stderr).toBe(0);
    restoreExact(work, policy, src);
    expect(b.stderr).toContain(`${short.slice(short.lastIndexOf('/') + 1)} (${Math.floor(size / 2)} bytes, the index says ${size})`);
    const again = triad(['backup', '-p', policy], { env: PASS });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('missing or cut short');
  });

  it('every pack of the first backup lost on one of two targets: that target gets data and trees again, both restore', () => {
    const { work, src, policy, firstPacks } = twoSnapshots(['nas', 'usb']);
    for (const p of firstPacks.usb!) unlinkSync(p);
    const b = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(b.code, b.stderr).toBe(0);
    restoreExact(work, policy, src, 'usb');
    restoreExact(work, policy, src, 'nas');
    expect(b.stderr).toContain(`target 'usb': ${firstPacks.usb!.length} pack(s) named by the index are missing`);
    expect(b.stderr).not.toContain("target 'nas'");
    const out = JSON.parse(b.stdout);
    expect(out.targets.map((t: { status: string }) => t.status)).toEqual(['committed', 'committed']);
    expect(triad(['check', '-p', policy, '--target', 'nas'], { env: PASS }).code).toBe(0);
    // The first snapshot's root tree (the sources before c.bin) is in no source any more:
    // check reports that snapshot on usb as damaged, and only that one.
    const check = triad(['check', '-p', policy, '--target', 'usb'], { env: PASS });
    // (The exit code for damage is check's business; what matters here is which snapshot it names.)
    expect(check.code, check.stdout + check.stderr).not.toBe(0);
    const listed: { id: string; time: string }[] = JSON.parse(triad(['snapshots', '-p', policy, '--json'], { env: PASS }).stdout).snapshots;
    const oldestFirst = listed.sort((a, b) => a.time.localeCompare(b.time)).map((s) => s.id.slice(0, 8));
    expect(oldestFirst).toHaveLength(3);
    expect(oldestFirst.filter((id) => check.stdout.includes(`snapshot ${id}`))).toEqual([oldestFirst[0]]);
  });
});
