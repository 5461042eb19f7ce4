import { Chalk, supportsColor, type ChalkInstance } from 'chalk';
import { formatBytes as bytesText } from '../core/format.js';

export interface GlobalOptions {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  color: boolean;
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

  get showProgress(): boolean {
    return this.isTTY && !this.json && !this.quiet && Boolean(this.err.isTTY) && (this.err.columns ?? 0) > 0;
  }

  line(text = ''): void {
    if (this.json || this.quiet) return;
    this.out.write(text + '\n');
  }

  /** Lines that must appear even with --quiet (the result a script waits for). */
  result(text: string): void {
    if (this.json) return;
    this.out.write(text + '\n');
  }

  info(text: string): void {
    if (this.json || this.quiet) return;
    this.err.write(text + '\n');
  }

  debug(text: string): void {
    if (this.verbose && !this.json) this.err.write(this.c.dim(text) + '\n');
  }

  warn(text: string): void {
    this.err.write(this.c.yellow('warning: ') + text + '\n');
  }

  error(text: string): void {
    this.err.write(this.c.red('error: ') + text + '\n');
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

/** Plain column table; colour codes are ignored when measuring widths. */
export function table(rows: string[][], opts: { header?: string[]; align?: ('l' | 'r')[] } = {}): string {
  const all = opts.header ? [opts.header, ...rows] : rows;
  if (all.length === 0) return '';
  const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
  const widths: number[] = [];
  for (const r of all) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, strip(cell).length)));
  const fmt = (r: string[]) =>
    r
      .map((cell, i) => {
        const pad = ' '.repeat(widths[i]! - strip(cell).length);
        return opts.align?.[i] === 'r' ? pad + cell : i === r.length - 1 ? cell : cell + pad;
      })
      .join('  ');
  const lines = all.map(fmt);
  if (opts.header) lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return lines.join('\n');
}

export { formatBytes, formatDuration, formatRate } from '../core/format.js';

/** What a reading command downloaded, for its -v summary. */
export function fetchedLine(bytes: number, requests: number): string {
  return `fetched ${bytesText(bytes)} in ${requests} request${requests === 1 ? '' : 's'}`;
}
