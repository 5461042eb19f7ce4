/**
 * Modification times of tree nodes. A node's `mtime` is milliseconds as Node's lstat gives
 * them (a double: ~240 ns steps at current dates); `mtimeNs`, the exact nanoseconds since the
 * epoch as a decimal string, is added only when `mtime` alone does not give the time back,
 * so a node whose time it does give keeps the bytes (and its tree the id) it always had.
 */

const NS_PER_S = 1_000_000_000n;

/** A time as a timespec holds it: whole seconds (negative before 1970) and 0 ≤ nsec < 1e9. */
export interface TimeSpec {
  sec: number;
  nsec: number;
}

export interface NodeTime {
  mtime: number;
  mtimeNs?: string;
}

const NS_RE = /^-?\d{1,20}$/;

export function timeSpecOf(ns: bigint): TimeSpec {
  let sec = ns / NS_PER_S;
  let nsec = ns - sec * NS_PER_S;
  if (nsec < 0n) {
    nsec += NS_PER_S;
    sec -= 1n;
  }
  return { sec: Number(sec), nsec: Number(nsec) };
}

/** Milliseconds computed exactly as Node computes `mtimeMs` from a timespec. */
export function msOf(t: TimeSpec): number {
  return t.sec * 1e3 + t.nsec / 1e6;
}

/** The time `mtime` alone stands for: rounded to the microsecond (what restores set before `mtimeNs` existed). */
function nsFromMs(ms: number): bigint {
  return BigInt(Math.round(ms * 1e3)) * 1000n;
}

/** A node's time fields for a time read from the file system (once per entry a backup walks). */
export function nodeTime(t: TimeSpec): NodeTime {
  const mtime = msOf(t);
  // Numbers count microseconds exactly until 2255: no BigInt then, as a BigInt per node of
  // every backup is slow (bench/RESULTS.md, "Times without BigInt").
  const givenByMs = Math.abs(t.sec) < 9e9 ? t.nsec % 1000 === 0 && Math.round(mtime * 1e3) === t.sec * 1e6 + t.nsec / 1e3 : nsOf(t) === nsFromMs(mtime);
  return givenByMs ? { mtime } : { mtime, mtimeNs: nsDecimal(t) };
}

function nsOf(t: TimeSpec): bigint {
  return BigInt(t.sec) * NS_PER_S + BigInt(t.nsec);
}

function nsDecimal(t: TimeSpec): string {
  if (t.sec > 0) return `${t.sec}${String(t.nsec).padStart(9, '0')}`;
  return t.sec === 0 ? String(t.nsec) : nsOf(t).toString();
}

/** Whether a tree's time fields can be read (a crafted tree may hold anything). */
export function isNodeTime(n: { mtime?: unknown; mtimeNs?: unknown }): boolean {
  // Date's range: every time Linux file systems hold is inside it.
  if (typeof n.mtime !== 'number' || !(Math.abs(n.mtime) <= 8.64e15)) return false;
  return n.mtimeNs === undefined || (typeof n.mtimeNs === 'string' && NS_RE.test(n.mtimeNs));
}

/** The exact time of a node. */
export function nodeMtimeNs(n: NodeTime): bigint {
  return n.mtimeNs !== undefined ? BigInt(n.mtimeNs) : nsFromMs(n.mtime);
}

/**
 * The time for fs.utimes/futimes/lutimes. Node passes a double to libuv, which keeps whole
 * microseconds (truncating), and takes a negative number as "now" but not a numeric string:
 * so a string, aimed at the middle of the node's microsecond so that rounding in the double
 * cannot cross into the next one (exact while a double holds 0.5 µs, i.e. until 2106).
 */
export function utimesArg(n: NodeTime): string {
  const { sec, nsec } = timeSpecOf(nodeMtimeNs(n));
  const usec = Math.floor(nsec / 1000);
  // libuv truncates the fraction toward zero, i.e. downwards at or after 1970 and upwards before.
  const aim = usec * 1000 + (sec < 0 ? -500 : 500);
  return String(sec + aim / 1e9);
}

/** Seconds since the epoch as an exact decimal (a PAX `mtime` record: `-315619199.5`, `1700000000.123456789`). */
export function decimalSeconds(ns: bigint): string {
  const neg = ns < 0n;
  const abs = neg ? -ns : ns;
  const whole = abs / NS_PER_S;
  const frac = (abs % NS_PER_S).toString().padStart(9, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}
