import { lstatSync, readFileSync, readdirSync, type Stats } from 'node:fs';
import { decodeName, fsPath } from '../core/names.js';
import { join } from 'node:path';
import { TriadError, ExitCode, errnoCode } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import { countOf, formatBytes, formatDuration, formatTime } from '../core/format.js';
import { makeExcludeMatcher, SourceFilter, type ExcludeMatcher } from '../repo/backup/index.js';
import { archiveSource } from './files-from.js';
import type { CoverageSpec, Policy } from '../policy/types.js';
import { discoverPolicyFiles } from './policy-files.js';
import { errorMessage, loadPolicyFile, type AppContext } from './session.js';

/**
 * Unprotected data: the directories and mount points under a policy's `coverage.roots` that
 * no policy's sources back up (minus their excludes, other file systems they do not cross).
 *
 * Cost: the walk reads directory entries and lstats; it never reads a file's content and never
 * follows a symbolic link. It stops descending where a source covers everything below (it goes
 * on inside a source only to find excluded directories and mount points), measures only the
 * highest uncovered directory of each branch, and stops at `maxEntries` entries read or
 * `maxMs` of wall time, saying so. Memory grows with the depth of the tree and the number of
 * uncovered directories found, not with the number of files.
 */
export interface UncoveredEntry {
  readonly path: string;
  /**
   * directory: no source reaches it; files: the files directly in a directory whose other
   * parts are backed up; excluded: a source's exclude leaves it out; mount: another file system.
   */
  readonly kind: 'directory' | 'files' | 'excluded' | 'mount';
  /** Sum of the sizes of its files; null for a mount point that was not entered. */
  readonly bytes: number | null;
  readonly files: number | null;
  /** The newest modification time of its files (of its top directory for a mount not entered). */
  readonly newestChange: Date | null;
  /** For `excluded`: the policy and source whose exclude leaves it out. */
  readonly excludedBy?: { readonly policy: string; readonly file: string; readonly source: string };
}

export interface CoverageLimits {
  /** Directory entries read before the scan stops. */
  readonly maxEntries: number;
  /** Wall time before the scan stops. */
  readonly maxMs: number;
}

export const DEFAULT_COVERAGE_LIMITS: CoverageLimits = { maxEntries: 1_000_000, maxMs: 5 * 60_000 };

export interface CoverageScan {
  readonly policy: string;
  readonly file: string;
  /** The policy's time zone, for times shown to people. */
  readonly timezone: string;
  readonly roots: readonly string[];
  /** Biggest first; unmeasured mount points last. */
  readonly uncovered: readonly UncoveredEntry[];
  /** Set when a limit stopped the scan: what it found is a part of what is there. */
  readonly stopped?: { readonly by: 'entries' | 'time'; readonly limit: number };
  /** Roots or directories that could not be read, with the reason. */
  readonly unreadable: readonly { readonly path: string; readonly reason: string }[];
  readonly entriesRead: number;
}

export interface CoverageResult {
  readonly scans: readonly CoverageScan[];
  /**
   * 4 when unprotected data was found; otherwise 1 when a limit stopped a scan (what it did
   * not read is unknown), 0 when everything under every root is backed up.
   */
  readonly exitCode: typeof ExitCode.OK | typeof ExitCode.FAILED | typeof ExitCode.FINDING;
}

export interface CoverageOptions {
  readonly policyFiles?: readonly string[];
  readonly policiesDir?: string;
  readonly limits?: CoverageLimits;
}

/**
 * `triad coverage`: every policy with a `coverage:` section is scanned against the sources of
 * every policy named (-p and --policies), so data another policy backs up is no finding.
 */
export async function runCoverage(ctx: AppContext, opts: CoverageOptions): Promise<CoverageResult> {
  const files = await discoverPolicyFiles(ctx.cwd, opts.policyFiles ?? [], opts.policiesDir, { requireSome: true });
  const policies: Policy[] = [];
  for (const file of files) policies.push(await loadPolicyFile(ctx, file));
  const scanned = policies.filter((p) => p.coverage !== undefined);
  if (scanned.length === 0) {
    throw new TriadError('E_USAGE', `no coverage section in ${policies.length === 1 ? `policy ${policies[0]!.name}` : 'any of the policies given'}`, {
      hint: 'add coverage: {roots: [/srv, /home]} to a policy to say where its data lives',
    });
  }
  const sources = coveringSources(policies);
  const scans = scanned.map((p) => scanCoverage(p, sources, { clock: ctx.clock, limits: opts.limits ?? DEFAULT_COVERAGE_LIMITS, signal: ctx.signal }));
  const exitCode = scans.some((s) => s.uncovered.length > 0) ? ExitCode.FINDING : scans.some((s) => s.stopped !== undefined) ? ExitCode.FAILED : ExitCode.OK;
  return { scans, exitCode };
}

/** A directory entry: its name decoded as names.ts does, and its kind. */
interface DirEntry {
  readonly name: string;
  isDirectory(): boolean;
}

/** A policy source as the walk sees it. */
export interface CoveringSource {
  readonly policy: string;
  /** The policy's file. */
  readonly file: string;
  readonly path: string;
  /** Whether the source's options leave out the directory at `rel` (relative to the source): a pattern, or not on the `files_from` list. */
  readonly excludesDir: (rel: string) => boolean;
  /** Whether a tag file (`exclude_caches`, `exclude_if_present`) empties directory `abs`; undefined when the source has no tag option. */
  readonly emptiedByTag: ((abs: string, names: readonly string[]) => boolean) | undefined;
  /** Some option leaves directories out (a file's size limit does not: coverage is by directory). */
  readonly hasExcludes: boolean;
  readonly crossFilesystems: boolean;
}

const DIRECTORY = { size: 0, isDirectory: () => true, isFile: () => false };

export function coveringSources(policies: readonly Pick<Policy, 'name' | 'file' | 'sources'>[]): CoveringSource[] {
  return policies.flatMap((p) =>
    p.sources.map((s) => {
      const filter = sourceFilterOf(s);
      const tags = s.exclude_caches || s.exclude_if_present.length > 0;
      return {
        policy: p.name,
        file: p.file,
        path: s.path,
        excludesDir: (rel: string) => filter.excludes(rel, rel.slice(rel.lastIndexOf('/') + 1), DIRECTORY, undefined) !== undefined,
        emptiedByTag: tags ? (abs: string, names: readonly string[]) => filter.tagOf(abs, names) !== undefined : undefined,
        hasExcludes: s.exclude.length > 0 || tags || s.files_from !== undefined,
        crossFilesystems: s.cross_filesystems,
      };
    }),
  );
}

/**
 * The filter a backup of the source would apply. A `files_from` list that cannot be read
 * fails the backup, so then the source backs up nothing: an empty list.
 */
function sourceFilterOf(s: Policy['sources'][number]): SourceFilter {
  try {
    return new SourceFilter(archiveSource(s));
  } catch {
    return new SourceFilter({ ...archiveSource({ ...s, files_from: undefined }), filesFrom: { file: s.files_from ?? '', paths: [] } });
  }
}

export interface ScanOptions {
  readonly clock: Clock;
  readonly limits: CoverageLimits;
  readonly signal?: AbortSignal | undefined;
}

/** Scans one policy's coverage roots against `sources`. */
export function scanCoverage(policy: Pick<Policy, 'name' | 'file' | 'coverage' | 'timezone'>, sources: readonly CoveringSource[], opts: ScanOptions): CoverageScan {
  const spec = policy.coverage;
  if (spec === undefined) throw new TriadError('E_INTERNAL', `policy ${policy.name} has no coverage section`);
  const walk = new CoverageWalk(spec, sources, opts);
  // A root inside another root is walked once, as part of the outer one.
  const roots = spec.roots.filter((r) => !spec.roots.some((o) => o !== r && isBelow(r, o)));
  for (const root of roots) {
    if (walk.stopped !== undefined) break;
    walk.scanRoot(root);
  }
  return {
    policy: policy.name,
    file: policy.file,
    timezone: policy.timezone,
    roots: spec.roots,
    uncovered: [...walk.found].sort(biggestFirst),
    ...(walk.stopped === undefined ? {} : { stopped: walk.stopped }),
    unreadable: walk.unreadable,
    entriesRead: walk.entriesRead,
  };
}

function biggestFirst(a: UncoveredEntry, b: UncoveredEntry): number {
  if (a.bytes !== b.bytes) return a.bytes === null ? 1 : b.bytes === null ? -1 : b.bytes - a.bytes;
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

function isBelow(path: string, dir: string): boolean {
  return dir === '/' ? path !== '/' : path.startsWith(dir + '/');
}

/** A source that reaches a directory: its path inside the source and the device of the source's root. */
interface Reach {
  readonly source: CoveringSource;
  readonly rel: string;
  readonly dev: number;
}

/** How many entries the walk reads between two looks at the clock. */
const TIME_CHECK_EVERY = 1024;

class CoverageWalk {
  readonly found: UncoveredEntry[] = [];
  readonly unreadable: { path: string; reason: string }[] = [];
  stopped: CoverageScan['stopped'];
  entriesRead = 0;
  private readonly ignore: ExcludeMatcher;
  private readonly started: number;
  private readonly mounts: readonly string[];
  private nextTimeCheck = TIME_CHECK_EVERY;

  constructor(
    private readonly spec: CoverageSpec,
    private readonly sources: readonly CoveringSource[],
    private readonly opts: ScanOptions,
  ) {
    this.ignore = makeExcludeMatcher(spec.ignore);
    this.started = opts.clock.monotonic();
    this.mounts = mountPoints();
  }

  scanRoot(root: string): void {
    let st: Stats;
    try {
      st = lstatSync(fsPath(root));
    } catch (err) {
      this.unreadable.push({ path: root, reason: errnoCode(err) === 'ENOENT' ? 'the coverage root does not exist' : errorMessage(err) });
      return;
    }
    if (!st.isDirectory()) {
      this.unreadable.push({ path: root, reason: st.isSymbolicLink() ? 'a symbolic link (name the directory it points to)' : 'not a directory' });
      return;
    }
    if (this.ignored(root, true)) return;
    const reach = this.reachOfRoot(root, st.dev);
    if (reach.length === 0 && !this.holdsSource(root)) {
      this.measure(root, st, st.dev, 'directory');
      return;
    }
    this.visit(root, 0, reach, st.dev);
  }

  /** The sources at or above a root that reach it: no exclude on the way, no other file system unless crossed. */
  private reachOfRoot(root: string, dev: number): Reach[] {
    const out: Reach[] = [];
    for (const s of this.sources) {
      if (s.path !== root && !isBelow(root, s.path)) continue;
      const sourceDev = this.lstat(s.path, false)?.dev;
      if (sourceDev === undefined || (!s.crossFilesystems && sourceDev !== dev)) continue;
      const rel = root === s.path ? '' : root.slice(s.path === '/' ? 1 : s.path.length + 1);
      const parts = rel === '' ? [] : rel.split('/');
      if (parts.some((_, i) => s.excludesDir(parts.slice(0, i + 1).join('/')))) continue;
      out.push({ source: s, rel, dev: sourceDev });
    }
    return out;
  }

  private visit(dir: string, depth: number, reachIn: readonly Reach[], dev: number): void {
    if (this.stop()) return;
    const reach = [...reachIn, ...this.sources.filter((s) => s.path === dir && !reachIn.some((r) => r.source === s)).map((s) => ({ source: s, rel: '', dev }))];
    const mountBelow = this.mounts.some((m) => isBelow(m, dir));
    // A source without excludes that crosses (or has no) mounts below backs up everything here.
    if (reach.some((r) => !r.source.hasExcludes && (r.source.crossFilesystems || !mountBelow))) return;
    // Backed up here but for other file systems: only the ways to those mount points matter.
    const towardMounts = reach.some((r) => !r.source.hasExcludes);
    if (this.spec.max_depth !== undefined && depth >= this.spec.max_depth) return;
    const entries = this.readDir(dir);
    if (entries === undefined) return;
    const loose = new Tally();
    for (const e of entries) {
      if (this.stop()) break;
      const path = join(dir, e.name);
      if (this.ignored(path, e.isDirectory())) continue;
      if (towardMounts && !this.mounts.some((m) => m === path || isBelow(m, path))) continue;
      if (!e.isDirectory()) {
        // A source may be a single file.
        if (reach.length === 0 && !this.sources.some((src) => src.path === path)) this.tallyFile(loose, path);
        continue;
      }
      const st = this.lstat(path);
      if (st === undefined) continue;
      const emptied = this.tagCheck(path);
      const childReach = reach
        .map((r) => ({ ...r, rel: r.rel === '' ? e.name : `${r.rel}/${e.name}` }))
        .filter((r) => !r.source.excludesDir(r.rel) && !emptied(r.source) && (r.source.crossFilesystems || st.dev === r.dev));
      if (childReach.length > 0 || this.holdsSource(path)) {
        this.visit(path, depth + 1, childReach, st.dev);
        continue;
      }
      const excluder = reach.find((r) => r.source.excludesDir(r.rel === '' ? e.name : `${r.rel}/${e.name}`) || emptied(r.source));
      if (st.dev !== dev) this.measure(path, st, st.dev, 'mount');
      else if (excluder !== undefined) this.measure(path, st, st.dev, 'excluded', { policy: excluder.source.policy, file: excluder.source.file, source: excluder.source.path });
      else this.measure(path, st, st.dev, 'directory');
    }
    if (loose.files > 0) this.found.push({ path: dir, kind: 'files', ...loose.figures() });
  }

  /** Sizes an uncovered directory; a mount point of another file system is only looked into unless the policy crosses file systems. */
  private measure(top: string, st: Stats, dev: number, kind: UncoveredEntry['kind'], excludedBy?: UncoveredEntry['excludedBy']): void {
    const extra = excludedBy === undefined ? {} : { excludedBy };
    if (kind === 'mount' && !this.spec.cross_filesystems) {
      const names = this.readDir(top);
      if (names?.some((e) => e.name !== 'lost+found' && !this.ignored(join(top, e.name), e.isDirectory()))) {
        this.found.push({ path: top, kind, bytes: null, files: null, newestChange: st.mtime, ...extra });
      }
      return;
    }
    const tally = new Tally();
    const stack = [top];
    while (stack.length > 0 && !this.stop()) {
      const dir = stack.pop()!;
      for (const e of this.readDir(dir) ?? []) {
        const path = join(dir, e.name);
        if (this.ignored(path, e.isDirectory())) continue;
        if (!e.isDirectory()) {
          this.tallyFile(tally, path);
          continue;
        }
        const sub = this.lstat(path);
        if (sub === undefined) continue;
        if (sub.dev !== dev && !this.spec.cross_filesystems) this.measure(path, sub, sub.dev, 'mount');
        else stack.push(path);
      }
    }
    if (tally.files > 0) this.found.push({ path: top, kind, ...tally.figures(), ...extra });
  }

  /** Whether a tag file of a source's options empties directory `dir`; its names are read once, on the first source with a tag option. */
  private tagCheck(dir: string): (source: CoveringSource) => boolean {
    let names: string[] | undefined;
    return (source) => {
      if (source.emptiedByTag === undefined) return false;
      names ??= this.readDir(dir)?.map((e) => e.name) ?? [];
      return source.emptiedByTag(dir, names);
    };
  }

  private tallyFile(t: Tally, path: string): void {
    const st = this.lstat(path);
    if (st !== undefined) t.add(st.isFile() ? st.size : 0, st.mtime);
  }

  /** Some source is `dir` or lies below it. */
  private holdsSource(dir: string): boolean {
    return this.sources.some((s) => s.path === dir || isBelow(s.path, dir));
  }

  private ignored(path: string, isDir: boolean): boolean {
    return this.ignore(path.slice(1), isDir);
  }

  /** Entries by name as the backup's walk spells them (a name that is not UTF-8 keeps its bytes). */
  private readDir(dir: string): DirEntry[] | undefined {
    try {
      const entries = readdirSync(fsPath(dir), { withFileTypes: true, encoding: 'buffer' }).map((e) => ({ name: decodeName(e.name), isDirectory: () => e.isDirectory() }));
      this.entriesRead += entries.length;
      return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (err) {
      this.unreadable.push({ path: dir, reason: errorMessage(err) });
      return undefined;
    }
  }

  private lstat(path: string, report = true): Stats | undefined {
    try {
      return lstatSync(fsPath(path));
    } catch (err) {
      if (report) this.unreadable.push({ path, reason: errorMessage(err) });
      return undefined;
    }
  }

  /** True once a limit is reached (or the run is interrupted); records which limit. */
  private stop(): boolean {
    if (this.stopped !== undefined) return true;
    if (this.opts.signal?.aborted) throw new TriadError('E_INTERRUPTED', 'interrupted');
    const { maxEntries, maxMs } = this.opts.limits;
    if (this.entriesRead >= maxEntries) this.stopped = { by: 'entries', limit: maxEntries };
    else if (this.entriesRead >= this.nextTimeCheck) {
      this.nextTimeCheck = this.entriesRead + TIME_CHECK_EVERY;
      if (this.opts.clock.monotonic() - this.started >= maxMs) this.stopped = { by: 'time', limit: maxMs };
    }
    return this.stopped !== undefined;
  }
}

class Tally {
  files = 0;
  bytes = 0;
  newest = 0;

  add(bytes: number, mtime: Date): void {
    this.files++;
    this.bytes += bytes;
    this.newest = Math.max(this.newest, mtime.getTime());
  }

  figures(): { bytes: number; files: number; newestChange: Date | null } {
    return { bytes: this.bytes, files: this.files, newestChange: this.files > 0 ? new Date(this.newest) : null };
  }
}

/**
 * The mount points of this system (Linux's /proc/self/mountinfo, one small read), so a mount
 * below a source that does not cross file systems is found without walking the source.
 * Elsewhere an empty list: mounts are then found only where the walk goes.
 */
function mountPoints(): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field !== undefined) out.push(field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

/** "3 files, 12.0 KiB, newest change 2026-12-01 10:00 UTC", or what is known of a mount point not entered. */
export function describeFigures(e: UncoveredEntry, zone: string): string {
  const newest = e.newestChange === null ? '' : `, newest change ${formatTime(e.newestChange, zone)}`;
  if (e.files === null || e.bytes === null) return `another file system, not entered (coverage.cross_filesystems is off)${newest}`;
  return `${countOf(e.files, 'file', 'files')}, ${formatBytes(e.bytes)}${newest}`;
}

/** Why nothing backs the entry up, in words. */
export function describeUncovered(e: UncoveredEntry): string {
  switch (e.kind) {
    case 'files':
      return `files directly in ${e.path} that no policy backs up`;
    case 'excluded':
      return `${e.path} is excluded from source ${e.excludedBy?.source ?? '?'} of policy ${e.excludedBy?.policy ?? '?'} and no other policy backs it up`;
    case 'mount':
      return `mount point ${e.path}: no policy backs up this file system`;
    default:
      return `${e.path}: no policy backs it up`;
  }
}

/** What to do about it: back it up with the policy, or say it needs no backup. */
export function uncoveredAction(e: UncoveredEntry, policyFile: string): string {
  if (e.kind === 'files') return `add ${e.path} to the sources of ${policyFile} (or move the files into a directory it backs up), or add their paths or a pattern such as '*.iso' to coverage.ignore there if they need no backup`;
  if (e.kind === 'excluded' && e.excludedBy !== undefined) {
    return `remove the exclude that matches it from source ${e.excludedBy.source} in ${e.excludedBy.file}, or add '${e.path}' to coverage.ignore in ${policyFile} if it needs no backup`;
  }
  return `add ${e.path} to the sources of ${policyFile}, or add '${e.path}' to coverage.ignore there if it needs no backup`;
}

/** Why a scan is a part of what is there. */
export function describeStop(s: NonNullable<CoverageScan['stopped']>): string {
  return s.by === 'entries'
    ? `the coverage scan stopped after ${s.limit.toLocaleString('en-US')} directory entries: what lies beyond was not looked at`
    : `the coverage scan stopped after ${formatDuration(s.limit)}: what lies beyond was not looked at`;
}
