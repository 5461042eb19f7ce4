/**
 * Planned reads: a command that knows which blobs it will read, in which order, fetches each
 * pack's needed bytes as few byte ranges, each at most once, a bounded distance ahead of
 * where it reads. docs/FORMAT.md ("Reading parts of packs") gives the measured figures.
 */

/** Where a blob's bytes lie, as the index says. */
export interface BlobSpan {
  id: string;
  pack: string;
  offset: number;
  length: number;
}

export interface RangeTuning {
  /** Unneeded bytes between two needed blobs of a pack below which one request fetches both. */
  gap: number;
  /** Range requests in flight at once. */
  concurrency: number;
}

/**
 * Defaults from measurements against a local directory and the S3 emulators (bench/ranges.mjs,
 * figures in bench/RESULTS.md): a request costs about as much time as 0.6-1 MiB of transfer on
 * the emulators, so merging across a gap of 64 KiB always saves time while keeping the bytes
 * fetched (a cloud's egress bill) close to those needed; four requests in flight reach the
 * emulators' throughput knee.
 */
export const DEFAULT_RANGE_TUNING: RangeTuning = { gap: 64 * 1024, concurrency: 4 };

/**
 * Bytes read ahead of the reader, and the span of the read order one range may serve: four
 * ranges of a pack's size in flight. 64 MiB cost a full restore 96 MiB more peak memory for
 * no measured speed (bench/RESULTS.md, "Peak memory").
 */
const READ_AHEAD = 16 * 1024 * 1024;
/** Largest single range request (a pack is about 4 MiB): a quarter of the read-ahead, so requests overlap. */
const MAX_RANGE = 4 * 1024 * 1024;
/** Merged gaps may add at most this share of a range's needed bytes. */
const MAX_WASTE = 0.25;
/**
 * Copies of blobs read again later (deduplicated content) kept at most; beyond, the copies
 * read again soonest are kept and a later use of another fetches that blob again.
 */
const KEEP_FOR_REUSE = 32 * 1024 * 1024;
/**
 * Bytes of uses planned ahead of the reader, a READ_AHEAD batch at a time: a repeat further
 * ahead than this is not known when its first use is served, so it is fetched again. Planning
 * the whole read order at once held about 200 bytes per blob for the whole command.
 */
const PLAN_AHEAD = 48 * 1024 * 1024;

export interface PlannedRange {
  pack: string;
  offset: number;
  length: number;
  /** The needed blobs inside, in offset order. */
  blobs: BlobSpan[];
}

interface Candidate extends BlobSpan {
  /** Bytes of the read order before this blob's first use. */
  at: number;
  first: number;
}

/**
 * Groups the blobs of `uses` (in the order they will be read; repeats allowed) into byte
 * ranges: blobs of one pack merge when the gap between them is at most `gap`, the merged gaps
 * stay under `maxWaste` (a quarter) of the needed bytes, and all of a range's blobs are first read within
 * `window` bytes of the read order (so a fetched range is soon done with). Ranges come in the
 * order of their first use.
 */
export function planRanges(uses: readonly BlobSpan[], gap: number, window = READ_AHEAD, maxWaste = MAX_WASTE): PlannedRange[] {
  const firsts = new Map<string, Candidate>();
  let at = 0;
  uses.forEach((u, i) => {
    if (!firsts.has(u.id)) firsts.set(u.id, { ...u, at, first: i });
    at += u.length;
  });
  const byPack = new Map<string, Candidate[]>();
  for (const c of firsts.values()) {
    const list = byPack.get(c.pack);
    if (list) list.push(c);
    else byPack.set(c.pack, [c]);
  }
  const ranges: (PlannedRange & { first: number })[] = [];
  for (const [pack, blobs] of byPack) {
    blobs.sort((a, b) => a.offset - b.offset);
    let cur: { r: PlannedRange & { first: number }; needed: number; minAt: number; maxAt: number } | undefined;
    for (const b of blobs) {
      if (cur && fits(cur, b, gap, window, maxWaste)) {
        cur.r.length = b.offset + b.length - cur.r.offset;
        cur.r.blobs.push(b);
        cur.r.first = Math.min(cur.r.first, b.first);
        cur.needed += b.length;
        cur.minAt = Math.min(cur.minAt, b.at);
        cur.maxAt = Math.max(cur.maxAt, b.at);
        continue;
      }
      cur = { r: { pack, offset: b.offset, length: b.length, blobs: [b], first: b.first }, needed: b.length, minAt: b.at, maxAt: b.at };
      ranges.push(cur.r);
    }
  }
  ranges.sort((a, b) => a.first - b.first);
  return ranges.map(({ pack, offset, length, blobs }) => ({ pack, offset, length, blobs: blobs.map(({ id, pack: p, offset: o, length: l }) => ({ id, pack: p, offset: o, length: l })) }));
}

function fits(cur: { r: PlannedRange; needed: number; minAt: number; maxAt: number }, b: Candidate, gap: number, window: number, maxWaste: number): boolean {
  const end = cur.r.offset + cur.r.length;
  const skipped = b.offset - end;
  if (skipped < 0 || skipped > gap) return false;
  const length = b.offset + b.length - cur.r.offset;
  if (length > MAX_RANGE) return false;
  const waste = length - cur.needed - b.length;
  if (waste > maxWaste * (cur.needed + b.length)) return false;
  return Math.max(cur.maxAt, b.at) - Math.min(cur.minAt, b.at) <= window;
}

/** A range's state while planned reads run. */
interface RangeState {
  range: PlannedRange;
  started: boolean;
  done?: Promise<void>;
  bytes?: Buffer;
  error?: unknown;
  /** Blobs of the range not read yet. */
  unread: Set<string>;
}

/** Fetches `length` bytes of `pack` from `offset` (fewer when the pack is shorter). */
export type RangeFetch = (pack: string, offset: number, length: number) => Promise<Buffer>;

/**
 * Told of a fetched range's memory once nothing reads it: at the next take or forgo after its
 * last blob was served, since the caller decodes a served blob before asking for the next.
 */
export type RangeDone = (bytes: Buffer) => void;

/** A blob served by a plan: its stored bytes, or the failure of the range that held it. */
export type Served = { sealed: Buffer; pack: string; truncated?: false } | { pack: string; truncated: true; got: number } | { pack: string; error: unknown };

/**
 * Serves the blobs of one plan in the read order: keeps up to `concurrency` range requests
 * in flight and at most about READ_AHEAD bytes fetched and not yet read; a range's buffer is
 * let go once its last blob is read. The uses are planned a batch (READ_AHEAD bytes of blobs)
 * at a time, PLAN_AHEAD bytes ahead of the reader: what a plan holds stays bounded however
 * many blobs it serves, and a repeat is known (and its copy kept) once its batch is planned.
 */
export class PlannedReads {
  private readonly states: RangeState[] = [];
  private readonly rangeOf = new Map<string, RangeState>();
  private readonly usesLeft = new Map<string, number>();
  /** Where in the read order the planned blobs are first used (a repeat's first position), and their length. */
  private readonly firstAt = new Map<string, { at: number; length: number }>();
  /** Positions in the read order of the uses not yet served, for blobs read more than once. */
  private readonly repeats = new Map<string, number[]>();
  private readonly kept = new Map<string, { sealed: Buffer; pack: string }>();
  /** Uses forgone before their batch was planned: left out of it. */
  private readonly forgoneAhead = new Map<string, number>();
  private readonly source: Iterator<BlobSpan>;
  private exhausted = false;
  /** Uses planned and not yet served or forgone, and their bytes. */
  private planned = 0;
  private plannedBytes = 0;
  private position = 0;
  private keptBytes = 0;
  private next = 0;
  private inFlight = 0;
  private held = 0;
  private readonly done: Buffer[] = [];

  constructor(
    uses: Iterable<BlobSpan>,
    private readonly fetch: RangeFetch,
    private readonly tuning: RangeTuning,
    private readonly onDone?: RangeDone,
  ) {
    this.source = uses[Symbol.iterator]();
    this.pump();
  }

  /** Plans the next batch of uses; false once there are none left. */
  private extend(): boolean {
    const fresh: BlobSpan[] = [];
    const newIds = new Set<string>();
    const from = this.position;
    let bytes = 0;
    while (!this.exhausted && bytes < READ_AHEAD) {
      const n = this.source.next();
      if (n.done) {
        this.exhausted = true;
        break;
      }
      const u = n.value;
      const i = this.position++;
      const forgone = this.forgoneAhead.get(u.id);
      if (forgone !== undefined) {
        if (forgone <= 1) this.forgoneAhead.delete(u.id);
        else this.forgoneAhead.set(u.id, forgone - 1);
        continue;
      }
      bytes += u.length;
      this.planned++;
      this.plannedBytes += u.length;
      const first = this.firstAt.get(u.id);
      if (first === undefined) this.firstAt.set(u.id, { at: i, length: u.length });
      else (this.repeats.get(u.id) ?? this.repeats.set(u.id, [first.at]).get(u.id)!).push(i);
      this.usesLeft.set(u.id, (this.usesLeft.get(u.id) ?? 0) + 1);
      // A blob already planned (and not served yet) is served from its range or its kept copy.
      if (first === undefined || newIds.has(u.id)) {
        newIds.add(u.id);
        fresh.push(u);
      }
    }
    if (fresh.length === 0) return this.position > from;
    for (const range of planRanges(fresh, this.tuning.gap)) {
      const state: RangeState = { range, started: false, unread: new Set(range.blobs.map((b) => b.id)) };
      this.states.push(state);
      for (const b of range.blobs) this.rangeOf.set(b.id, state);
    }
    return true;
  }

  /** Number of byte ranges planned so far. */
  get ranges(): number {
    return this.states.length;
  }

  /** The blob's bytes as stored, or undefined when the plan has no (further) use of it. */
  async take(id: string): Promise<Served | undefined> {
    this.handBack();
    this.planAhead();
    const left = this.usesLeft.get(id);
    if (left === undefined) return undefined;
    const keptCopy = this.kept.get(id);
    if (keptCopy) {
      this.used(id, left);
      if (left <= 1) this.unkeep(id);
      return keptCopy;
    }
    const state = this.rangeOf.get(id);
    if (!state) {
      // A repeat not kept (over KEEP_FOR_REUSE): fetched again by the caller.
      this.used(id, left);
      return undefined;
    }
    if (!state.started) this.start(state);
    await state.done;
    const blob = state.range.blobs.find((b) => b.id === id)!;
    const served = this.serve(state, blob);
    this.rangeOf.delete(id);
    state.unread.delete(id);
    this.used(id, left);
    if (left > 1 && 'sealed' in served) this.keep(id, served.sealed, blob.pack);
    if (state.unread.size === 0) this.release(state);
    return served;
  }

  /** The reader will not read this use of the blob after all (its file failed): its range may be let go sooner. */
  forgo(id: string): void {
    this.handBack();
    const left = this.usesLeft.get(id);
    if (left === undefined) {
      if (!this.exhausted) this.forgoneAhead.set(id, (this.forgoneAhead.get(id) ?? 0) + 1);
      return;
    }
    this.used(id, left);
    if (left > 1) return;
    this.unkeep(id);
    const state = this.rangeOf.get(id);
    if (!state) return;
    this.rangeOf.delete(id);
    state.unread.delete(id);
    if (state.unread.size > 0) return;
    if (state.started) this.release(state);
    // Never needed after all: never fetched.
    else state.started = true;
  }

  private serve(state: RangeState, blob: BlobSpan): Served {
    if (state.error !== undefined) return { pack: blob.pack, error: state.error };
    const bytes = state.bytes!;
    const start = blob.offset - state.range.offset;
    if (bytes.length < start + blob.length) return { pack: blob.pack, truncated: true, got: state.range.offset + bytes.length };
    return { sealed: bytes.subarray(start, start + blob.length), pack: blob.pack };
  }

  /** Plans further batches until PLAN_AHEAD bytes of uses are known ahead of the reader. */
  private planAhead(): void {
    while ((this.planned === 0 || this.plannedBytes < PLAN_AHEAD) && this.extend());
  }

  private used(id: string, left: number): void {
    this.planned--;
    this.plannedBytes -= this.firstAt.get(id)?.length ?? 0;
    this.repeats.get(id)?.shift();
    if (left > 1) return void this.usesLeft.set(id, left - 1);
    this.usesLeft.delete(id);
    this.firstAt.delete(id);
    this.repeats.delete(id);
  }

  /** Keeps a copy for the blob's next use, making room by dropping copies needed later than it. */
  private keep(id: string, sealed: Buffer, pack: string): void {
    const next = this.nextUse(id);
    while (this.keptBytes + sealed.length > KEEP_FOR_REUSE) {
      let latest: string | undefined;
      for (const k of this.kept.keys()) if (latest === undefined || this.nextUse(k) > this.nextUse(latest)) latest = k;
      if (latest === undefined || this.nextUse(latest) <= next) return;
      this.unkeep(latest);
    }
    this.kept.set(id, { sealed: Buffer.from(sealed), pack });
    this.keptBytes += sealed.length;
  }

  private unkeep(id: string): void {
    const copy = this.kept.get(id);
    if (!copy) return;
    this.kept.delete(id);
    this.keptBytes -= copy.sealed.length;
  }

  private nextUse(id: string): number {
    return this.repeats.get(id)?.[0] ?? Infinity;
  }

  private handBack(): void {
    if (this.onDone) for (const b of this.done.splice(0)) this.onDone(b);
  }

  private release(state: RangeState): void {
    if (state.bytes && this.onDone) this.done.push(state.bytes);
    state.bytes = undefined;
    this.held -= state.range.length;
    this.pump();
  }

  /** Starts the next ranges in read order while requests and read-ahead allow. */
  private pump(): void {
    this.planAhead();
    for (;;) {
      if (this.inFlight >= this.tuning.concurrency) return;
      if (this.next >= this.states.length && !this.extend()) return;
      if (this.next >= this.states.length) continue;
      const s = this.states[this.next]!;
      if (!s.started) {
        if (this.held > 0 && this.held + s.range.length > READ_AHEAD) return;
        this.start(s);
      }
      this.next++;
    }
  }

  private start(s: RangeState): void {
    s.started = true;
    this.inFlight++;
    this.held += s.range.length;
    s.done = this.fetch(s.range.pack, s.range.offset, s.range.length).then(
      (b) => {
        if (s.unread.size > 0) s.bytes = b;
      },
      (err: unknown) => {
        s.error = err;
      },
    ).finally(() => {
      this.inFlight--;
      this.pump();
    });
  }
}
