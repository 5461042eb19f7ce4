/**
 * The package a user installs: a real `npm pack` of a fresh copy of the project (no dist/,
 * so prepack must build it), installed with `npm install -g` into a temporary prefix, and the
 * demo backed up and restored byte for byte through the installed `triad`. The install builds
 * better-sqlite3 and zstd-napi from source (their prebuilt binaries come from GitHub, which
 * this machine cannot reach), so this file takes minutes, not seconds.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, scratchDir } from '../helpers/triad.js';
import { snapshotOf } from '../helpers/tree.js';

interface PackResult {
  filename: string;
  files: { path: string }[];
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
/** Only what npm and node need: no npm_config_* of an outer `npm test`, HOME for ~/.npmrc (nodedir for node-gyp). */
const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' };
/** Not copied into the checkout: build output, local state and what git ignores. */
const NOT_IN_CHECKOUT = new Set(['node_modules', 'dist', 'man', '.git', '.demo', 'bench/.corpus', 'tmp', '.vitest-report.json']);

/** Where compiled ES modules name another module: static and dynamic imports, require and createRequire(…)(…). */
const MODULE_REFERENCES = [
  /^\s*(?:import|export)\b[^;]*?\bfrom\s*'([^']+)';?\s*$/gm,
  /^\s*import\s*'([^']+)';?\s*$/gm,
  /\bimport\(\s*'([^']+)'\s*\)/g,
  /\brequire\(\s*'([^']+)'\s*\)/g,
  /\bcreateRequire\([^)]*\)\(\s*'([^']+)'\s*\)/g,
];

let work: string;
let prefix: string;
let installed: string;
let packed: string[];
const seconds: Record<string, number> = {};

function run(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? work, env: { ...env, ...opts.env }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

function timed<T>(label: string, f: () => T): T {
  const start = performance.now();
  const result = f();
  seconds[label] = Math.round((performance.now() - start) / 100) / 10;
  return result;
}

/** The installed launcher, as a user runs it from the prefix's bin/. */
const triadInstalled = (args: string[], extraEnv: Record<string, string> = {}) => run(join(prefix, 'bin', 'triad'), args, { env: extraEnv });

/** Runtime dependencies whose install script compiles a native module (pinned exactly in package.json). */
const NATIVE_BUILDS = ['better-sqlite3', 'zstd-napi'];
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as { version: string };

beforeAll(() => {
  work = scratchDir('triad-package-');
  const checkout = join(work, 'checkout');
  cpSync(ROOT, checkout, { recursive: true, verbatimSymlinks: true, filter: (src) => !NOT_IN_CHECKOUT.has(relative(ROOT, src)) && !relative(ROOT, src).startsWith('.scratch-') });
  // The project's dependencies as `npm ci` installed them (prepack's tsc comes from there).
  symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'));
  expect(existsSync(join(checkout, 'dist'))).toBe(false);

  const pack = timed('npm pack', () => run('npm', ['pack', '--json', '--pack-destination', work], { cwd: checkout }));
  expect(pack.code, pack.stderr).toBe(0);
  const [result] = JSON.parse(pack.stdout) as PackResult[];
  packed = (result?.files ?? []).map((f) => f.path);

  // --prefer-offline, not --offline: a tarball install resolves every dependency's
  // packument, and `npm ci` leaves only tarballs in the cache; the tarballs come from it.
  // --ignore-scripts: the native dependencies' install scripts fetch prebuilt binaries from
  // GitHub, out of reach here, and then compile for minutes; the binaries `npm ci` built for
  // the same pinned versions are put in place instead (below). Everything triad ships is
  // installed by npm itself.
  prefix = join(work, 'prefix');
  const install = timed('npm install -g', () => run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', join(work, result?.filename ?? '')]));
  expect(install.code, install.stderr).toBe(0);
  installed = join(prefix, 'lib', 'node_modules', 'triad');
  for (const native of NATIVE_BUILDS) {
    const from = join(ROOT, 'node_modules', native, 'build');
    const to = join(installed, 'node_modules', native, 'build');
    expect(existsSync(join(installed, 'node_modules', native, 'package.json')), `${native} installed`).toBe(true);
    expect(readJson(join(installed, 'node_modules', native, 'package.json')).version).toBe(readJson(join(ROOT, 'node_modules', native, 'package.json')).version);
    cpSync(from, to, { recursive: true });
  }
  console.info(`package: npm pack ${seconds['npm pack']} s, npm install -g ${seconds['npm install -g']} s`);
}, 20 * 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the package from npm pack', () => {
  it('holds the compiled CLI, the man page, docs and policies; no tests, fixtures, bench, sources or source maps', () => {
    expect(packed).toEqual(expect.arrayContaining(['package.json', 'README.md', 'bin/triad', 'dist/cli/main.js', 'man/triad.1', 'docs/POLICY.md', 'policies/demo.yaml']));
    const unwanted = packed.filter((p) => /^(test|fixtures|bench|src|scripts)\//.test(p) || p.endsWith('.map') || p.endsWith('.ts'));
    expect(unwanted).toEqual([]);
    // The storage fakes the tests use are compiled with the rest but not shipped.
    expect(packed).not.toContain('dist/backends/faulty.js');
    expect(packed).not.toContain('dist/backends/memory.js');
  });

  it('needs at run time only its own files and its declared dependencies', () => {
    const specifiers = new Set<string>();
    const missing: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (e.name.endsWith('.js')) {
          const text = readFileSync(join(dir, e.name), 'utf8');
          for (const pattern of MODULE_REFERENCES) {
            for (const [, spec = ''] of text.matchAll(pattern)) {
              specifiers.add(spec);
              if (spec.startsWith('.') && !existsSync(join(dir, spec))) missing.push(`${relative(installed, join(dir, e.name))}: ${spec}`);
            }
          }
        }
      }
    };
    walk(join(installed, 'dist'));
    expect(missing).toEqual([]);
    const packageOf = (s: string) => s.split('/').slice(0, s.startsWith('@') ? 2 : 1).join('/');
    const packages = [...specifiers].filter((s) => !s.startsWith('.') && !s.startsWith('node:') && !builtinModules.includes(s)).map(packageOf);
    // The native ones too, loaded through createRequire.
    expect(packages).toEqual(expect.arrayContaining(['commander', 'better-sqlite3', 'zstd-napi', 'koffi', '@aws-sdk/client-s3']));
    expect(packages.filter((p) => !(p in pkg.dependencies))).toEqual([]);
    // Each runtime dependency is installed beside the package.
    for (const dep of Object.keys(pkg.dependencies)) expect(existsSync(join(installed, 'node_modules', dep, 'package.json')), dep).toBe(true);
  });

  it("runs from the prefix's bin/: triad --version", () => {
    const r = triadInstalled(['--version']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('backs up the demo with the installed policy and restores it byte for byte', () => {
    // The installed demo policy, beside a copy of the tree it backs up (its paths are relative to it).
    const demo = join(work, 'demo');
    mkdirSync(join(demo, 'policies'), { recursive: true });
    cpSync(join(installed, 'policies', 'demo.yaml'), join(demo, 'policies', 'demo.yaml'));
    cpSync(join(ROOT, 'fixtures', 'demo-data'), join(demo, 'fixtures', 'demo-data'), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    const policy = join(demo, 'policies', 'demo.yaml');
    const pass = { TRIAD_DEMO_PASSPHRASE: 'triad-demo-passphrase' };

    for (const args of [['policy', 'check', policy], ['init', '-p', policy], ['backup', '-p', policy]]) {
      const r = timed(args[0] ?? '', () => triadInstalled(args, pass));
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const snaps = triadInstalled(['snapshots', '-p', policy, '--json'], pass);
    expect(snaps.code, snaps.stderr).toBe(0);
    const list = (JSON.parse(snaps.stdout) as { snapshots: { id: string; targets: string[] }[] }).snapshots;
    expect(list).toHaveLength(1);
    expect([...(list[0]?.targets ?? [])].sort()).toEqual(['nas', 'offsite']);

    const to = join(demo, 'restored');
    const r = timed('restore', () => triadInstalled(['restore', '-p', policy, 'latest', '--to', to], pass));
    expect(r.code, r.stderr).toBe(0);
    expect(snapshotOf(join(to, 'demo-data'))).toEqual(snapshotOf(join(demo, 'fixtures', 'demo-data')));
  });

  it('installs the man page where man finds it', () => {
    const r = run('man', ['--warnings', '-M', join(prefix, 'share', 'man'), 'triad'], { env: { MANWIDTH: '120', LANG: 'C.UTF-8', MANPAGER: 'cat', PAGER: 'cat' } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^TRIAD\(1\)/);
    expect(r.stdout).toContain('triad completion');
    expect(r.stdout).toContain(`triad ${pkg.version}`);
  });

  it('completes in bash with the script the installed triad prints', () => {
    const script = `source <('${join(prefix, 'bin', 'triad')}' completion bash); COMP_WORDS=(triad sn); COMP_CWORD=1; _triad; echo "\${COMPREPLY[@]}"`;
    const r = run('bash', ['-c', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('snapshots');
  });
});
