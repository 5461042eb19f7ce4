import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openCatalog } from '../../src/catalog/catalog.js';
import { openLocalStorage } from '../../src/backends/local.js';
import { readJournal } from '../../src/repo/model/journal.js';
import { Repository } from '../../src/repo/repository.js';
import { PASS, scratchDir, triad, writeLocalPolicy } from '../helpers/triad.js';
import { craftSnapshotWithMissingBlob, flipByte, journalCount, makeSource, packFiles, parseJunit, resetFrom, truncateFile } from './helpers.js';

interface FileRes {
  snapshot: string;
  path: string;
  status: string;
  kind?: string;
  reason?: string;
  source?: string;
}
interface TargetRes {
  target: string;
  ok: boolean;
  reachable: boolean;
  files: number;
  failed: number;
  bytes: number;
  overheadMs: number;
  transferMs: number;
  verifyMs: number;
  durationMs: number;
  throughputBytesPerSec: number | null;
  estimatedFullRestoreMs: number | null;
  structure: { snapshot: string; ok: boolean; problems: { kind: string; path: string }[] }[];
  results: FileRes[];
}
interface Res {
  seed: number;
  overdue: boolean;
  previous: { at: string } | null;
  sample: { files: number; bytes: number; snapshotList: { id: string; files: { path: string; size: number }[] }[] };
  targets: TargetRes[];
  exitCode: number;
}

describe('triad restore-test on local targets', () => {
  const work = scratchDir('triad-rt-');
  const pristine = join(work, 'pristine');
  const src = join(work, 'src');
  const scratch = join(work, 'scratch');
  let policy: string;
  const snapshots: string[] = [];

  const run = (args: string[], env: Record<string, string> = {}) => triad(['restore-test', '-p', policy, '--scratch', scratch, ...args], { env: { ...PASS, ...env } });
  const runJson = (args: string[]) => {
    const r = run([...args, '--json']);
    let json: Res | undefined;
    try {
      json = JSON.parse(r.stdout) as Res;
    } catch {
      throw new Error(`no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
    return { ...r, json };
  };
  const target = (r: Res, name: string) => r.targets.find((t) => t.target === name)!;

  beforeAll(() => {
    makeSource(src);
    policy = writeLocalPolicy(work, { sources: [src], rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(src, `gen-${i}.txt`), `generation ${i}\n`.repeat(100 * (i + 1)));
      const b = triad(['backup', '-p', policy, '--json'], { env: PASS });
      expect(b.code, b.stderr).toBe(0);
      snapshots.push(JSON.parse(b.stdout).snapshot);
    }
    mkdirSync(pristine);
    for (const d of ['nas', 'usb']) cpSync(join(work, d), join(pristine, d), { recursive: true });
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  beforeEach(() => {
    resetFrom(pristine, work, ['nas', 'usb']);
    rmSync(scratch, { recursive: true, force: true });
  });

  it('passes on a clean repository, records the test everywhere and removes its scratch directory', async () => {
    const journalsBefore = { nas: journalCount(join(work, 'nas')), usb: journalCount(join(work, 'usb')) };
    const junit = join(work, 'clean.xml');
    const r = runJson(['--files', '100', '--seed', '1234', '--junit', junit]);
    expect(r.code, r.stderr).toBe(0);
    const res = r.json!;
    expect(res.seed).toBe(1234);
    // Default: the latest snapshot and one random older one.
    expect(res.sample.snapshotList).toHaveLength(2);
    expect(res.sample.snapshotList[0]!.id).toBe(snapshots[2]);
    expect(snapshots.slice(0, 2)).toContain(res.sample.snapshotList[1]!.id);
    for (const name of ['nas', 'usb']) {
      const t = target(res, name);
      expect(t.ok).toBe(true);
      expect(t.files).toBe(res.sample.files);
      expect(t.results.every((f) => f.status === 'passed')).toBe(true);
      expect(t.bytes).toBe(res.sample.bytes);
      expect(t.transferMs).toBeGreaterThan(0);
      expect(t.overheadMs).toBeGreaterThan(0);
      expect(t.throughputBytesPerSec).toBeGreaterThan(0);
      expect(t.estimatedFullRestoreMs).toBeGreaterThan(t.overheadMs);
      // The target's wall time holds its timed parts, which never overlap.
      expect(t.durationMs).toBeGreaterThanOrEqual(t.overheadMs + t.transferMs + t.verifyMs);
    }
    // Large and small files both in the sample.
    const sizes = res.sample.snapshotList[0]!.files.map((f) => f.size);
    expect(Math.max(...sizes)).toBe(3 * 1024 * 1024);
    expect(Math.min(...sizes)).toBe(0);

    // Scratch is gone; the repository gained only the journal record.
    expect(readdirSync(scratch)).toEqual([]);
    expect(journalCount(join(work, 'nas'))).toBe(journalsBefore.nas + 1);
    expect(journalCount(join(work, 'usb'))).toBe(journalsBefore.usb + 1);
    const storage = await openLocalStorage(join(work, 'usb'));
    const repo = await Repository.open('usb', storage, PASS.TEST_PASSPHRASE);
    const rec = (await readJournal(repo)).records.filter((x) => x.kind === 'restore-test').pop()!;
    await storage.close();
    expect(rec.status).toBe('ok');
    expect(rec.details?.seed).toBe(1234);
    expect((rec.details?.results as { target: string; ok: boolean }[]).map((x) => [x.target, x.ok])).toEqual([['nas', true], ['usb', true]]);

    const cat = openCatalog(join(work, 'catalog.db'));
    const tests = cat.listRestoreTests('test').filter((t) => t.seed === 1234);
    const runs = cat.listRuns('test', { kind: 'restore-test' });
    cat.close();
    expect(tests.map((t) => [t.target, t.ok, t.files])).toEqual([['nas', true, res.sample.files], ['usb', true, res.sample.files]]);
    expect(tests[0]!.transfer_ms).toBeGreaterThan(0);
    expect(runs.at(-1)!.status).toBe('ok');

    const doc = parseJunit(readFileSync(junit, 'utf8'));
    expect(doc.testsuite.map((s) => s['@_name'])).toEqual(['nas', 'usb']);
    for (const s of doc.testsuite) {
      // One case per file plus one structure case per snapshot.
      expect(Number(s['@_tests'])).toBe(res.sample.files + 2);
      expect(s.testcase).toHaveLength(res.sample.files + 2);
      expect(Number(s['@_failures'])).toBe(0);
    }
    expect(doc.testsuite[0]!.testcase.map((c) => c['@_name'])).toContain('src/docs/deep/notes & <tags>.md');
  });

  it('the same seed picks the same sample; other seeds pick others', () => {
    const a = runJson(['--files', '3', '--seed', '42']).json!;
    const b = runJson(['--files', '3', '--seed', '42']).json!;
    expect(b.sample.snapshotList).toEqual(a.sample.snapshotList);
    const others = [1, 2, 3, 4].map((seed) => JSON.stringify(runJson(['--files', '3', '--seed', String(seed), '--snapshots', 'all']).json!.sample.snapshotList));
    expect(new Set(others).size).toBeGreaterThan(1);
  });

  it('prints and records a fresh seed when none is given', () => {
    const r = run(['--files', '2', '--snapshots', 'latest']);
    expect(r.code, r.stderr).toBe(0);
    const seed = /seed (\d+)/.exec(r.stdout)?.[1];
    expect(seed).toBeDefined();
    const cat = openCatalog(join(work, 'catalog.db'));
    const last = cat.listRestoreTests('test').at(-1)!;
    cat.close();
    expect(last.seed).toBe(Number(seed));
  });

  const damaged = (name: string, kind: string, inject: () => void) =>
    it(`reports ${name} on the damaged target as a failed case naming file, snapshot and target`, () => {
      inject();
      const junit = join(work, `${kind}.xml`);
      const r = runJson(['--files', '100', '--snapshots', 'latest', '--seed', '9', '--junit', junit]);
      expect(r.code, r.stderr).toBe(4);
      const res = r.json!;
      expect(target(res, 'nas').ok).toBe(true);
      const usb = target(res, 'usb');
      expect(usb.ok).toBe(false);
      const failed = usb.results.filter((f) => f.status === 'failed');
      expect(failed.length).toBeGreaterThan(0);
      expect(failed.map((f) => f.path)).toContain('src/big.bin');
      for (const f of failed) {
        expect(f.kind).toBe(kind);
        expect(f.snapshot).toBe(snapshots[2]);
      }
      expect(readdirSync(scratch)).toEqual([]);

      const doc = parseJunit(readFileSync(junit, 'utf8'));
      const suite = doc.testsuite.find((s) => s['@_name'] === 'usb')!;
      const failing = suite.testcase.filter((c) => c.failure);
      const fileFailures = failing.filter((c) => !c['@_name'].startsWith('structure of'));
      expect(fileFailures.map((c) => c['@_name']).sort()).toEqual(failed.map((f) => f.path).sort());
      expect(Number(suite['@_failures'])).toBe(failing.length);
      expect(Number(doc['@_failures'])).toBe(failing.length);
      const big = fileFailures.find((c) => c['@_name'] === 'src/big.bin')!;
      expect(big.failure!['@_type']).toBe(kind);
      expect(big.failure!['@_message']).toContain(kind.replace(/-/g, ' '));
      expect(big['@_classname']).toContain(snapshots[2]!.slice(0, 8));
      expect(big.failure!['#text']).toContain(`snapshot ${snapshots[2]}`);
      expect(big.failure!['#text']).toContain("target 'usb'");
      expect(Number(doc.testsuite.find((s) => s['@_name'] === 'nas')!['@_failures'])).toBe(0);

      // The human summary names them too.
      const h = run(['--files', '100', '--snapshots', 'latest', '--seed', '9']);
      expect(h.code).toBe(4);
      expect(h.stdout).toMatch(new RegExp(`usb: snapshot ${snapshots[2]!.slice(0, 8)}: src/big.bin: ${kind}`));
      expect(h.stdout).toContain('restore test FAILED on usb');
    });

  damaged('a deleted pack', 'missing-pack', () => rmSync(packFiles(join(work, 'usb'))[0]!));
  damaged('a pack with one flipped byte', 'decryption-failure', () => flipByte(packFiles(join(work, 'usb'))[0]!, 1000));
  damaged('a truncated pack', 'truncated-pack', () => {
    const p = packFiles(join(work, 'usb'))[0]!;
    truncateFile(p, Math.floor(statSync(p).size / 2));
  });

  it('reports a snapshot whose tree references a missing blob on every target, and its structure check fails', async () => {
    const { id, missingBlob } = await craftSnapshotWithMissingBlob({ nas: join(work, 'nas'), usb: join(work, 'usb') }, 'test');
    const junit = join(work, 'missing-blob.xml');
    const r = runJson(['--files', '100', '--snapshots', 'latest', '--seed', '5', '--junit', junit]);
    expect(r.code, r.stderr).toBe(4);
    const res = r.json!;
    expect(res.sample.snapshotList.map((s) => s.id)).toEqual([id]);
    for (const name of ['nas', 'usb']) {
      const t = target(res, name);
      expect(t.ok).toBe(false);
      const ghost = t.results.find((f) => f.path === 'ghost.bin')!;
      expect(ghost).toMatchObject({ status: 'failed', kind: 'missing-blob', snapshot: id });
      expect(t.results.find((f) => f.path === 'ok.txt')!.status).toBe('passed');
      expect(t.structure[0]!.ok).toBe(false);
      expect(t.structure[0]!.problems).toEqual([expect.objectContaining({ kind: 'missing-blob', path: 'ghost.bin', blob: missingBlob })]);
    }
    const doc = parseJunit(readFileSync(junit, 'utf8'));
    for (const s of doc.testsuite) {
      expect(Number(s['@_tests'])).toBe(3);
      expect(Number(s['@_failures'])).toBe(2);
      expect(s.testcase.find((c) => c['@_name'] === 'ghost.bin')!.failure!['#text']).toContain(`target '${s['@_name']}'`);
    }
    expect(Number(doc['@_tests'])).toBe(6);
    expect(Number(doc['@_failures'])).toBe(4);
  });

  it('exits 1 and reports the unreachable target while still testing the others', () => {
    const p = writeLocalPolicy(work, {
      name: 'test',
      sources: [src],
      rule: 'none',
      targets: { nas: { path: join(work, 'nas') }, usb: { path: join(work, 'usb') }, gone: { path: join(work, 'no-such-mount', 'repo') } },
    });
    const junit = join(work, 'unreachable.xml');
    let r;
    try {
      r = triad(['restore-test', '-p', p, '--scratch', scratch, '--files', '4', '--snapshots', 'latest', '--junit', junit, '--json'], { env: PASS });
    } finally {
      writeLocalPolicy(work, { sources: [src], rule: 'none' });
    }
    expect(r.code, r.stderr).toBe(1);
    const res = JSON.parse(r.stdout) as Res;
    expect(target(res, 'nas').ok).toBe(true);
    expect(target(res, 'gone')).toMatchObject({ reachable: false, ok: false });
    expect(target(res, 'gone').results.every((f) => f.kind === 'target-unreachable')).toBe(true);
    const suite = parseJunit(readFileSync(junit, 'utf8')).testsuite.find((s) => s['@_name'] === 'gone')!;
    expect(Number(suite['@_failures'])).toBe(4);
    expect(suite.testcase[0]!.failure!['@_type']).toBe('target-unreachable');
  });

  it('reports overdue when the previous test is older than restore_test.every', async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const args = ['--scratch', scratch, '--files', '1', '--snapshots', 'latest'];
    writeLocalPolicy(work, { sources: [src], rule: 'none', extra: 'restore_test:\n  every: 1s\n' });
    try {
      expect(triad(['restore-test', '-p', policy, ...args], { env: PASS }).code).toBe(0);
      await sleep(1200);
      const h = triad(['restore-test', '-p', policy, ...args], { env: PASS });
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(/OVERDUE: the previous restore test .* older than restore_test\.every \(1s\)/);
      await sleep(1200);
      const r = triad(['restore-test', '-p', policy, ...args, '--json'], { env: PASS });
      expect((JSON.parse(r.stdout) as Res).overdue).toBe(true);
    } finally {
      writeLocalPolicy(work, { sources: [src], rule: 'none' });
    }
    // With the default 30d interval the test just run is recent.
    const fresh = runJson(['--files', '1', '--snapshots', 'latest']).json!;
    expect(fresh.previous).not.toBeNull();
    expect(fresh.overdue).toBe(false);
  });

  it('--compare-source finds a source file changed in place behind an unchanged size and mtime', () => {
    const ok = runJson(['--files', '100', '--snapshots', 'latest', '--seed', '3', '--compare-source']);
    expect(ok.code, ok.stderr).toBe(0);
    const nas = target(ok.json!, 'nas');
    expect(nas.results.find((f) => f.path === 'src/mid.bin')!.source).toBe('identical');

    const file = join(src, 'mid.bin');
    const st = statSync(file);
    const buf = readFileSync(file);
    buf[10] = buf[10]! ^ 0xff;
    writeFileSync(file, buf);
    utimesSync(file, st.atime, st.mtime);
    try {
      const bad = runJson(['--files', '100', '--snapshots', 'latest', '--seed', '3', '--compare-source']);
      expect(bad.code).toBe(4);
      for (const t of bad.json!.targets) {
        expect(t.results.find((f) => f.path === 'src/mid.bin')).toMatchObject({ status: 'failed', kind: 'source-mismatch', source: 'mismatch' });
      }
    } finally {
      buf[10] = buf[10]! ^ 0xff;
      writeFileSync(file, buf);
      utimesSync(file, st.atime, st.mtime);
    }
  });

  it('--max-bytes bounds the sample and --bytes samples by size', () => {
    const r = runJson(['--bytes', '10MiB', '--max-bytes', '100KiB', '--snapshots', 'latest', '--seed', '8']).json!;
    expect(r.sample.bytes).toBeLessThanOrEqual(100 * 1024);
    expect(r.sample.files).toBeGreaterThan(1);
    expect(r.sample.snapshotList[0]!.files.every((f) => f.size < 3 * 1024 * 1024)).toBe(true);
  });

  it('refuses bad options with exit 2', () => {
    expect(run(['--files', '3', '--sample', '5%']).code).toBe(2);
    expect(run(['--seed', 'abc']).code).toBe(2);
    expect(run(['--snapshots', 'newest']).code).toBe(2);
    expect(run(['--bytes', 'lots']).code).toBe(2);
  });

  it('removes its scratch directory when interrupted', async () => {
    const { spawn } = await import('node:child_process');
    const { ENTRY } = await import('../helpers/triad.js');
    const child = spawn(process.execPath, [ENTRY, 'restore-test', '-p', policy, '--scratch', scratch, '--files', '100', '--snapshots', 'all'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...PASS },
    });
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let sawScratch = false;
    for (let i = 0; i < 2000 && child.exitCode === null; i++) {
      if (existsSync(scratch) && readdirSync(scratch).length > 0) {
        sawScratch = true;
        child.kill('SIGINT');
        break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    const code = await exited;
    expect(sawScratch).toBe(true);
    expect(code).toBe(130);
    // Named as the interruption it is, not as a bug in triad.
    expect(stderr).toContain('SIGINT received, stopping cleanly');
    expect(stderr).not.toMatch(/internal error|this is a bug/);
    expect(readdirSync(scratch)).toEqual([]);
  });
});
