import { appendFileSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, cpSync, openSync, writeSync, closeSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASS, scratchDir, triad, triadBytes, writeLocalPolicy } from '../helpers/triad.js';
import { bytes, makeSampleTree, snapshotOf } from '../helpers/tree.js';
import { spawnSync } from 'node:child_process';

function dirSize(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += statSync(join(e.parentPath, e.name)).size;
  }
  return total;
}

function packFiles(dir: string): string[] {
  return readdirSync(join(dir, 'data'), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe('backup and restore on local targets (CLI as a subprocess)', () => {
  const work = scratchDir();
  const src = join(work, 'src');
  let policy: string;
  const snaps: { id: string; tree: Map<string, ReturnType<typeof snapshotOf> extends Map<string, infer V> ? V : never> }[] = [];

  beforeAll(() => {
    makeSampleTree(src);
    policy = writeLocalPolicy(work, { sources: [src] });
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('init creates both replicas and is idempotent', () => {
    const a = triad(['init', '-p', policy, '--json'], { env: PASS });
    expect(a.code, a.stderr).toBe(0);
    const r = JSON.parse(a.stdout);
    expect(r.targets.map((t: { status: string }) => t.status)).toEqual(['created', 'replicated']);
    const b = triad(['init', '-p', policy, '--json'], { env: PASS });
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout).targets.map((t: { status: string }) => t.status)).toEqual(['existing', 'existing']);
    expect(JSON.parse(b.stdout).repositoryId).toBe(r.repositoryId);
  });

  it('init with another passphrase on an existing repository is refused, naming the target', () => {
    const r = triad(['init', '-p', policy], { env: { TEST_PASSPHRASE: 'nope' } });
    expect(r.code).toBe(12);
    expect(r.stderr).toContain("target 'nas'");
  });

  it('first backup stores every file on both targets', () => {
    const r = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.snapshot).toMatch(/^[0-9a-f]{64}$/);
    expect(out.targets.map((t: { status: string }) => t.status)).toEqual(['committed', 'committed']);
    expect(out.summary.filesNew).toBe(7);
    expect(out.summary.bytesRead).toBe(50 * 1024 * 1024 + 5000 + 12345 + 777 + 18 + 8);
    // Random data does not compress: the repository holds about the source size, not more.
    const stored = dirSize(join(work, 'nas', 'data'));
    expect(stored).toBeGreaterThan(50 * 1024 * 1024);
    expect(stored).toBeLessThan(50 * 1024 * 1024 * 1.01);
    snaps.push({ id: out.snapshot, tree: snapshotOf(src) });
  });

  it('a second backup with a copied file and an insertion stores only new chunks, and reads only changed files', () => {
    const before = dirSize(join(work, 'nas', 'data'));
    // A copy of the big file dedupes entirely; inserting 100 bytes in the middle changes only nearby chunks.
    cpSync(join(src, 'big.bin'), join(src, 'big-copy.bin'));
    const big = readFileSync(join(src, 'big.bin'));
    const mid = 25 * 1024 * 1024;
    writeFileSync(join(src, 'big.bin'), Buffer.concat([big.subarray(0, mid), bytes(99, 100), big.subarray(mid)]));
    appendFileSync(join(src, 'docs', 'readme.txt'), 'one more line\n');
    rmSync(join(src, 'secret.txt'));
    const r = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.parent).toBe(snaps[0]!.id);
    expect(out.summary.filesUnchanged).toBe(4);
    expect(out.summary.filesChanged).toBe(2);
    expect(out.summary.filesNew).toBe(1);
    // Incremental: unchanged files are not read; only the two changed files and the new copy are.
    expect(out.summary.bytesRead).toBe(2 * big.length + 100 + 5000 + 14);
    const added = dirSize(join(work, 'nas', 'data')) - before;
    // Dedupe: the 50 MiB copy adds nothing; the insertion adds at most a couple of chunks (max 8 MiB each, avg 1 MiB).
    expect(added).toBeLessThan(10 * 1024 * 1024);
    expect(added).toBeGreaterThan(100);
    snaps.push({ id: out.snapshot, tree: snapshotOf(src) });
  });

  it('snapshots lists both, complete on both targets', () => {
    const r = triad(['snapshots', '-p', policy, '--json'], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.snapshots.map((s: { id: string }) => s.id)).toEqual(snaps.map((s) => s.id));
    for (const s of out.snapshots) expect(s.targets.sort()).toEqual(['nas', 'usb']);
    const human = triad(['snapshots', '-p', policy], { env: PASS });
    expect(human.stdout).toContain(snaps[0]!.id.slice(0, 8));
  });

  it('restores each snapshot from each target byte for byte, with modes, mtimes and symlinks', () => {
    for (const target of ['nas', 'usb']) {
      for (const s of snaps) {
        const to = join(work, `restore-${target}-${s.id.slice(0, 8)}`);
        const r = triad(['restore', '-p', policy, s.id.slice(0, 10), '--to', to, '--target', target, '--json'], { env: PASS });
        expect(r.code, r.stderr).toBe(0);
        const restored = snapshotOf(join(to, 'src'));
        expect([...restored.keys()]).toEqual([...s.tree.keys()]);
        for (const [path, want] of s.tree) {
          const got = restored.get(path)!;
          expect(got.type, path).toBe(want.type);
          expect(got.content, path).toBe(want.content);
          expect(got.target, path).toBe(want.target);
          if (want.type !== 'symlink') {
            expect(got.mode, path).toBe(want.mode);
            expect(got.mtime, path).toBe(want.mtime);
          }
        }
      }
    }
  });

  it('refuses a non-empty restore directory unless --overwrite', () => {
    const to = join(work, 'restore-nas-' + snaps[1]!.id.slice(0, 8));
    const r = triad(['restore', '-p', policy, 'latest', '--to', to], { env: PASS });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not empty');
    const o = triad(['restore', '-p', policy, 'latest', '--to', to, '--overwrite'], { env: PASS });
    expect(o.code, o.stderr).toBe(0);
  });

  it('ls, diff and include filters', () => {
    const ls = triad(['ls', '-p', policy, 'latest', 'src/docs', '--json'], { env: PASS });
    expect(ls.code, ls.stderr).toBe(0);
    const paths = JSON.parse(ls.stdout).entries.map((e: { path: string }) => e.path);
    expect(paths).toContain('src/docs/deep/deeper/notes with spaces.md');
    expect(paths.every((p: string) => p.startsWith('src/docs'))).toBe(true);
    const d = triad(['diff', '-p', policy, snaps[0]!.id.slice(0, 8), 'latest', '--json'], { env: PASS });
    expect(d.code, d.stderr).toBe(0);
    const diff = JSON.parse(d.stdout);
    expect(diff.added).toEqual(['src/big-copy.bin']);
    expect(diff.removed).toEqual(['src/secret.txt']);
    expect(diff.modified.sort()).toEqual(['src/big.bin', 'src/docs/readme.txt']);
    const to = join(work, 'restore-include');
    const inc = triad(['restore', '-p', policy, 'latest', '--to', to, '--include', 'src/docs/**'], { env: PASS });
    expect(inc.code, inc.stderr).toBe(0);
    expect(existsSync(join(to, 'src', 'docs', 'readme.txt'))).toBe(true);
    expect(existsSync(join(to, 'src', 'big.bin'))).toBe(false);
  });

  it('dump writes a tar that GNU tar extracts with modes and mtimes', async () => {
    const r = await triadBytes(['dump', '-p', policy, 'latest', 'src/docs'], PASS);
    expect(r.code, r.stderr).toBe(0);
    const to = join(work, 'untar');
    spawnSync('mkdir', ['-p', to]);
    const x = spawnSync('tar', ['-x', '-C', to], { input: r.stdout });
    expect(x.status, x.stderr.toString()).toBe(0);
    const want = snapshotOf(join(src, 'docs'));
    const got = snapshotOf(join(to, 'src', 'docs'));
    for (const [p, w] of want) {
      expect(got.get(p)?.content, p).toBe(w.content);
      // PAX records carry the fraction of a second (test/engine/timestamps.test.ts: to the nanosecond).
      if (w.type === 'file') expect(got.get(p)?.mtime, p).toBe(w.mtime);
      if (w.type === 'file') expect(got.get(p)?.mode, p).toBe(w.mode);
    }
  });

  it('check passes, then finds a flipped byte in a pack; restore from that target reports it', () => {
    const ok = triad(['check', '-p', policy, '--read-data'], { env: PASS });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    // Flip one byte in the middle of the largest pack on the usb target only.
    const packs = packFiles(join(work, 'usb')).sort((a, b) => statSync(b).size - statSync(a).size);
    const victim = packs[0]!;
    const fd = openSync(victim, 'r+');
    const size = fstatSync(fd).size;
    const b = Buffer.alloc(1);
    const pos = Math.floor(size / 3);
    spawnSync('true');
    b[0] = readFileSync(victim)[pos]! ^ 0xff;
    writeSync(fd, b, 0, 1, pos);
    closeSync(fd);
    const bad = triad(['check', '-p', policy, '--read-data', '--target', 'usb', '--json'], { env: PASS });
    expect(bad.code).toBe(4);
    const rep = JSON.parse(bad.stdout);
    const damaged = rep.targets[0].damagedPacks;
    expect(damaged).toHaveLength(1);
    expect(victim.endsWith(damaged[0].pack)).toBe(true);
    expect(damaged[0].affected.length).toBeGreaterThan(0);
    // The nas copy is intact.
    expect(triad(['check', '-p', policy, '--read-data', '--target', 'nas'], { env: PASS }).code).toBe(0);
    const to = join(work, 'restore-damaged');
    const rr = triad(['restore', '-p', policy, 'latest', '--to', to, '--target', 'usb', '--json'], { env: PASS });
    expect(rr.code).toBe(1);
    const res = JSON.parse(rr.stdout);
    expect(res.failures.length).toBeGreaterThan(0);
    expect(res.failures[0].reason).toMatch(/authentication failed|does not match/);
    // No partial file is left under its real name.
    for (const f of res.failures) expect(existsSync(join(to, f.path))).toBe(false);
  });

  it('wrong passphrase exits 12 and a missing repository exits 10, with clear messages', () => {
    const wrong = triad(['snapshots', '-p', policy], { env: { TEST_PASSPHRASE: 'wrong' } });
    expect(wrong.code).toBe(12);
    expect(wrong.stderr).toMatch(/wrong passphrase/);
    expect(wrong.stderr).not.toContain('wrong\n');
    const other = scratchDir();
    const p2 = writeLocalPolicy(other, { name: 'fresh', sources: [src] });
    const missing = triad(['backup', '-p', p2], { env: PASS });
    expect(missing.code).toBe(10);
    expect(missing.stderr).toMatch(/no repository at target 'nas'/);
    expect(missing.stderr).toContain('triad init');
    rmSync(other, { recursive: true, force: true });
  });
});
