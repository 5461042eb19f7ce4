import { CronExpressionParser } from 'cron-parser';
import { TriadError } from '../core/errors.js';

/**
 * The 5-field cron dialect that policies use (`schedule.*`), parsed once so that nextRuns,
 * the systemd translation and the crontab lines agree on what is accepted:
 * minute hour day-of-month month day-of-week, each a list of `*`, `N`, `A-B`, with an
 * optional `/step`; month and weekday names (jan, mon); weekday 7 = Sunday; the macros
 * @hourly @daily @midnight @weekly @monthly @yearly @annually.
 *
 * Day matching follows cron: when both day fields are restricted (neither is `*`), a day
 * matches if EITHER matches. Vixie cron instead ANDs them when a field merely starts with
 * `*` (as in `*\/2`), so such combinations are refused rather than guessed.
 * Quartz/Jenkins extensions (L, W, #, ?, H) and @reboot are refused: systemd cannot express
 * them all and cron daemons disagree on them.
 */
export interface CronSpec {
  /** The expression as written (macros expanded). */
  readonly expression: string;
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly daysOfMonth: readonly number[];
  readonly months: readonly number[];
  /** 0 = Sunday … 6 = Saturday. */
  readonly daysOfWeek: readonly number[];
  readonly domRestricted: boolean;
  readonly dowRestricted: boolean;
}

const MACROS: Record<string, string> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
};

const MONTH_NAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldDef {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  /** Value of names[0]. */
  readonly nameBase?: number;
}

const FIELDS: readonly FieldDef[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTH_NAMES, nameBase: 1 },
  { name: 'day-of-week', min: 0, max: 7, names: DAY_NAMES, nameBase: 0 },
];

function cronError(expression: string, problem: string): TriadError {
  return new TriadError('E_POLICY_INVALID', `cron expression "${expression}": ${problem}`, {
    hint: 'use 5 fields "minute hour day-of-month month day-of-week", e.g. "0 */4 * * *"',
  });
}

function parseValue(expression: string, def: FieldDef, raw: string): number {
  const lower = raw.toLowerCase();
  if (def.names) {
    const i = def.names.indexOf(lower);
    if (i >= 0) return i + (def.nameBase ?? 0);
  }
  if (!/^\d+$/.test(raw)) throw cronError(expression, `${def.name} field: "${raw}" is not a number${def.names ? ' or a name' : ''}`);
  const n = Number(raw);
  if (n < def.min || n > def.max) throw cronError(expression, `${def.name} field: ${n} is outside ${def.min}-${def.max}`);
  return n;
}

function parseField(expression: string, def: FieldDef, text: string): number[] {
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const m = /^([^/]+)(?:\/(\d+))?$/.exec(item);
    if (!m) throw cronError(expression, `${def.name} field: cannot read "${item}"`);
    const [, range, stepText] = m;
    if (/[LW#?H]/i.test(range!) && !(def.names && def.names.includes(range!.toLowerCase()))) {
      throw cronError(expression, `${def.name} field: "${item}" uses a non-standard extension (L, W, #, ?, H)`);
    }
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) throw cronError(expression, `${def.name} field: step must be at least 1`);
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = def.min;
      hi = def.name === 'day-of-week' ? 6 : def.max;
    } else if (range!.includes('-')) {
      const [a, b, extra] = range!.split('-');
      if (extra !== undefined || !a || !b) throw cronError(expression, `${def.name} field: cannot read "${item}"`);
      lo = parseValue(expression, def, a);
      hi = parseValue(expression, def, b);
      if (hi < lo) throw cronError(expression, `${def.name} field: range "${range}" runs backwards`);
    } else {
      lo = parseValue(expression, def, range!);
      // "N/step" means N, N+step, … up to the field's maximum.
      hi = stepText === undefined ? lo : def.name === 'day-of-week' ? 6 : def.max;
    }
    for (let v = lo; v <= hi; v += step) values.add(def.name === 'day-of-week' && v === 7 ? 0 : v);
  }
  return [...values].sort((a, b) => a - b);
}

/** Parses and validates a policy cron expression; throws E_POLICY_INVALID naming the problem. */
export function parseCron(expression: string): CronSpec {
  const trimmed = expression.trim();
  if (trimmed === '@reboot') throw cronError(expression, '@reboot has no calendar time');
  const expanded = trimmed.startsWith('@') ? MACROS[trimmed.toLowerCase()] : trimmed;
  if (expanded === undefined) throw cronError(expression, `unknown macro ${trimmed}`);
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5) throw cronError(expression, `expected 5 fields, found ${parts.length}`);
  const [minutes, hours, daysOfMonth, months, daysOfWeek] = FIELDS.map((def, i) => parseField(expression, def, parts[i]!));
  const domRestricted = parts[2] !== '*';
  const dowRestricted = parts[4] !== '*';
  if (domRestricted && dowRestricted && (parts[2]!.startsWith('*') || parts[4]!.startsWith('*'))) {
    throw cronError(
      expression,
      'a day-of-month and a day-of-week where one starts with "*" is read differently by cron implementations (AND or OR); list the days explicitly',
    );
  }
  return {
    expression: expanded,
    minutes: minutes!,
    hours: hours!,
    daysOfMonth: daysOfMonth!,
    months: months!,
    daysOfWeek: daysOfWeek!,
    domRestricted,
    dowRestricted,
  };
}

/**
 * The next `n` firing times strictly after `from`, in `timezone` (an IANA name; 'UTC' or
 * 'local' accepted). Daylight-saving gaps and repeats follow cron-parser.
 */
export function nextRuns(cron: string, from: Date, n: number, timezone = 'UTC'): Date[] {
  const spec = parseCron(cron);
  const tz = timezone === 'local' ? undefined : timezone;
  let it;
  try {
    it = CronExpressionParser.parse(spec.expression, { currentDate: from, ...(tz === undefined ? {} : { tz }) });
  } catch (err) {
    throw cronError(cron, err instanceof Error ? err.message : String(err));
  }
  const out: Date[] = [];
  for (let i = 0; i < n; i++) out.push(it.next().toDate());
  return out;
}

/** The first firing time strictly after `from`. */
export function nextRun(cron: string, from: Date, timezone = 'UTC'): Date {
  return nextRuns(cron, from, 1, timezone)[0]!;
}
