/**
 * Unprotected data: `triad coverage` and the report's unprotected-data findings, on real
 * directory trees (and real tmpfs mounts for the mount points), through the CLI.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { buildReports } from '../../src/app/report.js';
import { tempDir, triad, writeLocalPolicy, type RunResult } from '../helpers/triad.js';

interface Entry {
  path: string;
  kind: string;
  bytes: number | null;
  files: number | null;
  newestChange: string | null;
  excludedBy?: { policy: string; file: string; source: string };
}

interface CoverageJson {
  exitCode: number;
  policies: { policy: string; uncovered: Entry[]; stopped: { by: string; limit: number } | null; entriesRead: number }[];
}

interface ReportJson {
  policies: { policy: string; verdict: string; exitCode: number; findings: { code: string; severity: string; message: string; action?: string; affectsCompliance: boolean }[] }[];
}

function file(path: string, bytes: number, mtime?: Date): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, 'x'.repeat(bytes));
  if (mtime) utimesSync(path, mtime, mtime);
}

function coverageJson(args: string[]): { r: RunResult; json: CoverageJson } {
  const r = triad(['coverage', ...args, '--json']);
  expect(r.stderr, 'no stack trace').not.toMatch(/\n\s+at /);
  return { r, json: JSON.parse(r.stdout) as CoverageJson };
}

function uncovered(args: string[]): Entry[] {
  return coverageJson(args).json.policies.flatMap((p) => p.uncovered);
}

function reportJson(args: string[]): { r: RunResult; json: ReportJson } {
  const r = triad(['report', ...args, '--format', 'json']);
  return { r, json: JSON.parse(r.stdout) as ReportJson };
}

/** A policy backing up `sources`, whose coverage roots are `roots`. */
function policy(dir: string, name: string, sources: (string | { path: string; exclude?: string[] })[], coverage?: string): string {
  return writeLocalPolicy(dir, { name, sources, rule: 'none', extra: coverage ?? '' });
}

function mountTmpfs(dir: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir]);
  onTestFinished(() => execFileSync('umount', ['-l', dir]));
}

describe('triad coverage', () => {
  it('a new directory with data under a root is a finding (exit 4, and in the report) until a policy backs it up', () => {
    const dir = tempDir('triad-coverage-');
    const srv = join(dir, 'data', 'srv');
    const home = join(dir, 'data', 'home');
    file(join(srv, 'app', 'db.sqlite'), 5000);
    file(join(home, 'alice', 'notes.txt'), 10);
    mkdirSync(join(srv, 'empty', 'deeper'), { recursive: true });
    const roots = `coverage:\n  roots: [${JSON.stringify(srv)}, ${JSON.stringify(home)}]`;
    const files = policy(dir, 'files', [join(srv, 'app'), home], roots);

    // Everything backed up, and an empty directory is no finding.
    const clean = coverageJson(['-p', files]);
    expect(clean.r.code, clean.r.stdout + clean.r.stderr).toBe(0);
    expect(clean.json.policies[0]!.uncovered).toEqual([]);
    const cleanText = triad(['coverage', '-p', files]);
    expect(cleanText.code).toBe(0);
    expect(cleanText.stdout).toContain(`policy files: everything under ${srv}, ${home} is backed up`);
    const cleanReport = reportJson(['-p', files]);
    expect(cleanReport.json.policies[0]!.findings.map((f) => f.code)).not.toContain('unprotected-data');
    expect(cleanReport.r.code, cleanReport.r.stdout).toBe(0);

    // A new directory appears, with an older and a newer file in two levels.
    const newest = new Date('2026-03-02T10:00:00Z');
    file(join(srv, 'newapp', 'old.bin'), 3000, new Date('2026-01-01T00:00:00Z'));
    file(join(srv, 'newapp', 'var', 'log.txt'), 700, newest);
    file(join(srv, 'small', 'a'), 5);
    const found = coverageJson(['-p', files]);
    expect(found.r.code).toBe(4);
    expect(found.json.exitCode).toBe(4);
    // The highest uncovered directory only, biggest first, with its figures.
    expect(found.json.policies[0]!.uncovered).toEqual([
      { path: join(srv, 'newapp'), kind: 'directory', bytes: 3700, files: 2, newestChange: newest.toISOString() },
      { path: join(srv, 'small'), kind: 'directory', bytes: 5, files: 1, newestChange: expect.any(String) as string },
    ]);
    const text = triad(['coverage', '-p', files, '--utc']);
    expect(text.code).toBe(4);
    expect(text.stdout).toMatch(new RegExp(`3\\.6 KiB +2 +2026-03-02 10:00 UTC +directory +${join(srv, 'newapp')}`));

    const report = reportJson(['-p', files]);
    expect(report.r.code).toBe(4);
    const p = report.json.policies[0]!;
    expect(p.verdict).toBe('finding');
    const f = p.findings.find((x) => x.code === 'unprotected-data' && x.message.includes(join(srv, 'newapp')));
    expect(f, JSON.stringify(p.findings)).toMatchObject({ severity: 'critical', affectsCompliance: true });
    expect(f!.message).toContain('2 files, 3.6 KiB');
    expect(f!.action).toContain(`add ${join(srv, 'newapp')} to the sources of ${files}`);
    expect(f!.action).toContain('coverage.ignore');
    for (const format of ['markdown', 'html', 'table']) {
      const out = triad(['report', '-p', files, '--format', format]);
      expect(out.code).toBe(4);
      expect(out.stdout, format).toContain(`${join(srv, 'newapp')}: no policy backs it up`);
    }
    expect(triad(['status', '-p', files]).code).toBe(4);

    // Another policy backs the new directories up: across --policies nothing is left.
    const policies = join(dir, 'policies');
    mkdirSync(policies);
    policy(policies, 'newapp', [join(srv, 'newapp'), join(srv, 'small')]);
    execFileSync('cp', [files, join(policies, 'files.yaml')]);
    const alone = coverageJson(['-p', join(policies, 'files.yaml')]);
    expect(alone.r.code, 'the policy alone still misses them').toBe(4);
    const together = coverageJson(['--policies', policies]);
    expect(together.r.code, together.r.stdout).toBe(0);
    expect(together.json.policies.map((x) => x.policy)).toEqual(['files']);
    const reportTogether = reportJson(['--policies', policies]);
    expect(reportTogether.json.policies.flatMap((x) => x.findings.map((y) => y.code))).not.toContain('unprotected-data');
    expect(reportTogether.r.code).toBe(0);
  });

  it('ignore globs, excluded subtrees, loose files, max_depth and symbolic links', () => {
    const dir = tempDir('triad-coverage-');
    const srv = join(dir, 'srv');
    file(join(srv, 'app', 'data', 'a'), 10);
    file(join(srv, 'app', 'cache', 'c1'), 400);
    file(join(srv, 'app', 'x.tmp', 'kept'), 1);
    file(join(srv, 'scratch', 'big'), 9000);
    file(join(srv, 'isos', 'debian.iso'), 8000);
    file(join(srv, 'loose.txt'), 30);
    file(join(srv, 'deep', 'a', 'b', 'c', 'f'), 50);
    file(join(srv, 'deep', 'other', 'f'), 50);
    file(join(dir, 'outside', 'huge'), 100_000);
    symlinkSync(join(dir, 'outside'), join(srv, 'link'));
    file(join(srv, 'config.yml'), 70);
    const src = { path: join(srv, 'app'), exclude: ['cache/', '*.tmp'] };
    const p = policy(dir, 'files', [src, join(srv, 'config.yml')], `coverage:\n  roots: ${JSON.stringify(srv)}\n  ignore: [${JSON.stringify(join(srv, 'scratch'))}, '*.iso']`);

    const list = uncovered(['-p', p]);
    expect(list.map((e) => [e.path, e.kind])).toEqual([
      // The excluded subtree counts; the directory an exclude pattern only names files in does too.
      [join(srv, 'app', 'cache'), 'excluded'],
      [join(srv, 'deep'), 'directory'],
      [join(srv), 'files'],
      [join(srv, 'app', 'x.tmp'), 'excluded'],
    ]);
    expect(list[0]!.excludedBy).toEqual({ policy: 'files', file: p, source: join(srv, 'app') });
    expect(list[1]).toMatchObject({ files: 2, bytes: 100 });
    // The loose file and the symbolic link (not followed: its target's 100 kB are not counted); config.yml is a source.
    expect(list[2]).toMatchObject({ files: 2, bytes: 30 });
    const text = triad(['report', '-p', p]);
    expect(text.stdout).toContain(`remove the exclude that matches it from source ${join(srv, 'app')} in ${p}`);

    // max_depth: how deep the walk looks beside a source; the uncovered directories it finds are still measured whole.
    const depth = (n: number): string[] =>
      uncovered(['-p', policy(dir, `depth${n}`, [join(srv, 'deep', 'a', 'b')], `coverage:\n  roots: ${JSON.stringify(srv)}\n  max_depth: ${n}`)]).map((e) => e.path);
    expect(depth(1)).toContain(join(srv, 'app'));
    expect(depth(1).filter((x) => x.startsWith(join(srv, 'deep')))).toEqual([]);
    expect(depth(2).filter((x) => x.startsWith(join(srv, 'deep')))).toEqual([join(srv, 'deep', 'other')]);
  });

  it('the source options that leave directories out count as excluded: exclude_caches, exclude_if_present, files_from', () => {
    const dir = tempDir('triad-coverage-opts-');
    const srv = join(dir, 'srv');
    file(join(srv, 'app', 'data', 'a'), 10);
    file(join(srv, 'app', 'build-cache', 'blob'), 500);
    writeFileSync(join(srv, 'app', 'build-cache', 'CACHEDIR.TAG'), 'Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n');
    file(join(srv, 'app', 'not-a-cache', 'blob'), 300);
    writeFileSync(join(srv, 'app', 'not-a-cache', 'CACHEDIR.TAG'), 'no signature here\n');
    file(join(srv, 'app', 'scratch', 'tmp'), 200);
    writeFileSync(join(srv, 'app', 'scratch', '.nobackup'), '');
    file(join(srv, 'listed', 'keep', 'k'), 40);
    file(join(srv, 'listed', 'other', 'o'), 60);
    const list = join(dir, 'files.txt');
    writeFileSync(list, '# only this\nkeep\n');
    const app = { path: join(srv, 'app'), exclude_caches: true, exclude_if_present: ['.nobackup'] };
    const listed = { path: join(srv, 'listed'), files_from: list };
    const p = policy(dir, 'opts', [app, listed], `coverage:\n  roots: ${JSON.stringify(srv)}`);

    const found = uncovered(['-p', p]);
    expect(found.map((e) => [e.path, e.kind, e.excludedBy?.source])).toEqual([
      [join(srv, 'app', 'build-cache'), 'excluded', join(srv, 'app')],
      [join(srv, 'app', 'scratch'), 'excluded', join(srv, 'app')],
      [join(srv, 'listed', 'other'), 'excluded', join(srv, 'listed')],
    ]);
    expect(found[0]).toMatchObject({ files: 2 });
  });

  it('a directory whose name is not UTF-8 is measured under its own bytes, not reported unreadable', () => {
    const dir = tempDir('triad-coverage-bytes-');
    const srv = join(dir, 'srv');
    file(join(srv, 'covered', 'a'), 10);
    const odd = Buffer.concat([Buffer.from(`${srv}/odd`), Buffer.from([0xff, 0xfe])]);
    mkdirSync(odd);
    writeFileSync(Buffer.concat([odd, Buffer.from('/data')]), 'x'.repeat(123));
    const p = policy(dir, 'bytes', [join(srv, 'covered')], `coverage:\n  roots: ${JSON.stringify(srv)}`);
    const { json } = coverageJson(['-p', p]);
    expect(json.policies[0]!.uncovered.map((e) => [e.path, e.kind, e.bytes])).toEqual([[`${srv}/odd\udcff\udcfe`, 'directory', 123]]);
  });

  it('mount points: listed without entering them, measured with cross_filesystems; an empty one is no finding', () => {
    expect(process.getuid?.(), 'mounts a tmpfs: the suite runs as root').toBe(0);
    const dir = tempDir('triad-coverage-');
    const srv = join(dir, 'srv');
    file(join(srv, 'app', 'a'), 10);
    mountTmpfs(join(srv, 'app', 'mnt'));
    file(join(srv, 'app', 'mnt', 'inside'), 1234);
    mountTmpfs(join(srv, 'share'));
    file(join(srv, 'share', 'x', 'y'), 99);
    mountTmpfs(join(srv, 'app', 'empty'));
    const p = policy(dir, 'files', [join(srv, 'app')], `coverage:\n  roots: ${JSON.stringify(srv)}`);

    // The source does not cross file systems, so its mount is not backed up either.
    const { r, json } = coverageJson(['-p', p]);
    expect(r.code).toBe(4);
    expect(json.policies[0]!.uncovered.map((e) => [e.path, e.kind, e.bytes, e.files])).toEqual([
      [join(srv, 'app', 'mnt'), 'mount', null, null],
      [join(srv, 'share'), 'mount', null, null],
    ]);
    const text = triad(['coverage', '-p', p]);
    expect(text.stderr).toContain('coverage.cross_filesystems: true to measure it');

    const crossing = policy(dir, 'crossing', [join(srv, 'app')], `coverage:\n  roots: ${JSON.stringify(srv)}\n  cross_filesystems: true`);
    expect(uncovered(['-p', crossing]).map((e) => [e.path, e.kind, e.bytes, e.files])).toEqual([
      [join(srv, 'app', 'mnt'), 'mount', 1234, 1],
      [join(srv, 'share'), 'mount', 99, 1],
    ]);

    // A source that crosses file systems backs its mount up.
    const crossSource = writeLocalPolicy(dir, {
      name: 'cross-source',
      sources: [join(srv, 'app'), join(srv, 'share')],
      rule: 'none',
      extra: `coverage:\n  roots: ${JSON.stringify(srv)}`,
    });
    const withMount = uncovered(['-p', crossSource]);
    expect(withMount.map((e) => e.path)).toEqual([join(srv, 'app', 'mnt')]);
  });

  it('a limit stops the scan with a clear message; exit 1 when nothing was found in the part read', () => {
    const dir = tempDir('triad-coverage-');
    const srv = join(dir, 'srv');
    for (let i = 0; i < 20; i++) file(join(srv, 'app', `d${i}`, 'f'), 1);
    file(join(srv, 'zz-new', 'f'), 1);
    const p = policy(dir, 'files', [{ path: join(srv, 'app'), exclude: ['nothing-matches/'] }], `coverage:\n  roots: ${JSON.stringify(srv)}`);
    expect(uncovered(['-p', p]).map((e) => e.path)).toEqual([join(srv, 'zz-new')]);

    const stopped = triad(['coverage', '-p', p, '--max-entries', '5']);
    expect(stopped.code, stopped.stdout + stopped.stderr).toBe(1);
    expect(stopped.stderr).toContain('the coverage scan stopped after 5 directory entries: what lies beyond was not looked at');
    expect(stopped.stdout).toContain('no unprotected data in the part of');
    const json = coverageJson(['-p', p, '--max-entries', '5']).json;
    expect(json.policies[0]!.stopped).toEqual({ by: 'entries', limit: 5 });

    const bad = triad(['coverage', '-p', p, '--max-entries', 'lots']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--max-entries lots: expected a whole number');
  });

  it('the report says when its scan stopped at a limit, without a compliance finding for it', async () => {
    const dir = tempDir('triad-coverage-');
    const srv = join(dir, 'srv');
    for (let i = 0; i < 20; i++) file(join(srv, 'app', `d${i}`, 'f'), 1);
    const p = policy(dir, 'files', [{ path: join(srv, 'app'), exclude: ['nothing-matches/'] }], `coverage:\n  roots: ${JSON.stringify(srv)}`);
    const ctx = { env: {}, cwd: dir, clock: systemClock };
    const full = await buildReports(ctx, { policyFiles: [p] });
    expect(full.outcomes[0]!.ok && full.outcomes[0].report.findings.filter((f) => f.code.startsWith('coverage') || f.code === 'unprotected-data')).toEqual([]);

    const cut = await buildReports(ctx, { policyFiles: [p], coverageLimits: { maxEntries: 5, maxMs: 60_000 } });
    const o = cut.outcomes[0]!;
    if (!o.ok) throw o.error;
    const f = o.report.findings.find((x) => x.code === 'coverage-incomplete');
    expect(f).toMatchObject({ severity: 'warning', affectsCompliance: false });
    expect(f!.message).toBe(`the coverage scan stopped after 5 directory entries: what lies beyond was not looked at (coverage roots ${srv})`);
    expect(f!.action).toContain(`triad coverage -p ${p} --max-entries N`);
    expect(o.report.verdict).toBe('compliant');
  });

  it('policy errors: relative or missing roots, max_depth, unknown keys, and a policy without coverage', () => {
    const dir = tempDir('triad-coverage-');
    const check = (coverage: string): RunResult => triad(['policy', 'check', policy(dir, 'p', [dir], coverage)]);
    const relative = check('coverage:\n  roots: [srv]');
    expect(relative.code).toBe(2);
    expect(relative.stdout).toContain('coverage.roots[0]: must be an absolute path');
    const empty = check('coverage:\n  roots: []');
    expect(empty.code).toBe(2);
    expect(empty.stdout).toContain('name at least one directory to look for unprotected data in');
    const depth = check('coverage:\n  roots: [/srv]\n  max_depth: 0');
    expect(depth.code).toBe(2);
    expect(depth.stdout).toMatch(/coverage\.max_depth: must be at least 1/);
    const typo = check('coverage:\n  roots: [/srv]\n  ignores: [x]');
    expect(typo.code).toBe(2);
    expect(typo.stdout).toContain('coverage.ignores: unknown key `ignores` (did you mean `ignore`?)');

    // A root that does not exist holds no data: no finding, and a warning that names it.
    const missing = triad(['coverage', '-p', policy(dir, 'missing', [dir], `coverage:\n  roots: [${JSON.stringify(join(dir, 'gone'))}]`)]);
    expect(missing.code).toBe(0);
    expect(missing.stderr).toContain(`cannot read ${join(dir, 'gone')}: the coverage root does not exist`);

    const none = triad(['coverage', '-p', policy(dir, 'plain', [dir])]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no coverage section in policy plain');
    expect(none.stderr).toContain('coverage: {roots: [/srv, /home]}');
    expect(none.stderr).not.toMatch(/\n\s+at /);
  });
});
