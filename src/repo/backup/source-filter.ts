import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { fsPath } from '../../core/names.js';
import { makeExcludeFinder, type ExcludeFinder } from './exclude.js';

/** What a source's options leave out of the backup. */
export interface SourceOptions {
  /** Patterns (see exclude.ts). */
  exclude: string[];
  /** Leave out the contents of directories holding a valid CACHEDIR.TAG (the tag file stays). */
  excludeCaches?: boolean;
  /** Leave out the contents of directories holding a file of one of these names (that file stays). */
  excludeIfPresent?: string[];
  /** Leave out files larger than this many bytes. */
  excludeLargerThan?: number;
  /** Back up only these paths (relative to the source) and what lies below them; `file` is the list they were read from. */
  filesFrom?: { file: string; paths: string[] };
}

/** The source option that leaves an entry out of the snapshot. */
export type ExclusionRule = 'exclude' | 'exclude_caches' | 'exclude_if_present' | 'exclude_larger_than' | 'files_from';

/** Why an entry is left out: the rule, and what of it matched (a pattern, a tag file's name, the size limit). */
export interface Exclusion {
  rule: ExclusionRule;
  detail: string;
}

/** A directory whose contents a tag file leaves out, all but the tag file itself. */
export interface DirTag {
  rule: 'exclude_caches' | 'exclude_if_present';
  keep: string;
}

const CACHEDIR_TAG = 'CACHEDIR.TAG';
/** The Cache Directory Tagging Specification: a tag file is valid only when it starts with this line. */
const CACHEDIR_SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55';

/** The parts of an lstat the filter needs. */
interface FilterStat {
  size: number;
  isDirectory(): boolean;
  isFile(): boolean;
}

/**
 * What a source's options leave out of its walk. The backup's walk, the stat-ahead thread
 * and the estimate build one each from the same source, so they enter the same
 * directories. A tagged directory is kept with its tag file only, as restic and borg do, so
 * a restore shows where the cache was.
 */
export class SourceFilter {
  private readonly pattern: ExcludeFinder;
  private readonly presentNames: readonly string[];
  private readonly selection: FilesFromSelection | undefined;

  constructor(private readonly s: SourceOptions) {
    this.pattern = makeExcludeFinder(s.exclude);
    this.presentNames = s.excludeIfPresent ?? [];
    this.selection = s.filesFrom ? new FilesFromSelection(s.filesFrom.paths) : undefined;
  }

  /** The tag that empties directory `abs` (holding `names`), or undefined. */
  tagOf(abs: string, names: readonly string[]): DirTag | undefined {
    if (this.s.excludeCaches && names.includes(CACHEDIR_TAG) && isValidCachedirTag(join(abs, CACHEDIR_TAG))) return { rule: 'exclude_caches', keep: CACHEDIR_TAG };
    const present = this.presentNames.find((n) => names.includes(n));
    return present === undefined ? undefined : { rule: 'exclude_if_present', keep: present };
  }

  /** Why entry `name` (at `relInSource`) of a directory tagged `tag` is left out, or undefined when it is kept. */
  excludes(relInSource: string, name: string, st: FilterStat, tag: DirTag | undefined): Exclusion | undefined {
    if (tag && name !== tag.keep) return { rule: tag.rule, detail: tag.keep };
    const pattern = this.pattern(relInSource, st.isDirectory());
    if (pattern !== undefined) return { rule: 'exclude', detail: pattern };
    if (this.selection && !this.selection.selects(relInSource, st.isDirectory())) return { rule: 'files_from', detail: this.s.filesFrom!.file };
    const limit = this.s.excludeLargerThan;
    if (limit !== undefined && st.isFile() && st.size > limit) return { rule: 'exclude_larger_than', detail: String(limit) };
    return undefined;
  }
}

function isValidCachedirTag(path: string): boolean {
  const want = Buffer.from(CACHEDIR_SIGNATURE);
  const got = Buffer.alloc(want.length);
  let fd: number | undefined;
  try {
    fd = openSync(fsPath(path), 'r');
    return readSync(fd, got, 0, got.length, 0) === got.length && got.equals(want);
  } catch {
    // An unreadable tag is no tag: the directory is backed up (and its unreadable files reported).
    return false;
  }
  finally {
    if (fd !== undefined) closeSync(fd);
  }
}

interface SelectionNode {
  /** Listed itself: everything below is selected. */
  whole: boolean;
  children: Map<string, SelectionNode>;
}

/**
 * The paths of a `files_from` list, relative to the source, as a tree of names: an entry is
 * selected when it or a directory above it is listed, and a directory is entered when it
 * leads to a listed path. Cost per entry: one step per level of its path.
 */
export class FilesFromSelection {
  private readonly root: SelectionNode = { whole: false, children: new Map() };

  constructor(paths: readonly string[]) {
    for (const p of paths) {
      let node = this.root;
      for (const part of p.split('/').filter((x) => x !== '')) {
        let next = node.children.get(part);
        if (!next) node.children.set(part, (next = { whole: false, children: new Map() }));
        node = next;
      }
      node.whole = true;
    }
  }

  selects(relInSource: string, isDir: boolean): boolean {
    let node = this.root;
    for (const part of relInSource.split('/')) {
      if (node.whole) return true;
      const next = node.children.get(part);
      if (!next) return false;
      node = next;
    }
    return node.whole || isDir;
  }
}
