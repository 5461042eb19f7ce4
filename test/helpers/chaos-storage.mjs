// Random storage faults and a SIGKILL at a chosen I/O boundary, for the torture run. Test code
// only: the test entry wraps each opened target's backend with it when its own environment has
// TRIAD_TEST_FAULTS (JSON), which the shipped bin/triad never reads:
//   { "seed": 7, "rate": 0.03, "kinds": ["5xx", "timeout", "truncated", "slow"],
//     "kill": { "at": 40, "when": "before" | "after" }, "log": "/path/faults.log" }
// Every storage call of the process (all targets) is numbered from 1; call `kill.at` SIGKILLs the
// process just before it is issued or just after it returns. `kill: { "op": "remove", "match":
// "^snapshots/", "when": "after" }` picks instead the first call of that op whose object name
// matches the regular expression. Each call fails with probability
// `rate`, with a kind drawn from `kinds`:
//   5xx        a transient 503 before the request reaches the store
//   timeout    a wait, then a transient timeout; for a save, half the time after it has landed
//   truncated  a load whose body is cut short (loads only; other calls get a 5xx)
//   slow       a wait of up to 400 ms, then the call as usual
// `corrupt: { "match": "^data/", "reads": 1 }` flips one byte in the middle of the first `reads`
// loads (whole, or of a byte range) of each object whose name matches (every load when `reads` is absent): a garbled
// transfer when `reads` is small, damage at rest otherwise. It draws nothing from the random stream.
// `delay: [{ "op": "remove", "match": "^locks/[0-9a-f]{64}$", "ms": 1500 }, ...]` waits that long
// before every call of that op whose object name matches (e.g. a lock holder that keeps its lock
// a while longer). It draws nothing from the random stream.
// `startAt: <ms since the epoch>` holds the process's first storage call until that instant, so
// processes started a little apart begin their I/O together; a process whose first call comes
// after it appends `late <ms>` to `log` (its I/O did not start together with the others').
// Every fault, kill and (on a normal exit) the number of calls is appended to `log`, one line each.
import { appendFileSync } from 'node:fs';

const { StorageError } = await import('../../dist/backends/storage.js');
const { seededRandom } = await import('../../dist/core/random.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Parses TRIAD_TEST_FAULTS; a malformed value fails the run loudly. */
export function parseFaultSpec(raw) {
  const spec = JSON.parse(raw);
  const kinds = spec.kinds ?? ['5xx', 'timeout', 'truncated', 'slow'];
  for (const k of kinds) if (!['5xx', 'timeout', 'truncated', 'slow'].includes(k)) throw new Error(`TRIAD_TEST_FAULTS: unknown fault kind ${k}`);
  if (!(spec.rate >= 0 && spec.rate <= 1)) throw new Error(`TRIAD_TEST_FAULTS: rate ${spec.rate} is not in [0, 1]`);
  if (spec.corrupt !== undefined && (typeof spec.corrupt.match !== 'string' || !(spec.corrupt.reads === undefined || spec.corrupt.reads >= 1))) {
    throw new Error('TRIAD_TEST_FAULTS: corrupt needs a match pattern and, if given, reads >= 1');
  }
  const delay = spec.delay ?? [];
  if (!Array.isArray(delay) || !delay.every((d) => typeof d.op === 'string' && typeof d.match === 'string' && d.ms > 0)) {
    throw new Error('TRIAD_TEST_FAULTS: delay is a list of rules, each with an op, a match pattern and ms > 0');
  }
  if (spec.startAt !== undefined && !Number.isFinite(spec.startAt)) throw new Error('TRIAD_TEST_FAULTS: startAt is a time in ms since the epoch');
  return { seed: spec.seed >>> 0, rate: spec.rate, kinds, kill: spec.kill, log: spec.log, corrupt: spec.corrupt, startAt: spec.startAt, delay: delay.map((d) => ({ op: d.op, match: new RegExp(d.match), ms: d.ms })) };
}

/** One per process: the call counter and random stream are shared by every target. */
export function chaosWrapper(spec) {
  const rnd = seededRandom(spec.seed || 1);
  let calls = 0;
  const note = (line) => {
    if (spec.log) appendFileSync(spec.log, line + '\n');
  };
  process.on('exit', () => note(`calls ${calls}`));
  const killNow = (where) => {
    note(`kill ${where}`);
    process.kill(process.pid, 'SIGKILL');
  };
  /** Numbers the call, kills before it when planned, and draws its fault (or none). */
  const killMatch = spec.kill?.match === undefined ? undefined : new RegExp(spec.kill.match);
  let killAt = spec.kill?.at;
  const enter = (target, op, name) => {
    const n = ++calls;
    if (killAt === undefined && killMatch && op === spec.kill.op && killMatch.test(name)) killAt = n;
    if (killAt === n && spec.kill.when !== 'after') killNow(`before ${op} ${target}:${name}`);
    let kind = rnd.next() < spec.rate ? spec.kinds[rnd.int(spec.kinds.length)] : undefined;
    if (kind === 'truncated' && op !== 'load') kind = '5xx';
    if (kind) note(`fault ${kind} ${op} ${target}:${name}`);
    return { n, kind, ms: 50 + rnd.int(350) };
  };
  const leave = (n, op, target, name) => {
    if (killAt === n && spec.kill.when === 'after') killNow(`after ${op} ${target}:${name}`);
  };
  const corruptMatch = spec.corrupt === undefined ? undefined : new RegExp(spec.corrupt.match);
  const loadsSeen = new Map();
  /** Flips the middle byte of a load (whole or ranged) the `corrupt` rule covers. */
  const garble = (target, name, range, out) => {
    if (!corruptMatch || !corruptMatch.test(name) || out.length === 0) return out;
    const key = `${target}:${name}`;
    const n = (loadsSeen.get(key) ?? 0) + 1;
    loadsSeen.set(key, n);
    if (spec.corrupt.reads !== undefined && n > spec.corrupt.reads) return out;
    note(`fault corrupt load ${key}`);
    const copy = Buffer.from(out);
    copy[copy.length >> 1] ^= 0xff;
    return copy;
  };
  return (inner, target) => {
    const fail = (op, name, what) => new StorageError('transient', inner.location, `${inner.location}: injected ${what} in ${op} ${name}`, { objectName: name });
    /** Runs one call with its fault; `body` performs it on the inner storage. */
    const call = async (op, name, body) => {
      if (spec.startAt !== undefined) {
        const wait = spec.startAt - Date.now();
        if (wait < 0 && calls === 0) note(`late ${-wait}`);
        await sleep(wait);
      }
      const c = enter(target, op, name);
      for (const d of spec.delay) if (op === d.op && d.match.test(name)) await sleep(d.ms);
      if (c.kind === '5xx') throw fail(op, name, '503 Service Unavailable');
      if (c.kind === 'slow' || c.kind === 'timeout') await sleep(c.ms);
      if (c.kind === 'timeout' && !(op === 'save' && c.ms % 2 === 0)) throw fail(op, name, 'request timeout');
      const out = await body();
      if (c.kind === 'timeout') throw fail(op, name, 'request timeout after the write landed');
      leave(c.n, op, target, name);
      if (c.kind === 'truncated' && out.length > 1) return out.subarray(0, out.length - 1 - rnd.int(out.length >> 1));
      return out;
    };
    const wrapped = {
      location: inner.location,
      save: (name, data, opts) => call('save', name, () => inner.save(name, data, opts)),
      load: (name, range, opts) => call('load', name, async () => garble(target, name, range, await inner.load(name, range, opts))),
      stat: (name, opts) => call('stat', name, () => inner.stat(name, opts)),
      remove: (name, opts) => call('remove', name, () => inner.remove(name, opts)),
      async *list(prefix, opts) {
        const items = await call('list', prefix, async () => {
          const all = [];
          for await (const info of inner.list(prefix, opts)) all.push(info);
          return all;
        });
        yield* items;
      },
      close: () => inner.close(),
    };
    if (inner.listTemporary) wrapped.listTemporary = (opts) => inner.listTemporary(opts);
    if (inner.capacity) wrapped.capacity = () => inner.capacity();
    if (inner.serverTime) wrapped.serverTime = (opts) => inner.serverTime(opts);
    return wrapped;
  };
}
