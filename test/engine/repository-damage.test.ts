import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytes } from '../helpers/tree.js';
import { ENTRY, PASS, ROOT, tempDir, triad, writeLocalPolicy, type RunResult } from '../helpers/triad.js';

/** Like triad(), but a run that does not end within `ms` fails the test instead of hanging it. */
function triadWithin(ms: number, args: string[], env: Record<string, string> = PASS): RunResult {
  const r = spawnSync(process.execPath, [ENTRY, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    timeout: ms,
    killSignal: 'SIGKILL',
  });
  if (r.error || r.signal) throw new Error(`triad ${args.join(' ')} did not end within ${ms} ms`);
  return { code: r.status ?? 1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Two snapshots on two local targets; returns the paths and the snapshot ids, oldest first. */
function twoSnapshots(): { dir: string; src: string; policy: string; nas: string; ids: string[] } {
  const dir = tempDir();
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.txt'), bytes(1, 5000, true));
  writeFileSync(join(src, 'big.bin'), bytes(2, 2 * 1024 * 1024));
  const policy = writeLocalPolicy(dir, { sources: [src], extra: 'retention: {keep_last: 5}' });
  expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
  expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
  writeFileSync(join(src, 'b.txt'), bytes(3, 3000, true));
  expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
  const ids = (JSON.parse(triad(['snapshots', '-p', policy, '--json'], { env: PASS }).stdout).snapshots as { id: string }[]).map((s) => s.id);
  expect(ids).toHaveLength(2);
  return { dir, src, policy, nas: join(dir, 'nas'), ids };
}

function objectsIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() || e.isFIFO())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

function largestPack(nas: string): string {
  return objectsIn(join(nas, 'data')).sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
}

const GARBAGE_ID = 'ab'.repeat(32);

describe('repository objects are checked for type and size before they are read', () => {
  it('a FIFO in place of a pack: restore, ls, check and backup end, naming the object', () => {
    const { dir, policy, nas } = twoSnapshots();
    const pack = largestPack(nas);
    rmSync(pack);
    expect(spawnSync('mkfifo', [pack]).status).toBe(0);
    const packName = pack.slice(nas.length + 1);

    const restore = triadWithin(30_000, ['restore', '-p', policy, 'latest', '--to', join(dir, 'out'), '--target', 'nas']);
    expect(restore.code).toBe(1);
    expect(restore.stderr).toContain(`${packName} is a FIFO, not a regular file`);
    expect(restore.stderr).not.toMatch(/^\s+at /m);

    expect(triadWithin(30_000, ['ls', '-p', policy, 'latest', '--target', 'nas']).code).toBe(0);

    const check = triadWithin(30_000, ['check', '-p', policy, '--target', 'nas', '--read-data', '--json']);
    expect(check.code).toBe(4);
    const errors = JSON.parse(check.stdout).targets[0].errors as { kind: string; pack?: string; message: string }[];
    expect(errors.some((e) => e.kind === 'damaged-pack' && e.message.includes('is a FIFO'))).toBe(true);

    // The backup stores on usb and ends; the pack no longer readable on nas is not silently relied on.
    const backup = triadWithin(60_000, ['backup', '-p', policy]);
    expect([0, 1]).toContain(backup.code);
    expect(backup.stderr).not.toMatch(/^\s+at /m);
  });

  it('an object far larger than any of its kind is refused unread, naming it', () => {
    const { policy, nas } = twoSnapshots();
    const index = objectsIn(join(nas, 'index'))[0]!;
    // Sparse: 300 MiB of nothing, above the 256 MiB cap of an index file.
    truncateSync(index, 300 * 1024 * 1024);
    const r = triadWithin(30_000, ['ls', '-p', policy, 'latest', '--target', 'nas']);
    // Named as damage and routed around: the packs it covered are read from their own headers.
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('b.txt');
    expect(r.stderr).toContain(`${index.slice(nas.length + 1)} has ${300 * 1024 * 1024} bytes, more than any index object triad writes`);
    expect(r.stderr).toContain("triad repair index -p POLICY --target nas");
  });
});

describe('a damaged snapshot object', () => {
  it('is a warning naming it; the other snapshots stay usable, and check reports it as damage', () => {
    const { dir, policy, nas, ids } = twoSnapshots();
    writeFileSync(join(nas, 'snapshots', GARBAGE_ID), bytes(9, 800));
    const object = `snapshots/${GARBAGE_ID}`;

    const list = triad(['snapshots', '-p', policy, '--json'], { env: PASS });
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout).snapshots as { id: string }[]).map((s) => s.id)).toEqual(ids);
    expect(list.stderr).toContain(object);

    const ls = triad(['ls', '-p', policy, 'latest', '--target', 'nas'], { env: PASS });
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain('b.txt');
    expect(ls.stderr).toContain(object);

    expect(triad(['restore', '-p', policy, ids[0]!.slice(0, 12), '--to', join(dir, 'out'), '--target', 'nas'], { env: PASS }).code).toBe(0);
    const forget = triad(['forget', '-p', policy, '--dry-run', '--target', 'nas'], { env: PASS });
    expect(forget.code, forget.stderr).toBe(0);
    expect(forget.stderr).toContain(object);
    const backup = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).toContain(object);

    const check = triad(['check', '-p', policy, '--target', 'nas'], { env: PASS });
    expect(check.code).toBe(4);
    expect(check.stdout).toContain(object);
  });
});

describe('check compares the snapshots it finds with the catalogue', () => {
  it('reports the snapshots the catalogue records on a target that lost snapshots/, naming them', () => {
    const { policy, nas, ids } = twoSnapshots();
    rmSync(join(nas, 'snapshots'), { recursive: true });
    const r = triad(['check', '-p', policy, '--read-data', '--json'], { env: PASS });
    expect(r.code, r.stdout + r.stderr).toBe(4);
    const nasReport = (JSON.parse(r.stdout).targets as { target: string; errors: { kind: string; snapshot?: string; hint?: string }[] }[]).find((t) => t.target === 'nas')!;
    const missing = nasReport.errors.filter((e) => e.kind === 'missing-snapshot');
    expect(missing.map((e) => e.snapshot).sort()).toEqual([...ids].sort());
    expect(missing[0]!.hint).toContain('triad copy -p POLICY --from OTHER --to nas');
    const human = triad(['check', '-p', policy, '--target', 'nas'], { env: PASS });
    expect(human.code).toBe(4);
    for (const id of ids) expect(human.stdout).toContain(`snapshot ${id.slice(0, 8)}`);
    // The other target holds both, as the catalogue says.
    expect(triad(['check', '-p', policy, '--target', 'usb'], { env: PASS }).code).toBe(0);
  });
});

describe('files in data/ that are not packs', () => {
  it('are a harmless note without --read-data, and damage with it', () => {
    const { policy, nas } = twoSnapshots();
    mkdirSync(join(nas, 'data', 'ab'), { recursive: true });
    writeFileSync(join(nas, 'data', 'ab', GARBAGE_ID), bytes(5, 4000));
    const lenient = triad(['check', '-p', policy, '--target', 'nas'], { env: PASS });
    expect(lenient.code, lenient.stdout).toBe(0);
    expect(lenient.stdout).toContain('1 pack(s) not in any index');
    const strict = triad(['check', '-p', policy, '--target', 'nas', '--read-data', '--json'], { env: PASS });
    expect(strict.code).toBe(4);
    const errors = JSON.parse(strict.stdout).targets[0].errors as { kind: string; path?: string; message: string }[];
    expect(errors).toEqual([expect.objectContaining({ kind: 'not-a-pack', path: `data/ab/${GARBAGE_ID}` })]);
    expect(errors[0]!.message).toContain('does not match its name');
  });
});

describe('check exit codes', () => {
  it('1 when a target cannot be checked and the others hold no damage; its own code when none can', () => {
    const { dir, policy } = twoSnapshots();
    rmSync(join(dir, 'usb'), { recursive: true });
    const one = triad(['check', '-p', policy], { env: PASS });
    expect(one.code, one.stdout + one.stderr).toBe(1);
    expect(one.stdout).toContain('usb: cannot be checked');
    rmSync(join(dir, 'nas'), { recursive: true });
    expect(triad(['check', '-p', policy], { env: PASS }).code).toBe(10);
  });
});

describe('temporary files of interrupted writes', () => {
  it('prune and repair index remove them once a prune has seen them for the grace period, never a fresh one', async () => {
    const { policy, nas } = twoSnapshots();
    const stale = join(nas, 'data', '.tmp-stale0001');
    writeFileSync(stale, bytes(6, 4 * 1024 * 1024));
    const first = triad(['prune', '-p', policy, '--unindexed-grace', '1s', '--target', 'nas'], { env: PASS });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('1 temporary file(s) (4.0 MiB) left alone for now');
    expect(statSync(stale).isFile()).toBe(true);

    await new Promise((r) => setTimeout(r, 1200));
    const fresh = join(nas, 'index', '.tmp-fresh0001');
    writeFileSync(fresh, 'a write still under way');
    const second = triad(['prune', '-p', policy, '--unindexed-grace', '1s', '--target', 'nas'], { env: PASS });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('removed 1 temporary file(s) left by interrupted writes (4.0 MiB)');
    expect(() => statSync(stale)).toThrow();
    expect(statSync(fresh).isFile()).toBe(true);

    // repair index removes what a prune saw long enough ago, too.
    await new Promise((r) => setTimeout(r, 1200));
    const repair = triad(['repair', 'index', '-p', policy, '--unindexed-grace', '1s', '--target', 'nas'], { env: PASS });
    expect(repair.code, repair.stderr).toBe(0);
    expect(repair.stdout).toContain('removed 1 temporary file(s)');
    expect(() => statSync(fresh)).toThrow();
    expect(readdirSync(nas, { recursive: true }).filter((f) => String(f).includes('.tmp-'))).toEqual([]);
  });
});
