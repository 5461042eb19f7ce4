/**
 * Log lines for unattended runs (`triad schedule run`): one line per event, so journald and
 * cron mail show whole events. Plain: `2026-03-01T04:00:00.000Z info finance backup: started`;
 * `--log-format json`: one JSON object per line for log shippers. Values of the secrets the
 * caller names are replaced by `***` wherever they appear, as a last line of defence.
 */
import type { Clock } from '../core/clock.js';
import { plainAscii } from './output.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'plain' | 'json';

export interface LogEvent {
  level: LogLevel;
  policy?: string;
  job?: string;
  message: string;
  /** Extra structured fields (JSON format only); plain data, never secrets. */
  fields?: Record<string, unknown>;
}

export interface Logger {
  log(e: LogEvent): void;
}

export interface LoggerOptions {
  format: LogFormat;
  clock: Clock;
  write: (line: string) => void;
  /** Secret values (passphrases, keys) to mask; empty and very short values are ignored. */
  redact?: readonly string[];
  /** Drop debug events unless set. */
  debug?: boolean;
}

export function parseLogFormat(value: string | undefined): LogFormat {
  if (value === undefined || value === 'plain' || value === 'text') return 'plain';
  if (value === 'json') return 'json';
  throw new Error(`unknown log format ${value}`);
}

export function createLogger(opts: LoggerOptions): Logger {
  const secrets = [...new Set((opts.redact ?? []).filter((s) => s.length >= 4))].sort((a, b) => b.length - a.length);
  // A secret is masked where it stands as a token of its own, not inside a longer word (letters,
  // digits, `_`, `-`): a secret `test` must not turn `restore-test` into `restore-***`.
  const patterns = secrets.map((s) => new RegExp(`(?<![\\p{L}\\p{N}_-])${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\p{L}\\p{N}_-])`, 'gu'));
  const mask = (text: string): string => patterns.reduce((out, re) => out.replace(re, '***'), text);
  return {
    log(e: LogEvent): void {
      if (e.level === 'debug' && !opts.debug) return;
      const time = opts.clock.now().toISOString();
      // One event, one line: embedded line breaks would split it in journald.
      const message = e.message.replace(/\r?\n/g, ' ⏎ ');
      if (opts.format === 'json') {
        const obj: Record<string, unknown> = { time, level: e.level };
        if (e.policy !== undefined) obj.policy = e.policy;
        if (e.job !== undefined) obj.job = e.job;
        obj.message = message;
        for (const [k, v] of Object.entries(e.fields ?? {})) if (!(k in obj)) obj[k] = v;
        opts.write(mask(JSON.stringify(obj)) + '\n');
        return;
      }
      const who = e.policy === undefined ? 'scheduler' : e.job === undefined ? e.policy : `${e.policy} ${e.job}`;
      // journald and cron mail are not terminals: ASCII, like every other non-terminal output.
      opts.write(plainAscii(mask(`${time} ${e.level} ${who}: ${message}`)) + '\n');
    },
  };
}
