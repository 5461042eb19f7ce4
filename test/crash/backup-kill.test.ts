/**
 * Crash safety of `triad backup` (issue #5, "Crash safety" and the crash-test bullet of
 * "Done when"): the real CLI runs as a child process and is SIGKILLed at seeded moments, on
 * a local target and on an emulated S3 target (s3rver). After every kill the repository
 * must pass `check --read-data` (unindexed packs allowed) and every snapshot complete before
 * the kill must restore byte for byte; finally a normal backup must succeed without
 * `unlock` and without uploading again the packs the killed runs left behind.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom, type Random } from '../../src/core/random.js';
import { PACK_TARGET_SIZE } from '../../src/repo/format.js';
import { startS3rver, type S3Emulator } from '../helpers/emulators.js';
import { ENTRY, PASS, ROOT, scratchDir, triadAsync, writePolicy } from '../helpers/triad.js';
import { bytes, hashedTreeOf, type HashedTree } from '../helpers/tree.js';

const SEED = 0x7a1d_c4a5;
const KILLS = 5;
const MiB = 1024 * 1024;
/** Metadata a run may write besides new file data: tree pack, index, snapshot, rewritten small files. */
const RUN_SLACK = 512 * 1024;

interface RunOutcome {
  killed: boolean;
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs the CLI. With `killWhen`, SIGKILLs it once that promise resolves (if it still runs);
 * `killWhen` gets a function telling whether the process has exited.
 */
function run(args: string[], env: Record<string, string>, killWhen?: (exited: () => boolean) => Promise<void>): Promise<RunOutcome> {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [ENTRY, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let exited = false;
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    killWhen?.(() => exited).then(() => {
      if (!exited) p.kill('SIGKILL');
    }, rej);
    p.on('error', rej);
    p.on('exit', () => (exited = true));
    p.on('close', (code, signal) => res({ killed: signal === 'SIGKILL', code, stdout: out, stderr: err, ms: performance.now() - t0 }));
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `tasks` at most `n` at a time (restores and check use both cores while this process compares trees). */
async function pool(n: number, tasks: (() => Promise<void>)[]): Promise<void> {
  const queue = [...tasks];
  await Promise.all(Array.from({ length: n }, async () => {
    for (let t = queue.shift(); t; t = queue.shift()) await t();
  }));
}

type Tree = HashedTree;
const treeOf = hashedTreeOf;

/** What a target holds, read from its storage directly (not through triad). */
interface TargetProbe {
  name: string;
  policyFields: Record<string, unknown>;
  env: Record<string, string>;
  /** Stored pack objects: id → size. */
  packs(): Map<string, number>;
  /**
   * Pack objects cut short by a kill and still listed by the store. Real S3 never lists an
   * upload that did not complete; s3rver writes the body in place, so a killed upload stays
   * listed (without its metadata file). A local target writes under a temporary name.
   */
  partialPacks(): string[];
  /** Names of the repository lock objects. */
  locks(): string[];
  stop(): Promise<void>;
}

/** Files below `dir` now; polled while a backup writes, so a temporary file may vanish between listing and stat. */
function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((p) => join(dir, p)).filter((p) => statSync(p, { throwIfNoEntry: false })?.isFile());
}

function localTarget(dir: string): TargetProbe {
  return {
    name: 'nas',
    policyFields: { type: 'local', path: dir, media: 'nas', offsite: false },
    env: {},
    packs: () => new Map(walk(join(dir, 'data')).filter((p) => /^[0-9a-f]{64}$/.test(basename(p))).map((p) => [basename(p), statSync(p).size])),
    partialPacks: () => [],
    locks: () => walk(join(dir, 'locks')).filter((p) => !basename(p).startsWith('.')).map((p) => basename(p)),
    stop: async () => undefined,
  };
}

async function s3Target(dir: string): Promise<TargetProbe> {
  const s3: S3Emulator = await startS3rver(dir);
  // s3rver keeps `<key>._S3rver_object` and writes `<key>._S3rver_metadata.json` once the body is complete.
  const stored = (prefix: string, whole: boolean) =>
    walk(join(dir, s3.bucket, 'r', prefix))
      .filter((p) => p.endsWith('._S3rver_object') && existsSync(p.replace(/\._S3rver_object$/, '._S3rver_metadata.json')) === whole)
      .map((p) => ({ name: basename(p).replace(/\._S3rver_object$/, ''), size: statSync(p).size }));
  const objects = (prefix: string) => stored(prefix, true);
  return {
    name: 's3',
    policyFields: s3.policyFields({ prefix: 'r/' }),
    env: s3.env,
    packs: () => new Map(objects('data').filter((o) => /^[0-9a-f]{64}$/.test(o.name)).map((o) => [o.name, o.size])),
    partialPacks: () => stored('data', false).map((o) => o.name).filter((n) => /^[0-9a-f]{64}$/.test(n)),
    locks: () => objects('locks').map((o) => o.name),
    stop: () => s3.stop(),
  };
}

const sum = (xs: Iterable<number>) => [...xs].reduce((a, b) => a + b, 0);

function crashSuite(kind: string, makeTarget: (dir: string) => Promise<TargetProbe>, seed: number): void {
  describe(`backup SIGKILLed at ${KILLS} seeded points on a ${kind} target`, () => {
    const work = scratchDir('triad-crash-');
    const src = join(work, 'src');
    let target: TargetProbe;
    let policy: string;
    let env: Record<string, string>;
    const rnd: Random = seededRandom(seed);
    /** Snapshots known complete (their run exited 0), with the source tree each was taken of. */
    const complete: { id: string; tree: Tree }[] = [];
    let smallFiles: string[] = [];
    /** Bytes of random (incompressible) content ever put into the source; files holding it are only added, never overwritten. */
    let randomBytesEver = 0;
    /** Of those, bytes added since the last complete snapshot. */
    let randomPending = 0;
    let packsAtLastComplete = new Map<string, number>();

    const editSmallFiles = (n: number) => {
      for (let i = 0; i < n; i++) {
        const f = smallFiles[rnd.int(smallFiles.length)]!;
        writeFileSync(f, bytes(1 + rnd.int(1e9), 1000 + rnd.int(20_000), true));
      }
      const extra = join(src, 'docs', `new-${smallFiles.length}.txt`);
      writeFileSync(extra, bytes(1 + rnd.int(1e9), 500 + rnd.int(5000), true));
      smallFiles.push(extra);
    };
    const addRandomFile = (rel: string, size: number) => {
      writeFileSync(join(src, rel), bytes(1 + rnd.int(1e9), size));
      randomBytesEver += size;
      randomPending += size;
    };
    const recordComplete = (stdout: string, tree: Tree) => {
      const out = JSON.parse(stdout);
      complete.push({ id: out.snapshot, tree });
      randomPending = 0;
      packsAtLastComplete = target.packs();
      return out;
    };

    /** check --read-data passes; every complete snapshot (or those given) restores to its recorded tree. */
    const verify = async (when: string, snapshots = complete) => {
      let report: { unindexedPacks: string[] } | undefined;
      const check = async () => {
        const c = await triadAsync(['check', '-p', policy, '--read-data', '--json'], { env });
        expect(c.code, `${when}: ${c.stdout}${c.stderr}`).toBe(0);
        const rep = JSON.parse(c.stdout).targets[0];
        expect(rep.errors, when).toEqual([]);
        expect(rep.damagedPacks, when).toEqual([]);
        expect(rep.snapshots, when).toBeGreaterThanOrEqual(complete.length);
        report = rep;
      };
      const restore = (s: (typeof complete)[number], i: number) => async () => {
        const to = join(work, `restore-${i}`);
        rmSync(to, { recursive: true, force: true });
        const r = await triadAsync(['restore', '-p', policy, s.id, '--to', to, '--target', target.name], { env });
        expect(r.code, `${when}: restore ${s.id.slice(0, 8)}: ${r.stderr}`).toBe(0);
        expect(treeOf(join(to, basename(src))), `${when}: snapshot ${s.id.slice(0, 8)} restores byte for byte`).toEqual(s.tree);
        rmSync(to, { recursive: true, force: true });
      };
      await pool(2, [check, ...snapshots.map(restore)]);
      return report!;
    };

    beforeAll(async () => {
      target = await makeTarget(join(work, 'target'));
      env = { ...PASS, ...target.env };
      // ~30 MiB: four 6.5 MiB and four 1 MiB random files, 40 small text files, an empty file and dir.
      mkdirSync(join(src, 'big'), { recursive: true });
      mkdirSync(join(src, 'added'));
      mkdirSync(join(src, 'empty dir'));
      for (let d = 0; d < 4; d++) mkdirSync(join(src, 'docs', `d${d}`), { recursive: true });
      for (let i = 0; i < 4; i++) addRandomFile(`big/b${i}.bin`, 6.5 * MiB);
      for (let i = 0; i < 4; i++) addRandomFile(`big/m${i}.bin`, MiB);
      smallFiles = Array.from({ length: 40 }, (_, i) => join(src, 'docs', `d${i % 4}`, `note-${i}.txt`));
      for (const [i, f] of smallFiles.entries()) writeFileSync(f, bytes(seed + 100 + i, 1000 + ((i * 7919) % 20_000), true));
      writeFileSync(join(src, 'docs', 'empty.txt'), '');
      policy = writePolicy(work, { sources: [src], targets: { [target.name]: target.policyFields }, rule: 'none' });
      const init = await triadAsync(['init', '-p', policy], { env });
      expect(init.code, init.stderr).toBe(0);
    }, 60_000);
    afterAll(async () => {
      await target?.stop();
      rmSync(work, { recursive: true, force: true });
    });

    it('every kill leaves a checkable repository whose earlier snapshots restore; the next backup reuses what arrived', async () => {
      // Snapshot 1, from scratch: how long a full backup takes and what it writes.
      const firstRandom = randomBytesEver;
      const tree1 = treeOf(src);
      const first = await run(['backup', '-p', policy, '--json'], env);
      expect(first.code, first.stderr).toBe(0);
      const firstWritten: number = recordComplete(first.stdout, tree1).targets[0].bytesWritten;
      expect(firstWritten).toBeGreaterThan(firstRandom);
      // Bytes a backup writes per byte of new random data, from the first run (its small files and
      // metadata counted in: a slight overestimate, on the lenient side of every bound below).
      const ratio = firstWritten / firstRandom;
      const fromScratch = (raw: number) => Math.ceil(raw * ratio);
      /** What each run that completed after kills wrote, next to what it would write from scratch. */
      const reuse: string[] = [];
      let runsReusingFullPacks = 0;
      /**
       * A run completed after killed runs: it wrote the new data minus what the killed runs had
       * already stored since the last complete snapshot (`packsBefore` is taken before it started).
       */
      const completedAfterKills = (label: string, stdout: string, tree: Tree, packsBefore: Map<string, number>) => {
        const left = [...packsBefore].filter(([id]) => !packsAtLastComplete.has(id));
        const arrived = sum(left.map(([, size]) => size));
        const pending = randomPending;
        const written: number = recordComplete(stdout, tree).targets[0].bytesWritten;
        const line = `${label}: new data ${pending} B (from scratch ${fromScratch(pending)} B), left by killed runs ${arrived} B in ${left.length} packs, written ${written} B`;
        reuse.push(line);
        expect(written, line).toBeLessThanOrEqual(Math.max(0, fromScratch(pending) - arrived) + RUN_SLACK);
        if (left.some(([, size]) => size >= PACK_TARGET_SIZE / 2)) {
          expect(written, line).toBeLessThan(fromScratch(pending));
          runsReusingFullPacks++;
        }
      };
      // Snapshot 2: a few changes.
      addRandomFile('added/a0.bin', MiB);
      editSmallFiles(3);
      const tree2 = treeOf(src);
      const second = await run(['backup', '-p', policy, '--json'], env);
      expect(second.code, second.stderr).toBe(0);
      recordComplete(second.stdout, tree2);

      // Kill points: KILLS - 1 seeded delays, one in each of as many equal slices of [50 ms, time of
      // the full backup]; and one kill (at a seeded place in the order) a seeded 0–20 ms after a
      // full new pack has arrived, so at least one kill surely lands mid-upload.
      const lo = 50;
      const span = Math.max(first.ms - lo, 100);
      const delays = Array.from({ length: KILLS - 1 }, (_, i) => Math.round(lo + ((i + rnd.next()) * span) / (KILLS - 1)));
      for (let i = delays.length - 1; i > 0; i--) {
        const j = rnd.int(i + 1);
        [delays[i], delays[j]] = [delays[j]!, delays[i]!];
      }
      const plan: { kind: 'delay' | 'after-pack'; ms: number }[] = delays.map((ms) => ({ kind: 'delay', ms }));
      plan.splice(rnd.int(KILLS), 0, { kind: 'after-pack', ms: rnd.int(21) });

      const outcomes: string[] = [];
      let killsLeavingPacks = 0;
      /** complete[0, verified) were restored after the latest kill. */
      let verified = 0;
      for (const [k, p] of plan.entries()) {
        // New data for this run: a new random file (never overwritten later, so whatever a killed
        // run uploaded stays needed) and a few edited small files. The mid-upload kill gets 2.5
        // packs' worth, so a full pack is stored while the run still reads the rest.
        addRandomFile(`added/k${k}.bin`, p.kind === 'after-pack' ? 20 * MiB : MiB + rnd.int(MiB));
        editSmallFiles(3);
        const tree = treeOf(src);
        const before = target.packs();
        const killWhen =
          p.kind === 'delay'
            ? () => sleep(p.ms)
            : async (exited: () => boolean) => {
                const fullPackArrived = () => [...target.packs()].some(([id, size]) => !before.has(id) && size >= PACK_TARGET_SIZE / 2);
                while (!exited() && !fullPackArrived()) await sleep(5);
                await sleep(p.ms);
              };
        const r = await run(['backup', '-p', policy, '--json'], env, killWhen);
        const label = p.kind === 'delay' ? `${p.ms} ms` : `${p.ms} ms after a full pack arrived`;
        outcomes.push(r.killed ? `killed at ${label}` : `exit ${r.code} after ${Math.round(r.ms)} ms (kill planned at ${label})`);
        if (!r.killed) {
          // It finished before the kill: it must have succeeded (no lock of an earlier kill blocked
          // it). Nothing crashed, so its snapshot is verified along with the others after the next kill.
          expect(r.code, `run ${k}: ${r.stdout}${r.stderr}`).toBe(0);
          completedAfterKills(`run ${k}`, r.stdout, tree, before);
          continue;
        }
        // A full pack had arrived when the run died.
        if ([...target.packs()].some(([id, size]) => !before.has(id) && size >= PACK_TARGET_SIZE / 2)) killsLeavingPacks++;
        await verify(`after run ${k} (${outcomes.at(-1)})`);
        verified = complete.length;
      }

      // A normal backup: no unlock needed, and it does not upload again what killed runs left.
      const beforeFinal = target.packs();
      const treeF = treeOf(src);
      const final = await run(['backup', '-p', policy, '--json'], env);
      expect(final.code, final.stderr).toBe(0);
      completedAfterKills('final backup', final.stdout, treeF, beforeFinal);
      const context = `${kind}: ${outcomes.join('; ')}. ${reuse.join('; ')}`;
      console.log(context);
      // Over the whole history nothing was stored twice: the packs hold each random byte once, plus metadata.
      const totalPackBytes = sum(target.packs().values());
      expect(totalPackBytes, context).toBeLessThanOrEqual(fromScratch(randomBytesEver) + (KILLS + 3) * RUN_SLACK);
      // Every whole pack a killed run left was indexed and used: none is left unindexed, and the new
      // snapshot, built on those packs, restores (and any taken since the latest kill's verification).
      // Only an upload cut short, which the store still lists, stays unindexed, for prune to remove.
      const rep = await verify('after the final backup', complete.slice(verified));
      const packSizes = target.packs();
      const partial = new Set(target.partialPacks());
      const wholeUnindexed = rep.unindexedPacks.filter((id) => !partial.has(id));
      expect(wholeUnindexed, `${context}; unindexed pack sizes: ${wholeUnindexed.map((id) => packSizes.get(id)).join(', ')}; packs before the final backup: ${beforeFinal.size}`).toEqual([]);
      // A partial pack is listed by the store, so check must report it as unindexed, never index it.
      expect(rep.unindexedPacks.filter((id) => partial.has(id)).sort(), context).toEqual([...partial].sort());
      // No lock survives: the killed runs' locks were cleared by the next run, the last run released its own.
      expect(target.locks(), context).toEqual([]);
      expect(existsSync(join(work, 'locks', 'test.backup.lock')), context).toBe(false);
      // The runs were really killed, at least one after a full pack had arrived, and a later run
      // completed on top of such a pack (so the bounds above were tested where they matter).
      expect(outcomes.filter((o) => o.startsWith('killed')).length, context).toBeGreaterThanOrEqual(2);
      expect(killsLeavingPacks, context).toBeGreaterThanOrEqual(1);
      expect(runsReusingFullPacks, context).toBeGreaterThanOrEqual(1);
    }, 300_000);
  });
}

crashSuite('local', async (dir) => localTarget(dir), SEED);
crashSuite('s3 (s3rver)', s3Target, SEED + 1);
