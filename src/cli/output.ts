import { Chalk, supportsColor, type ChalkInstance } from 'chalk';
import { formatBytes as bytesText, formatTime } from '../core/format.js';

export interface GlobalOptions {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  color: boolean;
  /** --utc: human times in UTC instead of the policy's timezone. */
  utc?: boolean;
  catalog?: string;
}

/**
 * Everything the CLI prints goes through here, so --json, --quiet, --no-color and
 * "progress only on a TTY" are decided in one place.
 */
export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly isTTY: boolean;
  private readonly errIsTTY: boolean;
  /** The zone human times are shown in instead of the policy's (--utc), or undefined. */
  readonly zoneOverride: string | undefined;
  readonly c: ChalkInstance;
  private readonly out: NodeJS.WriteStream;
  private readonly err: NodeJS.WriteStream;

  constructor(opts: GlobalOptions, streams: { out?: NodeJS.WriteStream; err?: NodeJS.WriteStream; env?: NodeJS.ProcessEnv } = {}) {
    this.out = streams.out ?? process.stdout;
    this.err = streams.err ?? process.stderr;
    const env = streams.env ?? process.env;
    this.json = opts.json;
    this.quiet = opts.quiet;
    this.verbose = opts.verbose;
    this.isTTY = Boolean(this.out.isTTY) && env.TERM !== 'dumb';
    this.errIsTTY = Boolean(this.err.isTTY) && env.TERM !== 'dumb';
    this.zoneOverride = opts.utc ? 'UTC' : undefined;
    const colour = opts.color && this.isTTY && env.NO_COLOR === undefined && !opts.json;
    this.c = new Chalk({ level: colour ? (supportsColor ? supportsColor.level : 1) || 1 : 0 });
  }

  /**
   * Progress bars and spinners: only for a person at a terminal. A pseudo-terminal that reports
   * zero columns (some CI runners, `script` without a size) gets none: ora divides by the width.
   */
  /** A pass/fail mark: `✓` / `✗` on a terminal, plain `ok` / `FAIL` in files, pipes and mail from cron. */
  mark(ok: boolean): string {
    if (!this.isTTY) return ok ? 'ok' : 'FAIL';
    return ok ? this.c.green('✓') : this.c.red('✗');
  }

  /** A time for a person: in the policy's `zone`, or UTC under --utc (JSON keeps ISO 8601 UTC). */
  time(d: Date | string, zone: string): string {
    return formatTime(typeof d === 'string' ? new Date(d) : d, this.zone(zone));
  }

  /** The zone human output uses for a policy whose timezone is `policyZone`. */
  zone(policyZone: string): string {
    return this.zoneOverride ?? policyZone;
  }

  get showProgress(): boolean {
    return this.isTTY && !this.json && !this.quiet && Boolean(this.err.isTTY) && (this.err.columns ?? 0) > 0;
  }

  line(text = ''): void {
    if (this.json || this.quiet) return;
    this.out.write(this.forOut(text) + '\n');
  }

  /** Lines that must appear even with --quiet (the result a script waits for). */
  result(text: string): void {
    if (this.json) return;
    this.out.write(this.forOut(text) + '\n');
  }

  /** A result line that is the user's own data (a path in a snapshot): written as it is, never rewritten to ASCII. */
  data(text: string): void {
    if (this.json) return;
    this.out.write(text + '\n');
  }

  info(text: string): void {
    if (this.json || this.quiet) return;
    this.err.write(this.forErr(text) + '\n');
  }

  debug(text: string): void {
    if (this.verbose && !this.json) this.err.write(this.c.dim(this.forErr(text)) + '\n');
  }

  warn(text: string): void {
    this.err.write(this.c.yellow('warning: ') + this.forErr(text) + '\n');
  }

  /** Error messages quote what the user wrote (a hook's command, a path) and keep it exact. */
  error(text: string): void {
    this.err.write(this.c.red('error: ') + text + '\n');
  }

  /** What to do next, under an error. */
  hint(text: string): void {
    this.err.write(this.c.dim(`hint: ${this.forErr(text)}`) + '\n');
  }

  /** Text for stdout: plain ASCII unless stdout is a terminal. */
  forOut(text: string): string {
    return this.isTTY ? text : plainAscii(text);
  }

  private forErr(text: string): string {
    return this.errIsTTY ? text : plainAscii(text);
  }

  emitJson(value: unknown): void {
    this.out.write(JSON.stringify(value, null, 2) + '\n');
  }

  get stdout(): NodeJS.WriteStream {
    return this.out;
  }

  get stderr(): NodeJS.WriteStream {
    return this.err;
  }
}

/**
 * Typographic characters of triad's own messages and their ASCII spelling. Cron mail, log
 * files and pipes into other tools get ASCII; a terminal gets the typography. Characters not
 * listed (accented letters of a file name) pass through.
 */
const ASCII_SPELLING: Readonly<Record<string, string>> = {
  '→': '->',
  '…': '...',
  '—': '-',
  '–': '-',
  '·': '-',
  '≥': '>=',
  '≤': '<=',
  '×': 'x',
  '✓': 'ok',
  '✗': 'FAIL',
  '⏎': '|',
  '∞': 'inf',
  '‘': "'",
  '’': "'",
  '“': '"',
  '”': '"',
};
const TYPOGRAPHY = new RegExp(`[${Object.keys(ASCII_SPELLING).join('')}]`, 'gu');

/** `text` with triad's typographic characters spelled in ASCII. */
export function plainAscii(text: string): string {
  return text.replace(TYPOGRAPHY, (ch) => ASCII_SPELLING[ch] ?? ch);
}

/** Narrowest a shrinkable column gets before the table is allowed to overflow. */
const MIN_SHRUNK_WIDTH = 8;

/**
 * Plain column table; colour codes are ignored when measuring widths. With `maxWidth`, the
 * `shrink` columns (widest first) are narrowed until the lines fit, their cells cut in the
 * middle with "..." so both the start and the end of a path stay readable.
 */
export function table(rows: string[][], opts: { header?: string[]; align?: ('l' | 'r')[]; maxWidth?: number; shrink?: number[] } = {}): string {
  const all = opts.header ? [opts.header, ...rows] : rows;
  if (all.length === 0) return '';
  const widths: number[] = [];
  for (const r of all) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))));
  if (opts.maxWidth !== undefined) shrinkColumns(widths, opts.maxWidth, opts.shrink ?? [], opts.header);
  const fmt = (r: string[]) =>
    r
      .map((raw, i) => {
        const cell = visibleLength(raw) > widths[i]! ? cutMiddle(stripColour(raw), widths[i]!) : raw;
        const pad = ' '.repeat(widths[i]! - visibleLength(cell));
        return opts.align?.[i] === 'r' ? pad + cell : i === r.length - 1 ? cell : cell + pad;
      })
      .join('  ');
  const lines = all.map(fmt);
  if (opts.header) lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return lines.join('\n');
}

const stripColour = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');
const visibleLength = (s: string): number => [...stripColour(s)].length;

/** Narrows the shrinkable columns, widest first, never below their header or MIN_SHRUNK_WIDTH. */
function shrinkColumns(widths: number[], maxWidth: number, shrinkable: readonly number[], header: readonly string[] = []): void {
  const total = () => widths.reduce((a, w) => a + w, 0) + 2 * (widths.length - 1);
  const floor = (i: number) => Math.max(MIN_SHRUNK_WIDTH, visibleLength(header[i] ?? ''));
  while (total() > maxWidth) {
    const widest = shrinkable.filter((i) => widths[i]! > floor(i)).sort((x, y) => widths[y]! - widths[x]!)[0];
    if (widest === undefined) return;
    widths[widest]! -= 1;
  }
}

/** `text` cut to `width` characters with "..." in the middle. */
export function cutMiddle(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  const keep = Math.max(0, width - 3);
  const head = Math.ceil(keep / 2);
  return chars.slice(0, head).join('') + '...' + chars.slice(chars.length - (keep - head)).join('');
}

export { formatBytes, formatDuration, formatRate } from '../core/format.js';

/** What a reading command downloaded, for its -v summary. */
export function fetchedLine(bytes: number, requests: number): string {
  return `fetched ${bytesText(bytes)} in ${requests} request${requests === 1 ? '' : 's'}`;
}
