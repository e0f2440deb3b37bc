/**
 * The JSON answer of a read, `{"dtype":…,"shape":[…],"data":[[…],…]}`, produced in pieces
 * from the selection's bytes as they are read, so a large JSON read never holds the whole
 * selection (nor its nested arrays, nor its text) in memory. The text is exactly what
 * `JSON.stringify({ dtype, shape, data: decodeJson(bytes, dtype, shape) })` gives for the
 * whole selection (the same element rules: json-codec.ts's elementReader).
 */
import type { Dtype, DtypeSpec } from './dtype.js';
import { elementReader } from './json-codec.js';
import { elementCount } from './selection.js';

/** JSON text of one element value as elementReader gives it (numbers, strings, booleans, [re, im], records). */
function elementText(v: unknown): string {
  return typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}

/** The nested empty arrays of a shape with a 0 in it: [2, 0] → [[], []]. */
function emptyNested(shape: readonly number[]): unknown {
  const build = (dim: number): unknown => (dim === shape.length ? null : Array.from({ length: shape[dim]! }, () => build(dim + 1)));
  return build(0);
}

type NumberView = Float64Array | Float32Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;

/**
 * A typed-array view of `bytes` for the dtypes whose elements are plain numbers in this
 * machine's byte order (little-endian floats of 32/64 bits, integers up to 32 bits), when
 * `bytes` is aligned for it: read without a call per element. Null otherwise (the
 * elementReader path).
 */
function numberView(bytes: Buffer, dtype: Dtype): NumberView | null {
  if (dtype.kind !== 'float' && dtype.kind !== 'int' && dtype.kind !== 'uint') return null;
  if (dtype.order === 'be' && dtype.size > 1) return null;
  if (bytes.byteOffset % dtype.size !== 0) return null;
  const n = bytes.length / dtype.size;
  const { buffer, byteOffset } = bytes;
  if (dtype.kind === 'float')
    return dtype.size === 8 ? new Float64Array(buffer, byteOffset, n) : dtype.size === 4 ? new Float32Array(buffer, byteOffset, n) : null;
  if (dtype.kind === 'int')
    return dtype.size === 4
      ? new Int32Array(buffer, byteOffset, n)
      : dtype.size === 2
        ? new Int16Array(buffer, byteOffset, n)
        : dtype.size === 1
          ? new Int8Array(buffer, byteOffset, n)
          : null;
  if (dtype.kind === 'uint')
    return dtype.size === 4
      ? new Uint32Array(buffer, byteOffset, n)
      : dtype.size === 2
        ? new Uint16Array(buffer, byteOffset, n)
        : dtype.size === 1
          ? new Uint8Array(buffer, byteOffset, n)
          : null;
  return null;
}

/** Texts of elements [from, to) of `bytes`, joined by commas. */
function run(bytes: Buffer, view: NumberView | null, read: (bytes: Buffer, i: number) => unknown, from: number, to: number): string {
  const texts = new Array<string>(to - from);
  if (view) {
    for (let j = from; j < to; j++) {
      const v = view[j]!;
      // Non-finite floats are strings, as elementReader gives them.
      texts[j - from] = v - v === 0 ? String(v) : `"${v}"`;
    }
  } else {
    for (let j = from; j < to; j++) texts[j - from] = elementText(read(bytes, j));
  }
  return texts.join(',');
}

/**
 * The streamed JSON answer of one selection. `dtype` is what the answer's "dtype" says (a
 * canonical name, or the spec object of an enum or compound). Fixed-size dtypes are fed
 * their bytes (`encode`); variable-length strings their values (`encodeStrings`, as the
 * native readStrings gives them), piece by piece in C order, cut anywhere.
 */
export class JsonValueEncoder {
  readonly #shape: readonly number[];
  readonly #read: (bytes: Buffer, i: number) => unknown;
  readonly #total: number;
  /** Index of the next element along each dimension (an odometer over the shape). */
  readonly #at: number[];
  #done = 0;

  constructor(
    private readonly dtypeName: DtypeSpec,
    private readonly dtype: Dtype,
    shape: readonly number[],
  ) {
    this.#shape = [...shape];
    this.#read = elementReader(dtype);
    this.#total = elementCount(shape);
    this.#at = shape.map(() => 0);
  }

  /** The text before the first element: `{"dtype":…,"shape":[…],"data":`. */
  head(): string {
    return `{"dtype":${JSON.stringify(this.dtypeName)},"shape":${JSON.stringify(this.#shape)},"data":`;
  }

  /**
   * The text of the next `bytes.length / itemsize` elements of the selection in C order,
   * with the brackets and commas between and around them.
   */
  encode(bytes: Buffer): string {
    const n = bytes.length / this.dtype.size;
    if (this.dtype.kind === 'string' || !Number.isInteger(n) || this.#done + n > this.#total) {
      throw new Error(`JsonValueEncoder: ${bytes.length} bytes do not continue a selection of ${this.#total} ${this.dtype.kind} elements at ${this.#done}`);
    }
    const view = numberView(bytes, this.dtype);
    return this.#emit(n, (from, to) => run(bytes, view, this.#read, from, to));
  }

  /** The text of the next `values.length` elements of a variable-length string selection. */
  encodeStrings(values: readonly string[]): string {
    if (this.dtype.kind !== 'string' || this.#done + values.length > this.#total) {
      throw new Error(`JsonValueEncoder: ${values.length} strings do not continue a selection of ${this.#total} ${this.dtype.kind} elements at ${this.#done}`);
    }
    return this.#emit(values.length, (from, to) =>
      values
        .slice(from, to)
        .map((v) => JSON.stringify(v))
        .join(','),
    );
  }

  /** The next `n` elements, whose texts (elements [from, to) of the piece, comma-joined) `texts` gives. */
  #emit(n: number, texts: (from: number, to: number) => string): string {
    const rank = this.#shape.length;
    if (rank === 0) {
      this.#done += n;
      return n === 0 ? '' : texts(0, 1);
    }
    const last = this.#shape[rank - 1]!;
    const at = this.#at;
    const parts: string[] = [];
    let i = 0;
    while (i < n) {
      // Between rows: close the dimensions that ended, open the ones that start.
      if (this.#done + i === 0) parts.push('['.repeat(rank));
      else if (at[rank - 1] === 0) {
        let closed = 1;
        for (let d = rank - 2; d >= 0 && at[d] === 0; d--) closed++;
        parts.push(']'.repeat(closed) + ',' + '['.repeat(closed));
      } else parts.push(',');
      // The rest of this row (or of the piece), comma-separated.
      const stop = Math.min(n, i + last - at[rank - 1]!);
      parts.push(texts(i, stop));
      at[rank - 1]! += stop - i;
      i = stop;
      // Carry the odometer.
      for (let d = rank - 1; d > 0 && at[d] === this.#shape[d]; d--) {
        at[d] = 0;
        at[d - 1]!++;
      }
    }
    this.#done += n;
    if (this.#done === this.#total) parts.push(']'.repeat(rank));
    return parts.join('');
  }

  /** The text after the last element. */
  tail(): string {
    if (this.#done !== this.#total) throw new Error(`JsonValueEncoder: ${this.#done} of ${this.#total} elements encoded`);
    return '}';
  }

  /** The whole answer of a selection with no elements (a shape with a 0 in it). */
  empty(): string {
    return this.head() + JSON.stringify(emptyNested(this.#shape)) + '}';
  }
}
