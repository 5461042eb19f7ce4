/** The one set of human formatters (durations, sizes, rates, times) that every output uses. */

/**
 * Short human durations for messages and tables: "2d 3h", "4h 5m", "12m 3s", "850ms".
 * Two units at most, rounded to the smaller one shown (1h 49m 59.6s reads "1h 50m"), so a
 * figure and a difference of figures read alike wherever they appear.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '∞';
  const sign = ms < 0 ? '-' : '';
  const abs = Math.round(Math.abs(ms));
  if (abs < 1000) return `${sign}${abs}ms`;
  const seconds = Math.round(abs / 1000);
  const largest = DURATION_UNITS.findIndex(([, size]) => seconds >= size);
  const precision = DURATION_UNITS[Math.min(largest + 1, DURATION_UNITS.length - 1)]![1];
  let rest = Math.round(seconds / precision) * precision;
  const parts: string[] = [];
  for (const [name, size] of DURATION_UNITS) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || (parts.length > 0 && parts.length < 2)) parts.push(`${n}${name}`);
    if (parts.length === 2) break;
  }
  // Trailing zero units add noise.
  while (parts.length > 1 && parts[parts.length - 1]!.startsWith('0')) parts.pop();
  return sign + parts.join(' ');
}

const DURATION_UNITS: readonly (readonly [string, number])[] = [
  ['d', 86_400],
  ['h', 3_600],
  ['m', 60],
  ['s', 1],
];

/** IEC sizes: "1.5 GiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(1)} ${units[i]}`;
}

/**
 * A time as a person reads it: `2026-12-06 11:02 CET` in `zone` (an IANA name; the policy's
 * `timezone`, or UTC under --utc), with the zone's abbreviation or its offset (`GMT+5:30`)
 * so the reader never has to guess which clock it is. Machine output (JSON, logs) stays ISO 8601 UTC.
 */
export function formatTime(d: Date, zone = 'UTC'): string {
  if (Number.isNaN(d.getTime())) return 'unknown time';
  const parts = Object.fromEntries(clockFormat(zone).formatToParts(d).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${zoneName(zone, d)}`;
}

const clockFormats = new Map<string, Intl.DateTimeFormat>();

function clockFormat(zone: string): Intl.DateTimeFormat {
  let f = clockFormats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    clockFormats.set(zone, f);
  }
  return f;
}

/**
 * The zone's short name at `d`. US English knows the American abbreviations (EST, PDT) and
 * British English the European ones (CET, BST); otherwise the numeric offset (GMT+5:30).
 */
function zoneName(zone: string, d: Date): string {
  const short = (locale: string) => zoneNameFormat(locale, zone).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? zone;
  const us = short('en-US');
  if (!us.startsWith('GMT')) return us;
  const gb = short('en-GB');
  return gb.startsWith('GMT+') || gb.startsWith('GMT-') ? us : gb;
}

const zoneNameFormats = new Map<string, Intl.DateTimeFormat>();

/** Building an Intl.DateTimeFormat costs far more than using one: one per locale and zone. */
function zoneNameFormat(locale: string, zone: string): Intl.DateTimeFormat {
  const key = `${locale} ${zone}`;
  let f = zoneNameFormats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, { timeZone: zone, timeZoneName: 'short' });
    zoneNameFormats.set(key, f);
  }
  return f;
}

/** Bytes per second: "12.5 MiB/s". */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** `1 copy`, `2 copies`: the count and the word that agrees with it. */
export function countOf(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
