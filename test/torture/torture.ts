/**
 * The torture run: seeded random sequences of backup (with random changes to the source),
 * forget, prune, copy, key passwd and check against real targets (a local directory, s3rver,
 * azurite, and a local directory on a small tmpfs that fills up), each command run as a child
 * process through the test entry with random storage faults (5xx, timeouts, truncated and slow
 * responses) and, at random, SIGKILLed after a random delay or at a chosen storage call.
 * After every round, without faults: `check --read-data` is clean on every target, every
 * snapshot restores byte for byte from every target that lists it, no command needed an
 * `unlock`, and nothing outside the repositories, the catalogue and the restore directory changed.
 *
 * Used by test/torture/torture.test.ts (a short round) and test/torture/run.mjs (npm run torture).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { seededRandom, type Random } from '../../src/core/random.js';
import { startAzurite, startS3rver } from '../helpers/emulators.js';
import { bytes, hashedTreeOf, type HashedTree } from '../helpers/tree.js';
import { ENTRY, ROOT, writePolicy } from '../helpers/triad.js';

export type TargetKind = 'local' | 's3rver' | 'azurite' | 'full-disk';
export type CommandKind = 'backup' | 'forget' | 'prune' | 'copy' | 'passwd' | 'check';

export interface TortureOptions {
  seed: number;
  rounds: number;
  /** Default: all four. */
  targets?: TargetKind[];
  /** Commands per round (default 6). */
  commands?: number;
  /** Share of commands SIGKILLed (default 0.5). */
  killRate?: number;
  /** Chance that one storage call fails (default 0.03). */
  faultRate?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Stops after the command under way (the round is then left unverified); cleanup still runs. */
  signal?: AbortSignal;
}

export interface Violation {
  round: number;
  what: string;
}

export interface TortureReport {
  seed: number;
  rounds: number;
  targets: string[];
  commands: Record<CommandKind, number>;
  kills: { timed: number; io: number };
  /** Faults injected, by kind (the wrapper's log), plus `no-space`: commands a full disk failed. */
  faults: Record<string, number>;
  /** Exit codes of the commands run under faults (killed ones as "SIGKILL"). */
  exits: Record<string, number>;
  restores: number;
  violations: Violation[];
  /** Findings worth a look that break no invariant: a check under faults that reported damage no truncated read explains. */
  notes: string[];
  /** Stopped by the signal before the rounds asked for were done. */
  interrupted: boolean;
  /** How the small disk was made, or why it could not be. */
  diskFull: string;
  wallMs: number;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

interface Target {
  name: string;
  fields: Record<string, unknown>;
  env: Record<string, string>;
  /** Directory this harness owns around a local repository: it may hold only `expected` entries. */
  dir?: string;
  expected?: string[];
  stop(): Promise<void>;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const WEIGHTS: [CommandKind, number][] = [
  ['backup', 4],
  ['forget', 1.5],
  ['prune', 1.5],
  ['copy', 1],
  ['passwd', 0.7],
  ['check', 1],
];
/** Triad exits these under faults and kills without anything being wrong (DESIGN.md §7). */
const ACCEPTED_EXITS = new Set([0, 1, 3, 4]);
const STACK_TRACE = /\n\s+at .+:\d+:\d+\)?\n/;
const NO_SPACE = /no-space|E_NO_SPACE|ENOSPC|no space left/i;

function pick<T>(rnd: Random, xs: readonly T[]): T {
  return xs[rnd.int(xs.length)]!;
}

function weighted<T>(rnd: Random, items: [T, number][]): T {
  let r = rnd.next() * items.reduce((a, [, w]) => a + w, 0);
  for (const [item, w] of items) if ((r -= w) < 0) return item;
  return items.at(-1)![0];
}

/** Runs the test entry; SIGKILLs it after `killAfterMs` if it still runs. */
function runEntry(args: string[], env: Record<string, string>, killAfterMs?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [ENTRY, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => p.kill('SIGKILL'), killAfterMs);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

function mountTmpfs(dir: string, size: string): string | undefined {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  return r.status === 0 ? undefined : (r.stderr || r.error?.message || `mount exited ${r.status}`).trim();
}

/** The randomly changing source tree; `tree()` is what a backup taken now must restore. */
class Source {
  private n = 0;
  constructor(
    readonly root: string,
    private readonly rnd: Random,
  ) {
    mkdirSync(join(root, 'big'), { recursive: true });
    mkdirSync(join(root, 'empty dir'));
    for (let d = 0; d < 3; d++) mkdirSync(join(root, 'docs', `d${d}`), { recursive: true });
    for (let i = 0; i < 3; i++) this.write(`big/r${i}.bin`, 200 * KiB + rnd.int(MiB), false);
    for (let i = 0; i < 12; i++) this.write(`docs/d${i % 3}/n${i}.txt`, 300 + rnd.int(20 * KiB), true);
    writeFileSync(join(root, 'docs', 'empty.txt'), '');
    symlinkSync('docs/d0/n0.txt', join(root, 'link'));
  }

  private write(rel: string, size: number, text: boolean): void {
    writeFileSync(join(this.root, rel), bytes(1 + this.rnd.int(1e9), size, text));
  }

  private files(): string[] {
    return readdirSync(this.root, { recursive: true, encoding: 'utf8' }).filter((p) => statSync(join(this.root, p), { throwIfNoEntry: false })?.isFile() && !p.endsWith('empty.txt'));
  }

  private bytes(): number {
    return this.files().reduce((a, p) => a + statSync(join(this.root, p)).size, 0);
  }

  /** One to four random changes: new, rewritten, grown, renamed, removed files, a new mode or directory. */
  mutate(): string[] {
    const done: string[] = [];
    for (let k = 1 + this.rnd.int(4); k > 0; k--) {
      const files = this.files();
      const f = pick(this.rnd, files);
      const change = this.bytes() > 5 * MiB ? 'remove' : pick(this.rnd, ['add', 'add-text', 'rewrite', 'grow', 'rename', 'remove', 'chmod', 'mkdir'] as const);
      this.n++;
      switch (change) {
        case 'add':
          this.write(`big/x${this.n}.bin`, 50 * KiB + this.rnd.int(1.5 * MiB), false);
          break;
        case 'add-text':
          this.write(`docs/d${this.rnd.int(3)}/t${this.n}.txt`, 100 + this.rnd.int(30 * KiB), true);
          break;
        case 'rewrite':
          this.write(f, statSync(join(this.root, f)).size, f.endsWith('.txt'));
          break;
        case 'grow':
          writeFileSync(join(this.root, f), Buffer.concat([readFileSync(join(this.root, f)), bytes(this.n, 1 + this.rnd.int(200 * KiB))]));
          break;
        case 'rename':
          renameSync(join(this.root, f), join(this.root, `${f}.r${this.n}`));
          break;
        case 'remove':
          if (files.length > 4) rmSync(join(this.root, f));
          break;
        case 'chmod':
          chmodSync(join(this.root, f), pick(this.rnd, [0o600, 0o640, 0o755, 0o644]));
          break;
        case 'mkdir':
          mkdirSync(join(this.root, `docs/d${this.rnd.int(3)}/sub${this.n}`));
          this.write(`docs/d${this.rnd.int(3)}/sub${this.n}.txt`, 10 + this.rnd.int(KiB), true);
          break;
      }
      done.push(change);
    }
    return done;
  }

  tree(): HashedTree {
    return hashedTreeOf(this.root);
  }
}

/** The lines of a command's fault log: faults by kind, whether it killed itself, how many storage calls it made. */
function readFaultLog(file: string): { faults: string[]; killed: boolean; calls?: number } {
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  const calls = lines.find((l) => l.startsWith('calls '));
  return {
    faults: lines.filter((l) => l.startsWith('fault ')).map((l) => l.split(' ')[1]!),
    killed: lines.some((l) => l.startsWith('kill ')),
    ...(calls ? { calls: Number(calls.split(' ')[1]) } : {}),
  };
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export async function torture(opts: TortureOptions): Promise<TortureReport> {
  const t0 = performance.now();
  const log = opts.log ?? (() => undefined);
  const rnd = seededRandom(opts.seed);
  const kinds = opts.targets ?? ['local', 's3rver', 'azurite', 'full-disk'];
  const work = mkdtempSync(join(tmpdir(), 'triad-torture-'));
  const harness = join(work, 'harness');
  mkdirSync(harness);
  const home = join(work, 'home');
  const tmp = join(work, 'tmp');
  const restoreDir = join(work, 'restore');
  for (const d of [home, tmp, restoreDir]) mkdirSync(d);
  const report: TortureReport = {
    seed: opts.seed,
    rounds: 0,
    targets: [],
    commands: { backup: 0, forget: 0, prune: 0, copy: 0, passwd: 0, check: 0 },
    kills: { timed: 0, io: 0 },
    faults: {},
    exits: {},
    restores: 0,
    violations: [],
    interrupted: false,
    notes: [],
    diskFull: 'not asked for',
    wallMs: 0,
  };
  const targets: Target[] = [];
  let mounted: string | undefined;
  try {
    for (const kind of kinds) {
      if (kind === 'local') {
        const dir = join(work, 't-nas');
        mkdirSync(dir);
        targets.push({ name: 'nas', dir, expected: ['repo'], fields: { type: 'local', path: join(dir, 'repo'), media: 'nas', offsite: false }, env: {}, stop: async () => undefined });
      } else if (kind === 's3rver') {
        const s3 = await startS3rver(join(work, 't-s3'));
        targets.push({ name: 's3', fields: s3.policyFields({ prefix: 'r/' }), env: s3.env, stop: () => s3.stop() });
      } else if (kind === 'azurite') {
        const az = await startAzurite();
        targets.push({ name: 'azure', fields: az.policyFields({ prefix: 'r/' }), env: az.env, stop: () => az.stop() });
      } else {
        const dir = join(work, 't-tiny');
        const why = mountTmpfs(dir, '8m');
        if (why) {
          report.diskFull = `no small disk: mount -t tmpfs failed (${why})`;
          log(report.diskFull);
          continue;
        }
        mounted = dir;
        report.diskFull = 'tmpfs of 8 MiB, partly taken by a filler file of random size each round';
        targets.push({ name: 'tiny', dir, expected: ['repo', 'filler'], fields: { type: 'local', path: join(dir, 'repo'), media: 'removable', offsite: false }, env: {}, stop: async () => undefined });
      }
    }
    report.targets = targets.map((t) => t.name);
    const source = new Source(join(work, 'src'), rnd);
    const policy = writePolicy(work, { sources: [source.root], targets: Object.fromEntries(targets.map((t) => [t.name, t.fields])), rule: 'none', extra: { retention: { keep_last: 2 } } });
    let passphrase = 'torture-0';
    const baseEnv = (): Record<string, string> => ({
      PATH: process.env.PATH ?? '',
      HOME: home,
      TMPDIR: tmp,
      TEST_PASSPHRASE: passphrase,
      TRIAD_TEST_PACK_SIZE: String(256 * KiB),
      TRIAD_TEST_LOCK_STALE_AFTER_MS: '10000',
      ...Object.assign({}, ...targets.map((t) => t.env)),
    });
    const init = await runEntry(['init', '-p', policy], baseEnv());
    if (init.code !== 0) throw new Error(`torture: init failed: ${init.stderr}`);
    const workEntries = readdirSync(work).sort();
    const rootUntracked = untracked();

    /** Source tree of every backup attempt, by its tag. */
    const trees = new Map<string, HashedTree>();
    /** target → snapshot ids a backup reported committed there, since the last forget. */
    const committed = new Map<string, Set<string>>(targets.map((t) => [t.name, new Set()]));
    const estimate = new Map<CommandKind, { ms: number; calls: number }>();
    let attempt = 0;
    let cmdNo = 0;
    const filler = mounted ? join(mounted, 'filler') : undefined;

    for (let round = 1; round <= opts.rounds; round++) {
      const r0 = performance.now();
      const violations: string[] = [];
      const steps: string[] = [];
      if (filler) {
        const fs = statfsSync(mounted!);
        writeFileSync(filler, Buffer.alloc(Math.max(0, Math.min(rnd.int(7) * MiB, fs.bavail * fs.bsize - 512 * KiB))));
      }
      for (let i = 0; i < (opts.commands ?? 6) && !opts.signal?.aborted; i++) {
        const kind = weighted(rnd, WEIGHTS);
        report.commands[kind]++;
        const newPass = `torture-${++cmdNo}`;
        let args: string[];
        let tag: string | undefined;
        let label: string = kind;
        if (kind === 'backup') {
          label = `backup (${source.mutate().join('+')})`;
          tag = `a${++attempt}`;
          trees.set(tag, source.tree());
          args = ['backup', '-p', policy, '--json', '--tag', tag];
        } else if (kind === 'forget') {
          args = ['forget', '-p', policy, '--json', ...(rnd.next() < 0.5 ? ['--prune', '--unindexed-grace', '0'] : [])];
          for (const s of committed.values()) s.clear();
        } else if (kind === 'prune') {
          args = ['prune', '-p', policy, '--json', '--unindexed-grace', '0', ...(rnd.next() < 0.5 ? ['--repack-below', '90%'] : [])];
        } else if (kind === 'copy') {
          const from = pick(rnd, targets).name;
          const others = targets.filter((t) => t.name !== from);
          if (others.length === 0) continue;
          const to = pick(rnd, others).name;
          label = `copy ${from}→${to}`;
          args = ['copy', '-p', policy, '--from', from, '--to', to, '--json'];
        } else if (kind === 'passwd') {
          args = ['key', 'passwd', '-p', policy, '--new-passphrase-env', 'TORTURE_NEW_PASSPHRASE', '--json'];
        } else {
          const read = rnd.next() < 0.3;
          label = read ? 'check --read-data' : 'check';
          args = ['check', '-p', policy, '--json', ...(read ? ['--read-data'] : [])];
        }
        const est = estimate.get(kind) ?? { ms: 1500, calls: 60 };
        const faultLog = join(harness, `cmd-${cmdNo}.log`);
        const spec: Record<string, unknown> = { seed: rnd.int(2 ** 31), rate: opts.faultRate ?? 0.03, log: faultLog };
        let killAfterMs: number | undefined;
        if (rnd.next() < (opts.killRate ?? 0.5)) {
          if (rnd.next() < 0.5) killAfterMs = Math.round(rnd.next() * est.ms * 1.2);
          else spec.kill = { at: 1 + rnd.int(Math.max(1, Math.round(est.calls * 1.1))), when: rnd.next() < 0.5 ? 'before' : 'after' };
        }
        const run = await runEntry(args, { ...baseEnv(), TORTURE_NEW_PASSPHRASE: newPass, TRIAD_TEST_FAULTS: JSON.stringify(spec) }, killAfterMs);
        const fl = readFaultLog(faultLog);
        for (const f of fl.faults) report.faults[f] = (report.faults[f] ?? 0) + 1;
        const killed = run.signal === 'SIGKILL';
        if (killed) report.kills[fl.killed ? 'io' : 'timed']++;
        const exit = killed ? 'SIGKILL' : String(run.code ?? run.signal);
        report.exits[exit] = (report.exits[exit] ?? 0) + 1;
        if (!killed && NO_SPACE.test(run.stdout + run.stderr)) report.faults['no-space'] = (report.faults['no-space'] ?? 0) + 1;
        steps.push(`${label} ${(run.ms / 1000).toFixed(1)}s: ${killed ? `killed ${fl.killed ? 'at a storage call' : `after ${killAfterMs} ms`}` : `exit ${exit}`}${fl.faults.length ? `, ${fl.faults.length} faults` : ''}`);
        if (!killed && !opts.signal?.aborted) {
          if (fl.calls !== undefined && run.code === 0) estimate.set(kind, { ms: run.ms, calls: fl.calls });
          if (run.code === null || !ACCEPTED_EXITS.has(run.code)) violations.push(`${label} exited ${exit}: ${run.stderr.trim().slice(0, 600)}`);
          if (STACK_TRACE.test(run.stderr)) violations.push(`${label} printed a stack trace: ${run.stderr.slice(0, 800)}`);
        }
        if (kind === 'check' && run.code === 4 && !fl.faults.includes('truncated')) {
          const rep = parseJson(run.stdout) as { targets?: { name?: string; target?: string; errors?: { kind: string; message: string }[] }[] } | undefined;
          report.notes.push(`round ${round}, ${label} exited 4 with faults ${fl.faults.join(',') || 'none'}: ${JSON.stringify(rep?.targets?.map((t) => t.errors?.map((e) => e.message)))}`.slice(0, 800));
        }
        if (kind === 'backup' && !killed) {
          const out = parseJson(run.stdout) as { snapshot?: string; targets?: { target: string; status: string }[] } | undefined;
          for (const t of out?.targets ?? []) if (t.status === 'committed' && out?.snapshot) committed.get(t.target)?.add(out.snapshot);
        }
        if (kind === 'passwd') {
          if (run.code === 0) passphrase = newPass;
          else {
            const settled = await settlePassphrase(policy, baseEnv(), [newPass, passphrase]);
            if (settled) passphrase = settled;
            else violations.push(`after ${label} (${exit}) neither the new nor the old passphrase opens every target`);
          }
        }
        if (violations.length) break;
      }
      if (filler) rmSync(filler, { force: true });
      if (opts.signal?.aborted) {
        report.interrupted = true;
        log(`round ${round}/${opts.rounds}: ${steps.join('; ')} — interrupted, not verified`);
        break;
      }
      const v0 = performance.now();
      if (violations.length === 0) await verify();
      steps.push(`verified in ${Math.round((performance.now() - v0) / 100) / 10} s`);
      log(`round ${round}/${opts.rounds}: ${steps.join('; ')} — ${Math.round((performance.now() - r0) / 100) / 10} s`);
      for (const v of violations) {
        report.violations.push({ round, what: v });
        log(`  VIOLATION (seed ${opts.seed}, round ${round}): ${v}`);
      }
      report.rounds = round;
      if (violations.length) break;

      /** The invariants, with no fault and no kill. */
      async function verify(): Promise<void> {
        const env = baseEnv();
        const check = await runEntry(['check', '-p', policy, '--read-data', '--json'], env);
        const rep = parseJson(check.stdout) as { targets?: { target?: string; name?: string; errors: unknown[]; damagedPacks: unknown[] }[] } | undefined;
        if (check.code !== 0 || !rep?.targets || rep.targets.some((t) => t.errors.length > 0 || t.damagedPacks.length > 0)) {
          violations.push(`check --read-data exited ${check.code}: ${check.stdout.slice(0, 1500)} ${check.stderr.slice(0, 600)}`);
        }
        const list = await runEntry(['snapshots', '-p', policy, '--json'], env);
        const snaps = parseJson(list.stdout) as { snapshots: { id: string; tags?: string[]; targets: string[] }[]; targets: { name: string; ok: boolean }[] } | undefined;
        if (list.code !== 0 || !snaps) {
          violations.push(`snapshots exited ${list.code}: ${list.stderr.slice(0, 600)}`);
          return;
        }
        for (const t of snaps.targets) if (!t.ok) violations.push(`snapshots: target ${t.name} cannot be read`);
        for (const [target, ids] of committed) {
          for (const id of ids) if (!snaps.snapshots.some((s) => s.id === id && s.targets.includes(target))) violations.push(`snapshot ${id.slice(0, 8)}, committed on ${target} and not forgotten since, is not listed there`);
        }
        const jobs: (() => Promise<void>)[] = [];
        for (const s of snaps.snapshots) {
          const tree = trees.get(s.tags?.[0] ?? '');
          if (!tree) {
            violations.push(`snapshot ${s.id.slice(0, 8)} has no tag of a backup this run made (${JSON.stringify(s.tags)})`);
            continue;
          }
          for (const target of s.targets) {
            jobs.push(async () => {
              const to = join(restoreDir, `${s.id.slice(0, 8)}-${target}`);
              const r = await runEntry(['restore', '-p', policy, s.id, '--to', to, '--target', target], env);
              report.restores++;
              if (r.code !== 0) violations.push(`restore of ${s.id.slice(0, 8)} (${s.tags?.[0]}) from ${target} exited ${r.code}: ${r.stderr.slice(0, 600)}`);
              else if (!isDeepStrictEqual(hashedTreeOf(join(to, basename(source.root))), tree)) violations.push(`snapshot ${s.id.slice(0, 8)} (${s.tags?.[0]}) from ${target} does not restore byte for byte`);
              rmSync(to, { recursive: true, force: true });
            });
          }
        }
        await pool(2, jobs);
        violations.push(...outsideChanges());
      }

      /** What changed outside the repositories, the catalogue and the restore directory. */
      function outsideChanges(): string[] {
        const out: string[] = [];
        const lastTag = `a${attempt}`;
        if (trees.has(lastTag) && !isDeepStrictEqual(source.tree(), trees.get(lastTag))) out.push('the source tree changed under the commands');
        const now = readdirSync(work).filter((e) => !/^catalog\.db(-wal|-shm|-journal)?$|^locks$/.test(e)).sort();
        const before = workEntries.filter((e) => !/^catalog\.db(-wal|-shm|-journal)?$|^locks$/.test(e));
        if (!isDeepStrictEqual(now, before)) out.push(`the work directory holds ${JSON.stringify(now)}, before ${JSON.stringify(before)}`);
        for (const t of targets) {
          if (!t.dir) continue;
          const extra = readdirSync(t.dir).filter((e) => !t.expected!.includes(e) && e !== 'lost+found');
          if (extra.length) out.push(`beside the repository of ${t.name}: ${extra.join(', ')}`);
        }
        for (const [name, dir] of [['HOME', home], ['TMPDIR', tmp], ['restore directory', restoreDir]] as const) {
          const left = readdirSync(dir);
          if (left.length) out.push(`${name} holds ${left.join(', ')}`);
        }
        const rootNow = untracked();
        if (rootNow !== rootUntracked) out.push(`files appeared in the working directory: ${rootNow}`);
        return out;
      }
    }
  } finally {
    for (const t of targets) await t.stop();
    if (mounted) spawnSync('umount', [mounted]);
    rmSync(work, { recursive: true, force: true });
    report.wallMs = Math.round(performance.now() - t0);
  }
  return report;
}

/** Which of `candidates` opens every target now (a killed or failed `key passwd` may have done part of its work). */
async function settlePassphrase(policy: string, env: Record<string, string>, candidates: string[]): Promise<string | undefined> {
  for (const pass of candidates) {
    const r = await runEntry(['key', 'list', '-p', policy, '--json'], { ...env, TEST_PASSPHRASE: pass });
    const out = parseJson(r.stdout) as { targets?: { ok: boolean }[] } | undefined;
    if (out?.targets?.length && out.targets.every((t) => t.ok)) return pass;
  }
  return undefined;
}

/** Untracked files of the project's working directory (where the commands run); edits to tracked files are a developer's. */
function untracked(): string {
  return spawnSync('git', ['ls-files', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).stdout;
}

/** Runs `tasks` at most `n` at a time. */
async function pool(n: number, tasks: (() => Promise<void>)[]): Promise<void> {
  const queue = [...tasks];
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let t = queue.shift(); t; t = queue.shift()) await t();
    }),
  );
}

/** The summary `npm run torture` prints. */
export function formatReport(r: TortureReport): string {
  const kills = r.kills.timed + r.kills.io;
  const faults = Object.values(r.faults).reduce((a, b) => a + b, 0);
  const lines = [
    `seed ${r.seed}: ${r.rounds} rounds on ${r.targets.join(', ')} in ${(r.wallMs / 1000).toFixed(1)} s`,
    `commands: ${Object.entries(r.commands).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `kills: ${kills} (${r.kills.timed} after a random delay, ${r.kills.io} at a storage call)`,
    `faults: ${faults} (${Object.entries(r.faults).sort().map(([k, v]) => `${k} ${v}`).join(', ') || 'none'})`,
    `exits: ${Object.entries(r.exits).sort().map(([k, v]) => `${k}×${v}`).join(', ')}`,
    `restores verified: ${r.restores}`,
    `disk full: ${r.diskFull}`,
    ...r.notes.map((n) => `note: ${n}`),
    ...(r.interrupted ? ['interrupted: the last round was not verified'] : []),
    `violations: ${r.violations.length}`,
    ...r.violations.map((v) => `  round ${v.round}: ${v.what}\n  reproduce: npm run torture -- --seed ${r.seed} --rounds ${v.round}`),
  ];
  return lines.join('\n');
}
