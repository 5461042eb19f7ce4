import { TriadError } from '../core/errors.js';

/**
 * Times are stored as canonical UTC ISO strings (`YYYY-MM-DDTHH:MM:SS.sssZ`), the form
 * Date#toISOString produces: one fixed width means SQL can compare and index them as text,
 * and the file stays readable in the sqlite3 shell.
 */
export type TimeInput = Date | string;

const CANONICAL = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
// A time without a zone would be read in the local zone of whichever host runs triad.
const HAS_ZONE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}))?$/i;

export function toIso(t: TimeInput, what = 'time'): string {
  if (typeof t !== 'string') {
    const ms = t.getTime();
    if (!Number.isFinite(ms)) throw new TriadError('E_USAGE', `invalid ${what}: not a valid date`);
    return isoFromMs(ms);
  }
  if (CANONICAL.test(t) && Number.isFinite(Date.parse(t))) return t;
  const ms = HAS_ZONE.test(t) ? Date.parse(t.replace(' ', 'T')) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new TriadError('E_USAGE', `invalid ${what}: ${JSON.stringify(t)}`, {
      hint: 'give an ISO 8601 time with a zone, e.g. 2025-01-31T14:00:00Z, or a date such as 2025-01-31',
    });
  }
  return isoFromMs(ms);
}

export function optIso(t: TimeInput | null | undefined, what?: string): string | null {
  return t === null || t === undefined ? null : toIso(t, what);
}

/** UTC calendar arithmetic (days-from-civil inverse), kept here so the catalogue builds no Date objects. */
export function isoFromMs(ms: number): string {
  const whole = Math.round(ms);
  const days = Math.floor(whole / 86_400_000);
  const inDay = whole - days * 86_400_000;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 0 || year > 9999) throw new TriadError('E_USAGE', `time out of range: ${ms} ms since the epoch`);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const h = Math.floor(inDay / 3_600_000);
  const m = Math.floor((inDay % 3_600_000) / 60_000);
  const s = Math.floor((inDay % 60_000) / 1000);
  return `${p(year, 4)}-${p(month)}-${p(day)}T${p(h)}:${p(m)}:${p(s)}.${p(inDay % 1000, 3)}Z`;
}
