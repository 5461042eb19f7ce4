import { parseCron, type CronSpec } from './cron.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** How far ahead a translation is checked: a year covers every daylight-saving change. */
const HORIZON_DAYS = 366;

/**
 * The same schedule written for a cron daemon that reads its times in `toZone`, or undefined
 * when no 5-field expression fires at exactly the same instants. Debian's cron ignores
 * CRON_TZ=, so a policy in Europe/Paris installed on a machine kept in UTC would otherwise
 * run an hour or two off its schedule.
 *
 * Candidates are the expression itself (right whenever the zones agree, and for an hourly
 * schedule whenever they differ by whole hours) and the expression with its hours shifted by
 * each whole-hour offset difference met in the coming year; a candidate is accepted only when
 * it fires in the very same hours over that year as the original, so a zone pair whose
 * difference changes with daylight saving is refused rather than approximated.
 */
export function cronForZone(cron: string, fromZone: string, toZone: string, now: Date): string | undefined {
  const spec = parseCron(cron);
  if (sameZone(fromZone, toZone)) return spec.expression;
  const from = new OffsetTimeline(fromZone, now);
  const to = new OffsetTimeline(toZone, now);
  const diffs = new Set<number>();
  for (let d = 0; d <= HORIZON_DAYS; d++) {
    const at = now.getTime() + d * DAY_MS;
    const minutes = to.offsetAt(at) - from.offsetAt(at);
    if (minutes % 60 === 0) diffs.add(minutes / 60);
  }
  const candidates = new Set([spec.expression, ...[...diffs].flatMap((d) => shiftHours(spec.expression, d) ?? [])]);
  for (const c of candidates) if (sameHours(spec, from, parseCron(c), to, now)) return c;
  return undefined;
}

function sameZone(a: string, b: string): boolean {
  return a === b || (a === 'local' && b === systemZoneName()) || (b === 'local' && a === systemZoneName());
}

/** The zone this process reads local times in (TZ, else /etc/localtime), as an IANA name. */
export function systemZoneName(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/**
 * Both schedules have the same minutes; they fire at the same instants when every hour of the
 * year is a firing hour of both or of neither. Walks the hours of `a`'s zone; an hour where
 * the zones are not a whole number of hours apart means the minutes cannot line up.
 */
function sameHours(a: CronSpec, za: OffsetTimeline, b: CronSpec, zb: OffsetTimeline, now: Date): boolean {
  if (a.minutes.join() !== b.minutes.join()) return false;
  const start = now.getTime() - (((now.getTime() + za.offsetAt(now.getTime()) * 60_000) % HOUR_MS) + HOUR_MS) % HOUR_MS;
  for (let t = start; t <= start + HORIZON_DAYS * DAY_MS; t += HOUR_MS) {
    const oa = za.offsetAt(t);
    const ob = zb.offsetAt(t);
    if ((ob - oa) % 60 !== 0) return false;
    if (firesInHour(a, new Date(t + oa * 60_000)) !== firesInHour(b, new Date(t + ob * 60_000))) return false;
  }
  return true;
}

/** `local`: the wall-clock time read through UTC getters. Cron's day rule: both days restricted → either matches. */
function firesInHour(s: CronSpec, local: Date): boolean {
  if (!s.hours.includes(local.getUTCHours()) || !s.months.includes(local.getUTCMonth() + 1)) return false;
  const dom = s.daysOfMonth.includes(local.getUTCDate());
  const dow = s.daysOfWeek.includes(local.getUTCDay());
  if (s.domRestricted && s.dowRestricted) return dom || dow;
  return (!s.domRestricted || dom) && (!s.dowRestricted || dow);
}

/**
 * A zone's UTC offset over the coming year, asked of Intl once a day and hour by hour only on
 * the days it changes (a formatter call costs tens of microseconds; a year has 8,784 hours).
 */
class OffsetTimeline {
  private readonly format: Intl.DateTimeFormat;
  private readonly days: number[] = [];
  private readonly changed = new Map<number, number[]>();

  constructor(zone: string, private readonly start: Date) {
    this.format = new Intl.DateTimeFormat('en-US', { ...(zone === 'local' ? {} : { timeZone: zone }), hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    for (let d = 0; d <= HORIZON_DAYS + 2; d++) this.days.push(this.ask(start.getTime() + d * DAY_MS));
  }

  /** Minutes east of UTC at `at` (within the horizon). */
  offsetAt(at: number): number {
    const d = Math.max(0, Math.floor((at - this.start.getTime()) / DAY_MS));
    const first = this.days[d] ?? this.ask(at);
    if (this.days[d + 1] === undefined || this.days[d + 1] === first) return first;
    let hours = this.changed.get(d);
    if (!hours) {
      hours = [];
      for (let h = 0; h < 24; h++) hours.push(this.ask(this.start.getTime() + d * DAY_MS + h * HOUR_MS));
      this.changed.set(d, hours);
    }
    return hours[Math.floor((at - this.start.getTime() - d * DAY_MS) / HOUR_MS)] ?? this.ask(at);
  }

  private ask(at: number): number {
    const parts = this.format.formatToParts(new Date(at));
    const n = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
    const asUtc = Date.UTC(n('year'), n('month') - 1, n('day'), n('hour'), n('minute'), n('second'));
    return Math.round((asUtc - Math.floor(at / 1000) * 1000) / 60_000);
  }
}

/** The expression with its hour field moved by `hours`; undefined when that would move a run to another day of a day-restricted schedule. */
function shiftHours(expression: string, hours: number): string | undefined {
  const spec = parseCron(expression);
  const fields = expression.split(/\s+/);
  const moved = spec.hours.map((h) => h + hours);
  const wraps = moved.some((h) => h < 0 || h > 23);
  if (wraps && (spec.domRestricted || spec.dowRestricted || fields[3] !== '*')) return undefined;
  const normalised = [...new Set(moved.map((h) => ((h % 24) + 24) % 24))].sort((a, b) => a - b);
  fields[1] = normalised.length === 24 ? '*' : normalised.join(',');
  return fields.join(' ');
}
