/**
 * Parsers for the human units used in policy files (DESIGN.md §2b): durations, sizes,
 * percentages and transfer rates. Each throws UnitError, whose message says what was
 * expected; the policy loader turns it into a located problem.
 */

import { SECOND, MINUTE, HOUR, DAY, WEEK } from './time-constants.js';

export class UnitError extends Error {
  readonly expected: string;
  readonly found: string;
  constructor(message: string, expected: string, found: unknown) {
    super(message);
    this.name = 'UnitError';
    this.expected = expected;
    this.found = typeof found === 'string' ? JSON.stringify(found) : String(found);
  }
}


const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: SECOND,
  m: MINUTE,
  h: HOUR,
  d: DAY,
  w: WEEK,
};

export const DURATION_EXPECTED = 'a duration such as 30s, 15m, 4h, 30d, 2w or 1h30m';

/**
 * `'15m'` → 900000. Accepts one or more number+unit groups (`1h30m`), units ms/s/m/h/d/w,
 * decimals (`1.5h`). A bare number is refused: `30` could mean seconds or days.
 * Months and years are refused too, because their length varies.
 */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    throw new UnitError(`a duration needs a unit (got the bare number ${input}); write e.g. ${input}s or ${input}m`, DURATION_EXPECTED, input);
  }
  const text = input.trim();
  const re = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    matched = re.lastIndex;
    while (text[re.lastIndex] === ' ') re.lastIndex++;
  }
  if (text === '' || matched !== text.trimEnd().length) {
    const hint = /^\d+(\.\d+)?\s*(mo|mon|month|months|y|yr|year|years)$/i.test(text) ? ' (months and years vary in length: use days, e.g. 30d or 365d)' : '';
    throw new UnitError(`invalid duration ${JSON.stringify(input)}${hint}`, DURATION_EXPECTED, input);
  }
  if (total <= 0) throw new UnitError(`duration ${JSON.stringify(input)} must be greater than zero`, DURATION_EXPECTED, input);
  return Math.round(total);
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1000,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
  pb: 1000 ** 5,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  pib: 1024 ** 5,
};

export const SIZE_EXPECTED = 'a size such as 100 (bytes), 512KiB, 10MiB, 2GiB or 2GB';

/**
 * `'10MiB'` → 10485760, `'2GB'` → 2000000000, `100` or `'100'` → 100.
 * Binary (KiB, MiB, …) and decimal (kB, MB, …) units, case-insensitive; the result is
 * rounded to whole bytes.
 */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (Number.isInteger(input) && input >= 0) return input;
    throw new UnitError(`invalid size ${input}: a size in bytes must be a whole number ≥ 0`, SIZE_EXPECTED, input);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase() || 'b'] : undefined;
  if (!m || unit === undefined) throw new UnitError(`invalid size ${JSON.stringify(input)}`, SIZE_EXPECTED, input);
  return Math.round(Number(m[1]) * unit);
}

export const PERCENT_EXPECTED = 'a percentage such as 5% (more than 0, at most 100)';

/** `'5%'` → 5 (a number in (0, 100]). The `%` sign is required so a count is never mistaken for a share. */
export function parsePercent(input: string | number): number {
  const m = typeof input === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(input) : null;
  if (!m) throw new UnitError(`invalid percentage ${typeof input === 'string' ? JSON.stringify(input) : input}`, PERCENT_EXPECTED, input);
  const v = Number(m[1]);
  if (v <= 0 || v > 100) throw new UnitError(`percentage ${input} is out of range`, PERCENT_EXPECTED, input);
  return v;
}

export const RATE_EXPECTED = 'a rate such as 10MiB/s or 500KiB/s (0 = unlimited)';

/** `'10MiB/s'` → bytes per second. `0` means unlimited. A size without `/s` is accepted as per second. */
export function parseRate(input: string | number): number {
  if (input === 0 || input === '0') return 0;
  if (typeof input === 'number') {
    throw new UnitError(`a rate needs a unit (got the bare number ${input}); write e.g. ${input}MiB/s`, RATE_EXPECTED, input);
  }
  const m = /^(.*?)(?:\s*\/\s*s(?:ec)?)?\s*$/.exec(input);
  try {
    return parseSize(m ? m[1]! : input);
  } catch {
    throw new UnitError(`invalid rate ${JSON.stringify(input)}`, RATE_EXPECTED, input);
  }
}

/**
 * An exact spelling in policy units: 900000 → '15m', 5400000 → '1h30m', 1209600000 → '2w',
 * 2592000000 → '30d' (weeks only when the value is whole weeks). parseDuration reads it back
 * to the same value; 0 → '0s'.
 */
export function formatDurationShort(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`formatDurationShort: invalid duration ${ms}`);
  if (ms === 0) return '0s';
  const parts: string[] = [];
  let rest = Math.round(ms);
  if (rest % WEEK === 0) return `${rest / WEEK}w`;
  for (const [unit, size] of [['d', DAY], ['h', HOUR], ['m', MINUTE], ['s', SECOND], ['ms', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}
