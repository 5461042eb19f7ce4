import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytes } from '../helpers/tree.js';
import { ENTRY, PASS, ROOT, scratchDir, triad, writeLocalPolicy } from '../helpers/triad.js';
import { openRepo } from '../prune/helpers.js';
import { acquireLock } from '../../src/repo/lock/repo-lock.js';

/**
 * Every command against every kind of damage a repository can suffer: each run must end
 * (a hang is a failure), print the one-line message and hint of a TriadError rather than a
 * stack trace or an "internal error", and exit with a code DESIGN.md §7 documents.
 * The damage is done to the on-site target `nas`, the one read commands pick first;
 * `usb` stays whole.
 */
const DOCUMENTED = new Set([0, 1, 3, 4, 10, 11, 12]);
const TIMEOUT_MS = 45_000;
const PARALLEL = 4;

interface Damage {
  name: string;
  apply(nas: string): Promise<void> | void;
}

function objects(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** The largest pack: it holds file data every snapshot needs. */
function bigPack(nas: string): string {
  return objects(join(nas, 'data')).sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
}

function flipByte(file: string): void {
  const b = readFileSync(file);
  b[b.length >> 1] ^= 0xff;
  writeFileSync(file, b);
}

function fifo(file: string): void {
  rmSync(file);
  const r = spawnSync('mkfifo', [file]);
  if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
}

const HEX = 'ab'.repeat(32);

const DAMAGES: Damage[] = [
  { name: 'pack deleted', apply: (nas) => unlinkSync(bigPack(nas)) },
  { name: 'pack truncated', apply: (nas) => truncateSync(bigPack(nas), statSync(bigPack(nas)).size >> 1) },
  { name: 'pack bit-flipped', apply: (nas) => flipByte(bigPack(nas)) },
  { name: 'pack replaced by a FIFO', apply: (nas) => fifo(bigPack(nas)) },
  { name: 'index file corrupted', apply: (nas) => objects(join(nas, 'index')).forEach(flipByte) },
  { name: 'index deleted', apply: (nas) => objects(join(nas, 'index')).forEach((f) => unlinkSync(f)) },
  { name: 'index file huge', apply: (nas) => truncateSync(objects(join(nas, 'index'))[0]!, 300 * 1024 * 1024) },
  { name: 'snapshot object garbage', apply: (nas) => writeFileSync(join(nas, 'snapshots', HEX), bytes(7, 900)) },
  { name: 'snapshot replaced by a FIFO', apply: (nas) => fifo(objects(join(nas, 'snapshots'))[0]!) },
  { name: 'snapshots/ deleted', apply: (nas) => rmSync(join(nas, 'snapshots'), { recursive: true }) },
  { name: 'garbage file in data/', apply: (nas) => (mkdirSync(join(nas, 'data', 'ab'), { recursive: true }), writeFileSync(join(nas, 'data', 'ab', HEX), bytes(8, 5000))) },
  { name: 'key file truncated', apply: (nas) => truncateSync(objects(join(nas, 'keys'))[0]!, 40) },
  { name: 'config garbage', apply: (nas) => writeFileSync(join(nas, 'config'), bytes(9, 300)) },
  { name: 'config replaced by a FIFO', apply: (nas) => fifo(join(nas, 'config')) },
  { name: 'journal record garbage', apply: (nas) => writeFileSync(join(nas, 'journal', HEX), bytes(10, 700)) },
  {
    name: 'lock held by another host',
    apply: async (nas) => {
      const repo = await openRepo(nas);
      // Not released: it stays until it expires, as a lock of a live process on another host does.
      await acquireLock(repo, 'exclusive', { clock: { now: () => new Date(), monotonic: () => performance.now() }, host: 'other-host', pid: 4242, command: 'prune', staleAfter: 24 * 3600_000, refreshEvery: 0 });
      await repo.storage.close();
    },
  },
];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function run(args: string[]): Promise<Run> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [ENTRY, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...PASS } });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, TIMEOUT_MS);
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr, timedOut });
    });
  });
}

async function inParallel<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const COMMANDS: [string, (dir: string, policy: string, ids: string[]) => string[]][] = [
  ['snapshots', (_d, p) => ['snapshots', '-p', p]],
  ['ls', (_d, p) => ['ls', '-p', p, 'latest']],
  ['restore', (d, p) => ['restore', '-p', p, 'latest', '--to', join(d, 'restored')]],
  ['dump', (_d, p) => ['dump', '-p', p, 'latest']],
  ['diff', (_d, p, ids) => ['diff', '-p', p, ids[0]!.slice(0, 12), ids[1]!.slice(0, 12)]],
  ['check', (_d, p) => ['check', '-p', p]],
  ['check --read-data', (_d, p) => ['check', '-p', p, '--read-data']],
  ['backup', (_d, p) => ['backup', '-p', p]],
  ['forget --dry-run', (_d, p) => ['forget', '-p', p, '--dry-run']],
  ['prune', (_d, p) => ['prune', '-p', p]],
  ['copy', (_d, p) => ['copy', '-p', p, '--from', 'nas', '--to', 'usb']],
  ['restore-test', (d, p) => ['restore-test', '-p', p, '--scratch', join(d, 'scratch')]],
  ['catalog verify', (_d, p) => ['catalog', 'verify', '-p', p]],
  ['catalog rebuild', (_d, p) => ['catalog', 'rebuild', '-p', p, '--target', 'nas']],
  ['key list', (_d, p) => ['key', 'list', '-p', p]],
  ['repair index', (_d, p) => ['repair', 'index', '-p', p]],
  ['repair packs', (_d, p) => ['repair', 'packs', '-p', p]],
];

describe('no stack traces: every command against every damaged repository', () => {
  let base: string;
  let src: string;
  let ids: string[];
  /** One damaged copy of the pristine repository per damage, copied again for every run. */
  const templates = new Map<string, string>();
  const policyOf = (dir: string) => writeLocalPolicy(dir, { sources: [src], extra: 'retention: {keep_last: 1}' });

  beforeAll(async () => {
    base = scratchDir('triad-sweep-');
    src = join(base, 'src');
    mkdirSync(join(src, 'docs'), { recursive: true });
    writeFileSync(join(src, 'docs', 'a.txt'), bytes(1, 4000, true));
    writeFileSync(join(src, 'big.bin'), bytes(2, 3 * 1024 * 1024));
    const pristine = join(base, 'pristine');
    mkdirSync(pristine);
    const policy = policyOf(pristine);
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    writeFileSync(join(src, 'docs', 'b.txt'), bytes(3, 3000, true));
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    const list = triad(['snapshots', '-p', policy, '--json'], { env: PASS });
    ids = (JSON.parse(list.stdout).snapshots as { id: string }[]).map((s) => s.id);
    expect(ids).toHaveLength(2);
    for (const [i, d] of DAMAGES.entries()) {
      const dir = join(base, `damage-${i}`);
      expect(spawnSync('cp', ['-a', pristine, dir]).status).toBe(0);
      await d.apply(join(dir, 'nas'));
      templates.set(d.name, dir);
    }
  });

  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it.each(COMMANDS)('%s ends with a one-line error and a documented exit code', async (name, args) => {
    const failures: string[] = [];
    await inParallel(DAMAGES, PARALLEL, async (damage) => {
      const dir = join(base, `run-${name.replace(/\W+/g, '-')}-${DAMAGES.indexOf(damage)}`);
      expect(spawnSync('cp', ['-a', templates.get(damage.name)!, dir]).status).toBe(0);
      const r = await run(args(dir, policyOf(dir), ids));
      const trace = /^\s+at /m.test(r.stderr) || /^\s+at /m.test(r.stdout);
      if (r.timedOut || !DOCUMENTED.has(r.code ?? -1) || trace || /internal error/i.test(r.stderr)) {
        failures.push(`${damage.name} → ${name}: exit ${r.timedOut ? 'timeout' : r.code}\n${r.stderr.slice(0, 600)}`);
      }
      rmSync(dir, { recursive: true, force: true });
    });
    expect(failures, failures.join('\n---\n')).toEqual([]);
  }, 300_000);
});
