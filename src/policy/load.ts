/**
 * Policy loading: YAML text → located plain tree → strict schema → cross-field rules →
 * normalised `Policy`. Every problem found in a file is collected with its line, column
 * and field path, and all of them are thrown together in one E_POLICY_INVALID error, so a
 * sysadmin fixes the whole file in one pass instead of one error per run.
 */
import { constants as fsConstants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { Lexer, LineCounter, parseDocument, isAlias, isMap, isPair, isScalar, isSeq, Scalar, type Document, type Node } from 'yaml';
import type * as z from 'zod';
import { TriadError, errnoCode } from '../core/errors.js';
import { knownKeysAt, policySchema, targetSchemas, NAME_PATTERN, TARGET_TYPES, type WrittenPolicy, type WrittenTarget } from './schema.js';
import type { PassphraseSpec, Policy, SampleSpec, TargetSpec } from './types.js';

/** One located problem in a policy file. `path` is the dotted field path (`targets.cloud.bucket`, `sources[0].path`). */
export interface PolicyProblem {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  path: string;
  message: string;
  expected?: string;
  /** The value written in the file; never set for secret or credential fields. */
  found?: string;
}

export interface LoadPolicyOptions {
  /** Environment for `${VAR}` interpolation; pass it explicitly (only src/cli reads process.env). */
  env: Record<string, string | undefined>;
}

type Seg = string | number;
type PathArr = readonly Seg[];
interface Loc {
  line: number;
  column: number;
}

/**
 * Keys that would hold a secret written inline. Credentials are only given by reference
 * (`*_env`, `*_file`, `*_command`), so any of these keys is refused, wherever it appears.
 */
const INLINE_SECRET_KEYS: Record<string, string> = {
  passphrase: 'use passphrase_env, passphrase_file or passphrase_command under `encryption`',
  password: 'give the name of an environment variable, a file or a command that holds it',
  secret: 'give the name of an environment variable, a file or a command that holds it',
  secret_access_key: 'use credentials_env: {access_key_id: VAR, secret_access_key: VAR}',
  secret_key: 'use credentials_env: {access_key_id: VAR, secret_access_key: VAR}',
  access_key: 'use credentials_env: {access_key_id: VAR, secret_access_key: VAR}',
  session_token: 'use credentials_env.session_token: VAR',
  connection_string: 'use connection_string_env: VAR',
  account_key: 'use account_key_env: VAR',
  sas_token: 'use sas_token_env: VAR',
  private_key: 'use key_file: /path/to/key.json',
  client_secret: 'give the name of an environment variable, a file or a command that holds it',
  token: 'give the name of an environment variable, a file or a command that holds it',
  api_key: 'give the name of an environment variable, a file or a command that holds it',
};

/** Largest policy file read: a policy is a short YAML file, and a larger one is refused before it is read. */
export const MAX_POLICY_BYTES = 1024 * 1024;
/** Alias uses resolved in one file: anchors for shared excludes or target defaults stay far below it; a nested alias bomb passes it at once. */
export const MAX_ALIAS_EXPANSIONS = 1000;
/** Values (scalars, lists, mappings) of a file once its aliases are expanded. */
export const MAX_POLICY_VALUES = 100_000;
/** Nesting of lists and mappings; a policy needs fewer than ten levels. */
export const MAX_NESTING_DEPTH = 64;

/** Reads and loads a policy file. Throws E_POLICY_NOT_FOUND or E_POLICY_INVALID (with `details.problems`). */
export async function loadPolicy(file: string, opts: LoadPolicyOptions): Promise<Policy> {
  const abs = nodePath.resolve(file);
  return parsePolicyText(await readPolicyText(file, abs), abs, opts);
}

/**
 * The text of a policy file, for every command that loads one: a regular file of at most
 * MAX_POLICY_BYTES, checked before anything is read. Opened non-blocking, so a FIFO put in
 * its place between the check and the read cannot hang the command. Errors carry
 * `details.reason`, the phrase `policy check` prints after the file name.
 * @param file the path as the user gave it (named in messages)
 * @param abs the path resolved against the working directory
 */
export async function readPolicyText(file: string, abs: string): Promise<string> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(abs, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const st = await handle.stat();
    if (st.isDirectory()) throw policyFileError('E_POLICY_NOT_FOUND', file, `${file} is a directory, not a policy file`, 'is a directory, not a policy file');
    if (!st.isFile()) throw policyFileError('E_POLICY_NOT_FOUND', file, `${file} is not a regular file`, 'is not a regular file (a FIFO, socket or device)');
    if (st.size > MAX_POLICY_BYTES) throw policyTooLarge(file, st.size);
    const buf = Buffer.alloc(MAX_POLICY_BYTES + 1);
    let length = 0;
    while (length < buf.length) {
      const { bytesRead } = await handle.read(buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    // The file may have grown since the stat: the cap holds for what is read too.
    if (length > MAX_POLICY_BYTES) throw policyTooLarge(file, length);
    return buf.toString('utf8', 0, length);
  } catch (err) {
    if (err instanceof TriadError) throw err;
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') throw policyFileError('E_POLICY_NOT_FOUND', file, `policy file not found: ${file}`, 'policy file not found', err);
    if (code === 'EACCES' || code === 'EPERM') throw policyFileError('E_POLICY_NOT_FOUND', file, `permission denied: cannot read policy file ${file}`, 'permission denied', err);
    const reason = `cannot be read (${code ?? (err instanceof Error ? err.message : String(err))})`;
    throw policyFileError('E_POLICY_NOT_FOUND', file, `policy file ${file} ${reason}`, reason, err);
  } finally {
    await handle?.close();
  }
}

function policyTooLarge(file: string, size: number): TriadError {
  const reason = `is too large for a policy file: ${size} bytes, the limit is ${MAX_POLICY_BYTES} (1 MiB)`;
  return policyFileError('E_POLICY_INVALID', file, `${file} ${reason}`, reason);
}

const FILE_HINTS: Record<string, string> = {
  E_POLICY_NOT_FOUND: 'give the path of a YAML policy file; shipped examples are in policies/ (e.g. policies/demo.yaml)',
  E_POLICY_INVALID: 'check that the path names the policy and not another file; a policy is a short YAML file (docs/POLICY.md)',
};

function policyFileError(code: 'E_POLICY_NOT_FOUND' | 'E_POLICY_INVALID', file: string, message: string, reason: string, cause?: unknown): TriadError {
  const problems: PolicyProblem[] = [{ file, line: 0, column: 0, path: '', message: reason }];
  return new TriadError(code, message, { hint: FILE_HINTS[code], cause, details: { file, reason, problems } });
}

/**
 * Parses policy text as if read from `file` (relative paths resolve against its directory).
 * Pure apart from `opts.env`. Throws E_POLICY_INVALID listing every problem.
 */
export function parsePolicyText(text: string, file: string, opts: LoadPolicyOptions): Policy {
  const abs = nodePath.resolve(file);
  const result = validatePolicyText(text, abs, opts);
  if (!result.ok) throw policyInvalidError(file, result.problems);
  return result.policy;
}

export type PolicyValidation = { ok: true; policy: Policy } | { ok: false; problems: PolicyProblem[] };

/** Like parsePolicyText, but returns the problems instead of throwing. */
export function validatePolicyText(text: string, file: string, opts: LoadPolicyOptions): PolicyValidation {
  const v = new Validation(text, nodePath.resolve(file), opts.env);
  return v.run();
}

/** `file:line:col: path: message`, one line per problem (`file:line:col: message` when no field applies, e.g. YAML syntax). */
export function formatProblem(p: PolicyProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.column}` : p.file;
  return `${where}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

export function policyInvalidError(file: string, problems: PolicyProblem[]): TriadError {
  return new TriadError('E_POLICY_INVALID', problems.map(formatProblem).join('\n'), {
    hint: `fix the ${problems.length === 1 ? 'problem' : `${problems.length} problems`} above in ${file}; see docs/POLICY.md for every field`,
    details: { file, problems },
  });
}

/** The problems of a policy file that could not be read or is invalid (E_POLICY_NOT_FOUND, E_POLICY_INVALID), or undefined for any other error. */
export function policyProblems(err: unknown): PolicyProblem[] | undefined {
  if (err instanceof TriadError && (err.code === 'E_POLICY_INVALID' || err.code === 'E_POLICY_NOT_FOUND') && Array.isArray(err.details?.problems)) {
    return err.details.problems as PolicyProblem[];
  }
  return undefined;
}

export function formatPath(path: PathArr): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

const keyOf = (path: PathArr): string => JSON.stringify(path);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest candidate within a typo's reach (≤ 2 edits, or a third of the word), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function describeValue(v: unknown): string {
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return typeof v;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  array: 'a list',
  record: 'a mapping (key: value)',
};

/** Credential references and secret-shaped keys: their values are never echoed in problems. */
function isSensitivePath(path: PathArr): boolean {
  return path.some(
    (s) => typeof s === 'string' && (s.endsWith('_env') || s === 'passphrase_command' || s === 'passphrase_file' || s in INLINE_SECRET_KEYS),
  );
}

/** Strings that are not `${VAR}`-interpolated: shell commands (the shell expands them at run time) and env-var names. */
function isInterpolationExempt(path: PathArr): boolean {
  const last = path[path.length - 1];
  if (path[0] === 'hooks') return last === 'run' || typeof last === 'number';
  if (path.includes('credentials_env')) return true;
  return typeof last === 'string' && (last.endsWith('_env') || last === 'passphrase_command');
}

/** Lexer tokens that mark structure without consuming source text. */
const CONTROL_TOKENS = new Set(['\x02', '\x18', '\x1f']);

/**
 * The offset of the first `[` or `{` nested deeper than MAX_NESTING_DEPTH, or undefined.
 * The YAML parser recurses once per flow level and needs seconds and hundreds of MB to
 * fail on a megabyte of brackets; the lexer is iterative and a tenth of the time, so this
 * runs first. Block nesting needs a longer indent per level, so the file cap bounds it.
 */
function flowTooDeepAt(text: string): number | undefined {
  let depth = 0;
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    if (token === '[' || token === '{') {
      if (++depth > MAX_NESTING_DEPTH) return offset;
    } else if (token === ']' || token === '}') depth--;
    if (!CONTROL_TOKENS.has(token)) offset += token.length;
  }
  return undefined;
}

/** Line and column of an offset, for problems found before the parser has counted lines. */
function positionIn(text: string, offset: number): Loc {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return { line, column: offset - lineStart + 1 };
}

/** Ends the walk of a document that passed a parsing bound; the problem is already recorded. */
class LimitExceeded extends Error {}

class Validation {
  private readonly problems: PolicyProblem[] = [];
  private readonly valueLoc = new Map<string, Loc>();
  private readonly keyLoc = new Map<string, Loc>();
  /** Paths already reported (inline secret, failed interpolation): schema errors there would only repeat them. */
  private readonly reported = new Set<string>();
  private readonly lines = new LineCounter();
  private values = 0;
  private aliasExpansions = 0;
  private doc!: Document;
  private raw: unknown;

  constructor(
    private readonly text: string,
    private readonly file: string,
    private readonly env: Record<string, string | undefined>,
  ) {}

  run(): PolicyValidation {
    const tooDeep = flowTooDeepAt(this.text);
    if (tooDeep !== undefined) {
      this.add(positionIn(this.text, tooDeep), [], `nested deeper than ${MAX_NESTING_DEPTH} levels of [ ] or { }`, { expected: `at most ${MAX_NESTING_DEPTH} levels of nesting` });
      return this.finish();
    }
    this.doc = parseDocument(this.text, { lineCounter: this.lines, uniqueKeys: false, prettyErrors: false });
    if (this.doc.errors.length > 0) {
      this.syntaxProblems();
      return this.finish();
    }
    if (this.doc.contents === null || (isScalar(this.doc.contents) && this.doc.contents.value === null)) {
      this.add({ line: 1, column: 1 }, [], 'the policy file is empty', { expected: 'a mapping with version, policy, sources, encryption and targets' });
      return this.finish();
    }
    try {
      this.raw = this.toPlain(this.doc.contents, [], 0);
    } catch (err) {
      if (!(err instanceof LimitExceeded)) throw err;
      // The partial tree would only add schema errors caused by the cut.
      return this.finish();
    }
    if (!isPlainObject(this.raw)) {
      this.add(this.locate([]), [], 'the top level must be a mapping (key: value)', { found: describeValue(this.raw) });
      return this.finish();
    }
    this.crossFieldRules(this.raw);
    const root = policySchema.safeParse(this.raw, { reportInput: true });
    if (!root.success) this.zodIssues(root.error.issues, [], policySchema);
    const targets = this.validateTargets(this.raw.targets);
    if (this.problems.length > 0 || !root.success || targets === undefined) return this.finish();
    return { ok: true, policy: this.normalise(root.data, targets) };
  }

  private finish(): PolicyValidation {
    const seen = new Set<string>();
    const unique = this.problems.filter((p) => {
      const k = `${p.line}:${p.column}:${p.path}:${p.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    unique.sort((a, b) => a.line - b.line || a.column - b.column);
    if (unique.length === 0) throw new Error('policy validation failed without a problem');
    return { ok: false, problems: unique };
  }

  // ---- YAML → plain tree with locations -------------------------------------------------

  private pos(offset: number): Loc {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  /**
   * A tree built from broken YAML gives misleading schema errors, so only the syntax is
   * reported. Tabs come first and alone (what follows a tab is usually a cascade); otherwise
   * the first error of each line.
   */
  private syntaxProblems(): void {
    const tabs = this.doc.errors.filter((e) => e.code === 'TAB_AS_INDENT');
    const errors = tabs.length > 0 ? tabs : this.doc.errors;
    const lines = new Set<number>();
    for (const e of errors) {
      const loc = this.pos(e.pos[0]);
      if (lines.has(loc.line)) continue;
      lines.add(loc.line);
      this.add(loc, e.code === 'TAB_AS_INDENT' ? this.pathAtLine(loc.line) : [], yamlMessage(e.code, e.message));
    }
  }

  /**
   * The field path a line of broken YAML most likely belongs to, from indentation alone
   * (a tab counts as 8 columns, as terminals show it): its own key under the block keys
   * that enclose it. Only for tab errors: other syntax errors are often noticed lines
   * after their cause, and a wrong path would mislead more than none.
   */
  private pathAtLine(line: number): Seg[] {
    const stack: { indent: number; key: string; block: boolean }[] = [];
    const all = this.text.split('\n');
    for (let i = 0; i < Math.min(line, all.length); i++) {
      const m = /^([ \t]*)(?:- )?([A-Za-z0-9_.-]+)\s*:(.*)$/.exec(all[i]!);
      if (!m) continue;
      const indent = m[1]!.replace(/\t/g, ' '.repeat(8)).length;
      while (stack.length > 0 && stack[stack.length - 1]!.indent >= indent) stack.pop();
      if (i === line - 1) return [...stack.filter((e) => e.block).map((e) => e.key), m[2]!];
      stack.push({ indent, key: m[2]!, block: /^\s*(#.*)?$/.test(m[3]!) });
    }
    return [];
  }

  /**
   * The plain tree, aliases expanded. Expansion is bounded (MAX_ALIAS_EXPANSIONS,
   * MAX_POLICY_VALUES, MAX_NESTING_DEPTH): a few hundred bytes of nested aliases would
   * otherwise expand to billions of values. Past a bound the problem is recorded where it
   * was met and LimitExceeded ends the walk.
   */
  private toPlain(node: Node | null | undefined, path: PathArr, depth: number): unknown {
    if (node === null || node === undefined) return null;
    const loc = node.range ? this.pos(node.range[0]) : this.locate(path);
    if (++this.values > MAX_POLICY_VALUES) this.limit(loc, path, `the policy expands to more than ${MAX_POLICY_VALUES} values (aliases expanded); a policy needs far fewer`);
    if (depth > MAX_NESTING_DEPTH) this.limit(loc, path, `nested deeper than ${MAX_NESTING_DEPTH} levels (aliases expanded)`);
    if (isAlias(node)) {
      if (++this.aliasExpansions > MAX_ALIAS_EXPANSIONS) this.limit(loc, path, `more than ${MAX_ALIAS_EXPANSIONS} alias expansions (aliases within aliases count each time they are expanded)`);
      return this.toPlain(node.resolve(this.doc), path, depth + 1);
    }
    if (node.range) this.valueLoc.set(keyOf(path), loc);
    if (isScalar(node)) return this.scalar(node, path);
    if (isSeq(node)) return node.items.map((item, i) => this.toPlain(item as Node, [...path, i], depth + 1));
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      const firstSeen = new Map<string, Loc>();
      const merges: Node[] = [];
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const keyNode = pair.key as Node | null;
        if (!isScalar(keyNode)) {
          this.add(keyNode?.range ? this.pos(keyNode.range[0]) : this.locate(path), path, 'keys must be plain names');
          continue;
        }
        const key = String(keyNode.value);
        const kLoc = keyNode.range ? this.pos(keyNode.range[0]) : this.locate(path);
        if (key === '<<') {
          if (pair.value) merges.push(pair.value as Node);
          continue;
        }
        const childPath = [...path, key];
        const first = firstSeen.get(key);
        if (first) {
          this.add(kLoc, childPath, `duplicate key \`${key}\` (first defined at line ${first.line}); each key may appear once`);
          continue;
        }
        firstSeen.set(key, kLoc);
        this.keyLoc.set(keyOf(childPath), kLoc);
        const secretHint = INLINE_SECRET_KEYS[key];
        if (secretHint !== undefined && !path.includes('credentials_env')) {
          this.reported.add(keyOf(childPath));
          this.add(kLoc, childPath, `inline secret \`${key}\`: credentials must not be written in a policy file, only referenced; ${secretHint}`, {
            expected: 'a reference: an environment variable name, a file or a command',
          });
          continue;
        }
        if (pair.value === null || pair.value === undefined) this.valueLoc.set(keyOf(childPath), kLoc);
        Object.defineProperty(out, key, { value: this.toPlain(pair.value as Node, childPath, depth + 1), enumerable: true, writable: true, configurable: true });
      }
      for (const m of merges) {
        const merged = this.toPlain(m, path, depth + 1);
        for (const src of Array.isArray(merged) ? merged : [merged]) {
          if (!isPlainObject(src)) continue;
          for (const [k, v] of Object.entries(src)) if (!(k in out)) out[k] = v;
        }
      }
      return out;
    }
    return null;
  }

  private limit(loc: Loc, path: PathArr, message: string): never {
    this.add(loc, path, message, { expected: `at most ${MAX_POLICY_VALUES} values, ${MAX_ALIAS_EXPANSIONS} alias expansions and ${MAX_NESTING_DEPTH} levels of nesting` });
    throw new LimitExceeded();
  }

  private scalar(node: Scalar, path: PathArr): unknown {
    const v = node.value;
    if (typeof v !== 'string' || !v.includes('$') || isInterpolationExempt(path)) return v;
    return this.interpolate(v, node, path);
  }

  /** `${VAR}` and `${VAR:-default}` from env; `$${` is a literal `${`. */
  private interpolate(v: string, node: Scalar, path: PathArr): string {
    let out = '';
    let i = 0;
    while (i < v.length) {
      if (v.startsWith('$${', i)) {
        out += '${';
        i += 3;
        continue;
      }
      if (!v.startsWith('${', i)) {
        out += v[i++];
        continue;
      }
      const end = v.indexOf('}', i);
      const body = end < 0 ? '' : v.slice(i + 2, end);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(body);
      const loc = this.locateInScalar(node, v.slice(i, end < 0 ? undefined : end + 1));
      if (!m) {
        this.reported.add(keyOf(path));
        this.add(loc, path, `invalid interpolation ${JSON.stringify(v.slice(i, end < 0 ? i + 12 : end + 1))}: expected \${NAME} or \${NAME:-default} (write $\${ for a literal \${)`);
        return v;
      }
      const value = this.env[m[1]!];
      if (value !== undefined && value !== '') out += value;
      else if (m[2] !== undefined) out += m[2];
      else {
        this.reported.add(keyOf(path));
        this.add(loc, path, `environment variable ${m[1]} is not set (used as \${${m[1]}}); set it, or give a default with \${${m[1]}:-value}`);
        return v;
      }
      i = end + 1;
    }
    return out;
  }

  private locateInScalar(node: Scalar, token: string): Loc {
    const [start, , end] = node.range ?? [0, 0, 0];
    const at = this.text.slice(start, end).indexOf(token);
    return this.pos(at >= 0 ? start + at : start);
  }

  // ---- locations and problems ----------------------------------------------------------

  /** Where a path is written: its value, or for a missing field the nearest written parent key. */
  private locate(path: PathArr, preferKey = false): Loc {
    for (let n = path.length; n >= 0; n--) {
      const k = keyOf(path.slice(0, n));
      const loc = n === path.length && !preferKey ? (this.valueLoc.get(k) ?? this.keyLoc.get(k)) : (this.keyLoc.get(k) ?? this.valueLoc.get(k));
      if (loc) return loc;
    }
    return { line: 1, column: 1 };
  }

  private add(loc: Loc, path: PathArr, message: string, extra: { expected?: string; found?: string } = {}): void {
    const p: PolicyProblem = { file: this.file, line: loc.line, column: loc.column, path: formatPath(path), message };
    if (extra.expected !== undefined) p.expected = extra.expected;
    if (extra.found !== undefined && !isSensitivePath(path)) p.found = extra.found;
    this.problems.push(p);
  }

  private rawAt(path: PathArr): unknown {
    let cur: unknown = this.raw;
    for (const seg of path) {
      if (Array.isArray(cur) && typeof seg === 'number') cur = cur[seg];
      else if (isPlainObject(cur) && typeof seg === 'string' && Object.hasOwn(cur, seg)) cur = cur[seg];
      else return undefined;
    }
    return cur;
  }

  private zodIssues(issues: readonly z.core.$ZodIssue[], prefix: PathArr, schema: z.ZodType): void {
    for (const issue of issues) {
      const rel = issue.path.filter((s): s is Seg => typeof s !== 'symbol');
      const path = [...prefix, ...rel];
      // `targets` entries are validated one by one with the schema of their type.
      if (prefix.length === 0 && rel[0] === 'targets' && rel.length > 1) continue;
      if (this.reported.has(keyOf(path))) continue;
      this.zodIssue(issue, path, rel, schema);
    }
  }

  private zodIssue(issue: z.core.$ZodIssue, path: PathArr, rel: PathArr, schema: z.ZodType): void {
    const input = (issue as { input?: unknown }).input;
    const found = input === undefined ? undefined : describeValue(input);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = knownKeysAt(schema, rel) ?? [];
        for (const key of issue.keys) {
          const keyPath = [...path, key];
          this.add(this.locate(keyPath, true), keyPath, `unknown key \`${key}\`${this.suggest(key, known, path, rel, schema)}`, {
            expected: known.length ? `one of: ${known.join(', ')}` : 'no further keys',
          });
        }
        return;
      }
      case 'invalid_type': {
        const expected = TYPE_WORDS[issue.expected] ?? issue.expected;
        if (this.rawAt(path) === undefined) {
          this.add(this.locate(path), path, `missing required field \`${String(path[path.length - 1])}\``, { expected });
        } else {
          this.add(this.locate(path), path, `expected ${expected}, found ${found}`, { expected, ...(found !== undefined ? { found } : {}) });
        }
        return;
      }
      case 'invalid_value': {
        const values = issue.values.map((v) => String(v));
        if (path.length === 1 && path[0] === 'version') {
          this.add(this.locate(path), path, `unsupported policy version ${found}: this triad reads version 1`, { expected: '1', ...(found !== undefined ? { found } : {}) });
          return;
        }
        const near = typeof input === 'string' ? closest(input, values) : undefined;
        this.add(
          this.locate(path),
          path,
          `expected one of ${values.join(', ')}; found ${found}${near ? ` (did you mean \`${near}\`?)` : ''}`,
          { expected: `one of: ${values.join(', ')}`, ...(found !== undefined ? { found } : {}) },
        );
        return;
      }
      case 'too_small':
      case 'too_big': {
        const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
        const msg = issue.message.startsWith('Too ')
          ? `${issue.code === 'too_small' ? 'must be at least' : 'must be at most'} ${String(bound)}`
          : issue.message;
        this.add(this.locate(path), path, msg, found !== undefined && issue.origin !== 'array' ? { found } : {});
        return;
      }
      case 'invalid_union': {
        const last = path[path.length - 1];
        const expected = last === 'sample' ? 'a percentage such as 5%, {files: 200} or {bytes: 2GiB}' : 'one of the accepted forms';
        this.add(this.locate(path), path, `expected ${expected}, found ${found}`, { expected, ...(found !== undefined ? { found } : {}) });
        return;
      }
      case 'custom': {
        const expected = (issue.params as { expected?: string } | undefined)?.expected;
        this.add(this.locate(path), path, issue.message, { ...(expected ? { expected } : {}), ...(found !== undefined ? { found } : {}) });
        return;
      }
      default:
        this.add(this.locate(path), path, issue.message, found !== undefined ? { found } : {});
    }
  }

  /** " (did you mean `retention`?)", or where the key belongs when it is in the wrong place. */
  private suggest(key: string, known: readonly string[], path: PathArr, rel: PathArr, schema: z.ZodType): string {
    const near = closest(key, known);
    if (near) return ` (did you mean \`${near}\`?)`;
    for (const child of known) {
      const inner = knownKeysAt(schema, [...rel, child]);
      if (inner?.includes(key)) return ` (\`${key}\` belongs under \`${formatPath([...path, child])}\`)`;
    }
    if (path[0] === 'targets' && path.length === 2) {
      const type = (this.rawAt(path) as { type?: unknown } | undefined)?.type;
      for (const t of TARGET_TYPES) {
        if (t !== type && knownKeysAt(targetSchemas[t], [])?.includes(key)) return ` (\`${key}\` is a field of ${t} targets; this target is type ${String(type)})`;
      }
    }
    return '';
  }

  // ---- targets ---------------------------------------------------------------------------

  private validateTargets(raw: unknown): Map<string, WrittenTarget> | undefined {
    if (!isPlainObject(raw)) return undefined; // the root schema reports missing / wrong type
    const out = new Map<string, WrittenTarget>();
    const names = Object.keys(raw);
    if (names.length === 0) {
      this.add(this.locate(['targets']), ['targets'], 'at least one target is required', { expected: 'a mapping of target name → {type, …}' });
      return undefined;
    }
    let ok = true;
    for (const name of names) {
      const path = ['targets', name];
      const t = raw[name];
      if (!NAME_PATTERN.test(name)) {
        this.add(this.locate(path, true), path, `invalid target name \`${name}\`: lower-case letters, digits, ".", "_" and "-", starting with a letter or digit`);
        ok = false;
      }
      if (!isPlainObject(t)) {
        this.add(this.locate(path), path, `expected a mapping with the target's type and location, found ${describeValue(t)}`, {
          expected: 'a mapping (key: value)',
        });
        ok = false;
        continue;
      }
      const type = t.type;
      if (type === undefined) {
        this.add(this.locate(path, true), [...path, 'type'], 'missing required field `type`', { expected: `one of: ${TARGET_TYPES.join(', ')}` });
        ok = false;
        continue;
      }
      if (typeof type !== 'string' || !(TARGET_TYPES as readonly string[]).includes(type)) {
        const near = typeof type === 'string' ? closest(type, TARGET_TYPES) : undefined;
        this.add(
          this.locate([...path, 'type']),
          [...path, 'type'],
          `unknown target type ${describeValue(type)}${near ? ` (did you mean \`${near}\`?)` : ''}; triad supports ${TARGET_TYPES.join(', ')}`,
          { expected: `one of: ${TARGET_TYPES.join(', ')}`, found: describeValue(type) },
        );
        ok = false;
        continue;
      }
      const schema = targetSchemas[type as keyof typeof targetSchemas];
      const parsed = schema.safeParse(t, { reportInput: true });
      if (!parsed.success) {
        this.zodIssues(parsed.error.issues, path, schema);
        ok = false;
      } else out.set(name, parsed.data);
    }
    return ok ? out : undefined;
  }

  // ---- rules that span fields (on the raw tree, so they run even when other fields are wrong)

  private crossFieldRules(raw: Record<string, unknown>): void {
    const targets = isPlainObject(raw.targets) ? raw.targets : {};
    const enc = raw.encryption;
    if (enc === undefined || enc === null) {
      const offsite = Object.entries(targets).filter(([, t]) => isPlainObject(t) && isOffsite(t));
      for (const [name, t] of offsite) {
        const p = ['targets', name, ...(isPlainObject(t) && 'offsite' in t ? ['offsite'] : [])];
        this.add(
          this.locate(p, true),
          p,
          `target \`${name}\` is off-site and must be encrypted, but the policy has no \`encryption\` section; add encryption: {passphrase_env: VAR} (or passphrase_file / passphrase_command)`,
          { expected: 'an encryption section' },
        );
      }
      if (offsite.length === 0) {
        this.add({ line: 1, column: 1 }, ['encryption'], 'missing required section `encryption`: every triad repository is encrypted; add encryption: {passphrase_env: VAR} (or passphrase_file / passphrase_command)', {
          expected: 'a mapping with one of passphrase_env, passphrase_file, passphrase_command',
        });
      }
    } else if (isPlainObject(enc)) {
      const sources = ['passphrase_env', 'passphrase_file', 'passphrase_command'].filter((k) => enc[k] !== undefined);
      if (sources.length > 1) {
        this.add(this.locate(['encryption'], true), ['encryption'], `more than one passphrase source (${sources.join(', ')}); give exactly one`, {
          expected: 'exactly one of passphrase_env, passphrase_file, passphrase_command',
        });
      } else if (sources.length === 0 && ![...this.reported].some((k) => k.startsWith('["encryption",'))) {
        this.add(this.locate(['encryption'], true), ['encryption'], 'no passphrase source: give one of passphrase_env, passphrase_file or passphrase_command', {
          expected: 'exactly one of passphrase_env, passphrase_file, passphrase_command',
        });
      }
    }
    for (const [name, t] of Object.entries(targets)) {
      if (!isPlainObject(t)) continue;
      const path = ['targets', name];
      if (t.object_lock !== undefined && t.immutable !== true) {
        this.add(this.locate([...path, 'object_lock'], true), [...path, 'object_lock'], '`object_lock` needs `immutable: true` on the same target (object lock is what makes the copy immutable)');
      }
      if (t.immutability !== undefined && t.immutable !== true) {
        this.add(
          this.locate([...path, 'immutability'], true),
          [...path, 'immutability'],
          '`immutability` needs `immutable: true` on the same target (the immutability policy is what makes the copy immutable)',
        );
      }
      if ((t.type === 's3' || t.type === 'azure' || t.type === 'gcs') && t.endpoint !== undefined && t.offsite === undefined) {
        this.add(this.locate(path, true), [...path, 'offsite'], 'missing required field `offsite`: a target with a custom `endpoint` may be in the same building, so say whether it is off-site', {
          expected: 'true or false',
        });
      }
      if (t.type === 'local' && t.media === undefined) {
        this.add(this.locate(path, true), [...path, 'media'], 'missing required field `media`: say what the local path is on (e.g. disk, nas, removable, tape); the 3-2-1 check counts distinct media', {
          expected: 'a media name such as disk, nas, removable, tape',
        });
      }
      if (t.type === 'azure') {
        const creds = ['connection_string_env', 'account_key_env', 'sas_token_env'].filter((k) => t[k] !== undefined);
        if (creds.length > 1) {
          this.add(this.locate(path, true), path, `more than one Azure credential (${creds.join(', ')}); give exactly one`);
        }
        if (t.account_key_env !== undefined && t.account === undefined) {
          this.add(this.locate([...path, 'account_key_env'], true), [...path, 'account'], 'missing required field `account`: an account key needs the storage account name');
        }
      }
    }
    const rt = raw.restore_test;
    if (isPlainObject(rt)) {
      const forms = ['sample', 'files', 'bytes'].filter((k) => rt[k] !== undefined);
      if (forms.length > 1) {
        this.add(this.locate(['restore_test'], true), ['restore_test'], `give one sample size, not ${forms.join(' and ')}`, {
          expected: 'one of sample (5%), files (200) or bytes (2GiB)',
        });
      }
    }
  }

  // ---- normalisation -------------------------------------------------------------------

  private normalise(w: WrittenPolicy, targets: Map<string, WrittenTarget>): Policy {
    const dir = nodePath.dirname(this.file);
    const abs = (p: string): string => nodePath.resolve(dir, p);
    const rt = w.restore_test;
    let sample: SampleSpec = { kind: 'percent', value: 5 };
    if (rt.files !== undefined) sample = { kind: 'files', value: rt.files };
    else if (rt.bytes !== undefined) sample = { kind: 'bytes', value: rt.bytes };
    else if (typeof rt.sample === 'number') sample = { kind: 'percent', value: rt.sample };
    else if (rt.sample && 'files' in rt.sample) sample = { kind: 'files', value: rt.sample.files };
    else if (rt.sample && 'bytes' in rt.sample) sample = { kind: 'bytes', value: rt.sample.bytes };
    const enc = w.encryption ?? {};
    const passphrase: PassphraseSpec = {};
    if (enc.passphrase_env !== undefined) passphrase.env = enc.passphrase_env;
    if (enc.passphrase_file !== undefined) passphrase.file = abs(enc.passphrase_file);
    if (enc.passphrase_command !== undefined) passphrase.command = enc.passphrase_command;
    const policy: Policy = {
      version: 1,
      file: this.file,
      name: w.policy,
      timezone: w.timezone,
      sources: w.sources.map((s) => ({ path: abs(s.path), exclude: s.exclude, cross_filesystems: s.cross_filesystems })),
      encryption: { passphrase },
      targets: [...targets].map(([name, t]) => normaliseTarget(name, t, abs)),
      rule: w.rule,
      objectives: { window: w.objectives.window },
      schedule: { ...w.schedule },
      retention: { ...w.retention },
      restore_test: { sample, every: rt.every },
      hooks: w.hooks,
      notify: { ...w.notify },
      compression: w.compression,
    };
    if (w.description !== undefined) policy.description = w.description;
    if (w.catalog !== undefined) policy.catalog = abs(w.catalog);
    if (w.host !== undefined) policy.host = w.host;
    if (w.objectives.rpo !== undefined) policy.objectives.rpo = w.objectives.rpo;
    if (w.objectives.rto !== undefined) policy.objectives.rto = w.objectives.rto;
    if (rt.max_bytes !== undefined) policy.restore_test.max_bytes = rt.max_bytes;
    return policy;
  }
}

function isOffsite(t: Record<string, unknown>): boolean {
  if (t.offsite !== undefined) return t.offsite === true;
  return (t.type === 's3' || t.type === 'azure' || t.type === 'gcs') && t.endpoint === undefined;
}

/** `finance` → `finance/`, `/a/b/` → `a/b/`, '' stays '': backends join it with object names. */
function normalisePrefix(p: string): string {
  const trimmed = p.replace(/^\/+/, '');
  return trimmed === '' || trimmed.endsWith('/') ? trimmed : trimmed + '/';
}

function normaliseTarget(name: string, t: WrittenTarget, abs: (p: string) => string): TargetSpec {
  const common = {
    name,
    media: (t.media ?? 'object-storage').trim().toLowerCase(),
    offsite: isOffsite(t),
    immutable: t.immutable,
    offline: t.offline,
    upload_limit: t.upload_limit ?? 0,
    ...(t.retention !== undefined ? { retention: { ...t.retention } } : {}),
  };
  switch (t.type) {
    case 'local':
      return { ...common, type: 'local', path: abs(t.path) };
    case 's3': {
      const s3: TargetSpec = {
        ...common,
        type: 's3',
        bucket: t.bucket,
        prefix: normalisePrefix(t.prefix),
        checksums: t.checksums,
        force_path_style: t.force_path_style ?? t.endpoint !== undefined,
      };
      if (t.region !== undefined) s3.region = t.region;
      if (t.endpoint !== undefined) s3.endpoint = t.endpoint;
      if (t.storage_class !== undefined) s3.storage_class = t.storage_class;
      if (t.credentials_env !== undefined) {
        s3.credentials_env = { access_key_id: t.credentials_env.access_key_id, secret_access_key: t.credentials_env.secret_access_key };
        if (t.credentials_env.session_token !== undefined) s3.credentials_env.session_token = t.credentials_env.session_token;
      }
      if (t.profile !== undefined) s3.profile = t.profile;
      if (t.object_lock !== undefined) s3.object_lock = { ...t.object_lock };
      return s3;
    }
    case 'azure': {
      const az: TargetSpec = { ...common, type: 'azure', container: t.container, prefix: normalisePrefix(t.prefix) };
      for (const k of ['account', 'endpoint', 'access_tier', 'connection_string_env', 'account_key_env', 'sas_token_env'] as const) {
        if (t[k] !== undefined) az[k] = t[k];
      }
      if (t.immutability !== undefined) az.immutability = { ...t.immutability };
      return az;
    }
    case 'gcs': {
      const g: TargetSpec = { ...common, type: 'gcs', bucket: t.bucket, prefix: normalisePrefix(t.prefix) };
      if (t.project_id !== undefined) g.project_id = t.project_id;
      if (t.key_file !== undefined) g.key_file = abs(t.key_file);
      if (t.endpoint !== undefined) g.endpoint = t.endpoint;
      if (t.storage_class !== undefined) g.storage_class = t.storage_class;
      return g;
    }
  }
}

function yamlMessage(code: string, message: string): string {
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  switch (code) {
    case 'TAB_AS_INDENT':
      return 'tab character in indentation: YAML indents with spaces only';
    case 'DUPLICATE_KEY':
      return 'duplicate key; each key may appear once';
    case 'RESOURCE_EXHAUSTION':
      return `nested too deeply for the YAML parser (a policy needs at most ${MAX_NESTING_DEPTH} levels)`;
    default:
      return `YAML syntax error: ${first}`;
  }
}
