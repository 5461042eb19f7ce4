/**
 * YAML text → plain tree, remembering where each key and value is written so that every
 * problem can name its line and column. Parsing is bounded (nesting, aliases, values), and
 * inline secrets and failed `${VAR}` interpolations are reported as the tree is built.
 */
import { Lexer, LineCounter, parseDocument, isAlias, isMap, isPair, isScalar, isSeq, type Document, type Node, type Scalar } from 'yaml';
import { interpolate, isInterpolationExempt } from './interpolate.js';
import { INLINE_SECRET_KEYS, isPlainObject, keyOf, type Loc, type PathArr, type Problems, type Seg } from './problems.js';

/** Alias uses resolved in one file: anchors for shared excludes or target defaults stay far below it; a nested alias bomb passes it at once. */
export const MAX_ALIAS_EXPANSIONS = 1000;
/** Values (scalars, lists, mappings) of a file once its aliases are expanded. */
export const MAX_POLICY_VALUES = 100_000;
/** Nesting of lists and mappings; a policy needs fewer than ten levels. */
export const MAX_NESTING_DEPTH = 64;

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

/** One policy file's plain tree and the locations of what is written in it. */
export class PolicyTree {
  private readonly valueLoc = new Map<string, Loc>();
  private readonly keyLoc = new Map<string, Loc>();
  private readonly lines = new LineCounter();
  private values = 0;
  private aliasExpansions = 0;
  private doc!: Document;
  /** The plain tree, aliases expanded and `${VAR}` interpolated; set by a successful read(). */
  raw: unknown;

  constructor(
    private readonly text: string,
    private readonly env: Record<string, string | undefined>,
    private readonly problems: Problems,
  ) {}

  /**
   * Parses the text into `raw`. False when what was found (too deep, a syntax error, an
   * empty file, a parsing bound passed) leaves no tree worth checking further.
   */
  read(): boolean {
    const tooDeep = flowTooDeepAt(this.text);
    if (tooDeep !== undefined) {
      this.problems.add(positionIn(this.text, tooDeep), [], `nested deeper than ${MAX_NESTING_DEPTH} levels of [ ] or { }`, { expected: `at most ${MAX_NESTING_DEPTH} levels of nesting` });
      return false;
    }
    this.doc = parseDocument(this.text, { lineCounter: this.lines, uniqueKeys: false, prettyErrors: false });
    if (this.doc.errors.length > 0) {
      this.syntaxProblems();
      return false;
    }
    if (this.doc.contents === null || (isScalar(this.doc.contents) && this.doc.contents.value === null)) {
      this.problems.add({ line: 1, column: 1 }, [], 'the policy file is empty', { expected: 'a mapping with version, policy, sources, encryption and targets' });
      return false;
    }
    try {
      this.raw = this.toPlain(this.doc.contents, [], 0);
    } catch (err) {
      if (!(err instanceof LimitExceeded)) throw err;
      // The partial tree would only add schema errors caused by the cut.
      return false;
    }
    return true;
  }

  /** Where a path is written: its value, or for a missing field the nearest written parent key. */
  locate(path: PathArr, preferKey = false): Loc {
    for (let n = path.length; n >= 0; n--) {
      const k = keyOf(path.slice(0, n));
      const loc = n === path.length && !preferKey ? (this.valueLoc.get(k) ?? this.keyLoc.get(k)) : (this.keyLoc.get(k) ?? this.valueLoc.get(k));
      if (loc) return loc;
    }
    return { line: 1, column: 1 };
  }

  rawAt(path: PathArr): unknown {
    let cur: unknown = this.raw;
    for (const seg of path) {
      if (Array.isArray(cur) && typeof seg === 'number') cur = cur[seg];
      else if (isPlainObject(cur) && typeof seg === 'string' && Object.hasOwn(cur, seg)) cur = cur[seg];
      else return undefined;
    }
    return cur;
  }

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
      this.problems.add(loc, e.code === 'TAB_AS_INDENT' ? this.pathAtLine(loc.line) : [], yamlMessage(e.code, e.message));
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
          this.problems.add(keyNode?.range ? this.pos(keyNode.range[0]) : this.locate(path), path, 'keys must be plain names');
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
          this.problems.add(kLoc, childPath, `duplicate key \`${key}\` (first defined at line ${first.line}); each key may appear once`);
          continue;
        }
        firstSeen.set(key, kLoc);
        this.keyLoc.set(keyOf(childPath), kLoc);
        const secretHint = INLINE_SECRET_KEYS[key];
        if (secretHint !== undefined && !path.includes('credentials_env')) {
          this.problems.reported.add(keyOf(childPath));
          this.problems.add(kLoc, childPath, `inline secret \`${key}\`: credentials must not be written in a policy file, only referenced; ${secretHint}`, {
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
    this.problems.add(loc, path, message, { expected: `at most ${MAX_POLICY_VALUES} values, ${MAX_ALIAS_EXPANSIONS} alias expansions and ${MAX_NESTING_DEPTH} levels of nesting` });
    throw new LimitExceeded();
  }

  private scalar(node: Scalar, path: PathArr): unknown {
    const v = node.value;
    if (typeof v !== 'string' || !v.includes('$') || isInterpolationExempt(path)) return v;
    const result = interpolate(v, this.env);
    if (result.ok) return result.value;
    this.problems.reported.add(keyOf(path));
    this.problems.add(this.locateInScalar(node, result.token), path, result.message);
    return v;
  }

  private locateInScalar(node: Scalar, token: string): Loc {
    const [start, , end] = node.range ?? [0, 0, 0];
    const at = this.text.slice(start, end).indexOf(token);
    return this.pos(at >= 0 ? start + at : start);
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
