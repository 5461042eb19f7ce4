import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytes } from '../helpers/tree.js';
import { PASS, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';

/*
 * One damaged index file or snapshot manifest on a reachable local target is damage found
 * (exit 4, naming the object and the repair), not an unreachable target; reading commands
 * route around it (the packs' own headers stand in for a damaged index file) and say so.
 */

const FILES: Record<string, Buffer> = {
  'a.txt': bytes(1, 5000, true),
  'big.bin': bytes(2, 1024 * 1024),
  'sub/c.txt': bytes(3, 20_000, true),
};

/** Two backups (two snapshots, two index files, the second reusing the first's blobs) to local targets. */
function twoBackups(): { dir: string; src: string; policy: string; nas: string; ids: string[] } {
  const dir = tempDir();
  const src = join(dir, 'src');
  for (const [rel, data] of Object.entries(FILES)) {
    mkdirSync(join(src, rel, '..'), { recursive: true });
    writeFileSync(join(src, rel), data);
  }
  const policy = writeLocalPolicy(dir, { sources: [src], extra: 'retention: {keep_last: 5}' });
  expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
  expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
  writeFileSync(join(src, 'b.txt'), bytes(4, 3000, true));
  expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
  const ids = (JSON.parse(triad(['snapshots', '-p', policy, '--json'], { env: PASS }).stdout).snapshots as { id: string; time: string }[]).map((s) => s.id);
  expect(ids).toHaveLength(2);
  return { dir, src, policy, nas: join(dir, 'nas'), ids };
}

/** Flips one byte in the middle of a stored object. */
function flipByte(file: string): void {
  const b = readFileSync(file);
  b[b.length >> 1]! ^= 0x40;
  writeFileSync(file, b);
}

/** The index file that names the most packs' bytes: the first backup's, which both snapshots need. */
function largestIndexFile(nas: string): string {
  const names = readdirSync(join(nas, 'index'));
  expect(names.length).toBeGreaterThanOrEqual(2);
  return names.sort((a, b) => statSync(join(nas, 'index', b)).size - statSync(join(nas, 'index', a)).size)[0]!;
}

function expectRestoredTree(out: string, withB: boolean): void {
  for (const [rel, data] of Object.entries(FILES)) expect(readFileSync(join(out, rel)).equals(data), rel).toBe(true);
  if (withB) expect(readFileSync(join(out, 'b.txt')).equals(bytes(4, 3000, true))).toBe(true);
}

describe('a damaged index file is damage found, and routed around', () => {
  it('restore-test exits 4 naming it and the repair; restore still restores with a warning; check exits 4; repair index mends it', () => {
    const { dir, policy, nas } = twoBackups();
    const indexName = largestIndexFile(nas);
    flipByte(join(nas, 'index', indexName));

    const test = triad(['restore-test', '-p', policy, '--target', 'nas', '--sample', '100', '--snapshots', 'all', '--seed', '7'], { env: PASS });
    const testOut = test.stdout + test.stderr;
    expect(test.code, testOut).toBe(4);
    expect(testOut).not.toContain('UNREACHABLE');
    expect(testOut).toContain(`index/${indexName}`);
    expect(testOut).toContain("triad repair index -p POLICY --target nas");
    // The data itself was read through the packs' headers and verified: no file failed.
    const json = JSON.parse(triad(['restore-test', '-p', policy, '--target', 'nas', '--sample', '100', '--snapshots', 'all', '--seed', '7', '--json'], { env: PASS }).stdout) as {
      exitCode: number; targets: { target: string; reachable: boolean; failed: number; passed: number; damagedObjects: { kind: string; object: string }[] }[];
    };
    expect(json.exitCode).toBe(4);
    expect(json.targets[0]).toMatchObject({ target: 'nas', reachable: true, failed: 0, damagedObjects: [{ kind: 'index', object: `index/${indexName}` }] });
    expect(json.targets[0]!.passed).toBe(Object.keys(FILES).length * 2 + 1);

    const out = join(dir, 'out');
    const restore = triad(['restore', '-p', policy, 'latest', '--to', out, '--target', 'nas'], { env: PASS });
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stderr).toContain(`index/${indexName}`);
    expect(restore.stderr).toMatch(/read from their own headers/);
    expectRestoredTree(join(out, 'src'), true);

    const check = triad(['check', '-p', policy, '--target', 'nas'], { env: PASS });
    expect(check.code, check.stdout + check.stderr).toBe(4);
    expect(check.stdout).toContain(`index/${indexName}`);
    expect(check.stdout).toContain('triad repair index -p POLICY --target nas');
    expect(check.stdout).not.toContain('is not in any index');

    const repair = triad(['repair', 'index', '-p', policy, '--target', 'nas'], { env: PASS });
    expect(repair.code, repair.stdout + repair.stderr).toBe(0);
    expect(readdirSync(join(nas, 'index'))).not.toContain(indexName);
    const after = triad(['check', '-p', policy, '--target', 'nas'], { env: PASS });
    expect(after.code, after.stdout + after.stderr).toBe(0);
    const retest = triad(['restore-test', '-p', policy, '--target', 'nas', '--sample', '100', '--seed', '7'], { env: PASS });
    expect(retest.code, retest.stdout + retest.stderr).toBe(0);
    expect(retest.stderr).not.toContain('index/');
  });
});

describe('a damaged snapshot manifest is damage found; the other snapshots stay usable', () => {
  it('snapshots lists the other with a warning, restore of the other works, check exits 4 naming it', () => {
    const { dir, policy, nas, ids } = twoBackups();
    const [older, newer] = ids as [string, string];
    flipByte(join(nas, 'snapshots', older));
    // Only the damaged target is read, so the intact copy on 'usb' cannot stand in for it.
    const list = triad(['snapshots', '-p', policy, '--target', 'nas', '--json'], { env: PASS });
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout).snapshots as { id: string }[]).map((s) => s.id)).toEqual([newer]);
    expect(list.stderr).toContain(`snapshots/${older}`);

    const out = join(dir, 'out');
    const restore = triad(['restore', '-p', policy, newer.slice(0, 12), '--to', out, '--target', 'nas'], { env: PASS });
    expect(restore.code, restore.stderr).toBe(0);
    expectRestoredTree(join(out, 'src'), true);

    const check = triad(['check', '-p', policy, '--target', 'nas'], { env: PASS });
    expect(check.code, check.stdout + check.stderr).toBe(4);
    expect(check.stdout).toContain(`snapshots/${older}`);

    const test = triad(['restore-test', '-p', policy, '--target', 'nas', '--sample', '100', '--snapshots', 'all', '--seed', '3'], { env: PASS });
    expect(test.code, test.stdout + test.stderr).toBe(4);
    expect(test.stdout).not.toContain('UNREACHABLE');
    expect(test.stdout).toContain(`damaged snapshot: integrity error in snapshots/${older}`);
    expect(test.stdout).toContain('triad copy -p POLICY --from OTHER --to nas');
  });
});

describe('a target whose only key file is damaged is damage found, not unreachable', () => {
  it('check and restore-test exit 4 naming the key file', () => {
    const { policy, nas } = twoBackups();
    const [key] = readdirSync(join(nas, 'keys'));
    writeFileSync(join(nas, 'keys', key!), '{"truncated');
    const check = triad(['check', '-p', policy, '--target', 'nas'], { env: PASS });
    expect(check.code, check.stdout + check.stderr).toBe(4);
    expect(check.stdout + check.stderr).toContain(key!.slice(0, 12));
    const test = triad(['restore-test', '-p', policy, '--target', 'nas', '--files', '2', '--seed', '3'], { env: PASS });
    expect(test.code, test.stdout + test.stderr).toBe(4);
    expect(test.stdout).not.toContain('UNREACHABLE');
    expect(test.stdout).toContain('damaged, cannot be opened');
  });
});
