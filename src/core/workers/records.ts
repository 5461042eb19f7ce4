/**
 * Records of numbers laid out one after another in a Float64Array (field by field, record by
 * record), for messages between threads: cloning thousands of small objects cost more than
 * the work they describe, while a typed array is copied, or transferred, in one piece. The
 * fields are named once here; the stride and every offset follow from their order.
 *
 * A record whose fields are all NaN is "none" (e.g. an lstat that failed): see clear() and
 * isNone().
 */
export class NumericRecords<F extends string> {
  readonly stride: number;
  private readonly offset: Readonly<Record<F, number>>;

  constructor(readonly fields: readonly F[]) {
    this.stride = fields.length;
    this.offset = Object.fromEntries(fields.map((f, i) => [f, i])) as Record<F, number>;
  }

  /** Room for `n` records. */
  alloc(n: number): Float64Array<ArrayBuffer> {
    return new Float64Array(n * this.stride);
  }

  /** How many records `nums` holds. */
  count(nums: Float64Array): number {
    return nums.length / this.stride;
  }

  get(nums: Float64Array, i: number, field: F): number {
    return nums[i * this.stride + this.offset[field]]!;
  }

  set(nums: Float64Array, i: number, field: F, value: number): void {
    nums[i * this.stride + this.offset[field]] = value;
  }

  /** Writes record `i` from an object with (at least) these numeric fields. */
  put(nums: Float64Array, i: number, from: Readonly<Record<F, number>>): void {
    const o = i * this.stride;
    for (let k = 0; k < this.fields.length; k++) nums[o + k] = from[this.fields[k]!];
  }

  /** Marks record `i` as none. */
  clear(nums: Float64Array, i: number): void {
    nums.fill(NaN, i * this.stride, (i + 1) * this.stride);
  }

  isNone(nums: Float64Array, i: number): boolean {
    return Number.isNaN(nums[i * this.stride]);
  }

  /** `nums` with room for at least `n` records: itself, or a copy twice as large (for records appended one by one). */
  ensure(nums: Float64Array<ArrayBuffer>, n: number): Float64Array<ArrayBuffer> {
    if (nums.length >= n * this.stride) return nums;
    const grown = new Float64Array(Math.max(n, 2 * this.count(nums), 16) * this.stride);
    grown.set(nums);
    return grown;
  }
}
