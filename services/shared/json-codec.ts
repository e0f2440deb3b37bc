/**
 * JSON values <-> raw element bytes in a dtype. JSON bodies are for convenience (small
 * writes, notebooks, curl); everything past the API is bytes, so a JSON write is encoded
 * here once, strictly: every value is range-checked for the dtype, and the nesting must
 * match the selection's shape (or be flat with the right length).
 *
 * Element forms: numbers; 64-bit integers beyond 2^53-1 as decimal strings; non-finite
 * floats as "NaN" / "Infinity" / "-Infinity"; bool as true/false; S<n> as strings;
 * complex as [re, im] (a plain number on writes: imaginary 0); enums as member names
 * (writes also take a member's value; reads give the integer of a value that is no
 * member); compounds as objects in field order (writes also take a row: an array in
 * field order); array fields as nested arrays of their shape (or flat); variable-length
 * strings as JSON strings (encodeJsonPayload / decodeStrings).
 */
import { MAX_BYTES_SIZE, type BytesDtype, type CompoundDtype, type Dtype, type EnumDtype } from './dtype.js';
import { InputError } from './input-error.js';
import { elementCount } from './selection.js';

const INT_RANGES: Record<number, [bigint, bigint]> = {
  1: [-(2n ** 7n), 2n ** 7n - 1n],
  2: [-(2n ** 15n), 2n ** 15n - 1n],
  4: [-(2n ** 31n), 2n ** 31n - 1n],
  8: [-(2n ** 63n), 2n ** 63n - 1n],
};
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function valueError(message: string): InputError {
  return new InputError('PH5_ERR_VALUE', message);
}

function show(v: unknown): string {
  return JSON.stringify(v)?.slice(0, 40) ?? String(v);
}

/** Elements of these dtypes are themselves JSON arrays (or objects that may be rows). */
function elementMayBeArray(d: Dtype): boolean {
  return d.kind === 'complex' || d.kind === 'compound' || d.kind === 'array';
}

/**
 * The elements of `values` nested as `shape` (an array of shape[0] arrays of shape[1]
 * ... of elements), in C order; or the reason it is not.
 */
function nestedElements(values: unknown, shape: readonly number[]): unknown[] | string {
  const out: unknown[] = [];
  let trouble: string | null = null;
  const walk = (v: unknown, dim: number, where: string): void => {
    if (trouble !== null) return;
    if (dim === shape.length) {
      out.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim]) {
      trouble = `Expected ${shape[dim]} items at ${where || 'the top level'} for a selection of shape [${shape.join(', ')}].`;
      return;
    }
    for (let i = 0; i < v.length && trouble === null; i++) walk(v[i], dim + 1, `${where}[${i}]`);
  };
  walk(values, 0, '');
  return trouble ?? out;
}

/**
 * The ways `values` can be read as the elements of a selection of `shape`, best first:
 * nested to the shape's depth, then flat (an array of all elements in C order). For
 * dtypes whose elements are never arrays this is the one reading the nesting allows.
 * Throws PH5_ERR_VALUE when there is none.
 */
function elementReadings(values: unknown, shape: readonly number[], dtype: Dtype): unknown[][] {
  const total = elementCount(shape);
  if (!elementMayBeArray(dtype)) {
    if (!Array.isArray(values)) {
      if (total === 1) return [[values]];
      throw valueError(`Expected an array of ${total} values for a selection of shape [${shape.join(', ')}].`);
    }
    // A flat array of the right length is accepted for any shape.
    if (values.length === total && !values.some(Array.isArray)) return [values];
    const nested = nestedElements(values, shape);
    if (typeof nested === 'string') throw valueError(nested);
    const deep = nested.findIndex(Array.isArray);
    if (deep >= 0) throw valueError(`Too deeply nested at element #${deep}: expected a value.`);
    return [nested];
  }
  // Elements that are arrays themselves: nesting is decided by depth, not by which items are arrays.
  const readings: unknown[][] = [];
  const nested = nestedElements(values, shape);
  if (typeof nested !== 'string') readings.push(nested);
  if (Array.isArray(values) && values.length === total && (shape.length !== 1 || readings.length === 0)) readings.push(values);
  // As for every dtype, a one-element selection also takes the bare element.
  if (total === 1 && shape.length > 0) readings.push([values]);
  if (readings.length === 0) throw valueError(typeof nested === 'string' ? nested : `Expected ${total} values for a selection of shape [${shape.join(', ')}].`);
  return readings;
}

function toBigInt(v: unknown): bigint {
  // A JSON number beyond ±(2^53−1) was already rounded to a double by JSON.parse: the
  // integer the client sent is lost, so refuse it rather than store a neighbour.
  if (typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v)) {
    throw problem(
      (where) =>
        `Value ${where} (${show(v)}) is beyond ±(2^53−1), where JSON numbers are not exact: send it as a decimal string ("${BigInt(v)}" is what arrived).`,
    );
  }
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?[0-9]{1,20}$/.test(v)) return BigInt(v);
  throw problem((where) => `Value ${where} (${show(v)}) is not an integer.`);
}

function toFloat(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity' || v === 'inf') return Infinity;
  if (v === '-Infinity' || v === '-inf') return -Infinity;
  throw problem((where) => `Value ${where} (${show(v)}) is not a number.`);
}

/** IEEE 754 binary16 bits of a number, rounding to nearest even. */
function toHalfBits(value: number): number {
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * Writes one JSON element `v` as `dtype` at byte `at` of `buf`, or throws an
 * ElementProblem. Writers do not know which element they write: the path to the value
 * (`#3.pos.x`) is put together only when something is wrong, on the way out.
 */
type ElementWriter = (buf: Buffer, at: number, v: unknown) => void;

/** What is wrong with a value, said once its path (`#3`, `#3.pos.x`, `#3.v[2]`) is known. */
class ElementProblem extends Error {
  /** The path below the element: `.pos.x`, `[2]`. */
  path = '';
  constructor(readonly say: (where: string) => string) {
    super('an element problem escaped json-codec');
  }
}

function problem(say: (where: string) => string): ElementProblem {
  return new ElementProblem(say);
}

/** Adds `step` (`.x`, `.re`, `[2]`) to the front of the path of a problem passing through. */
function below(err: unknown, step: string): unknown {
  if (err instanceof ElementProblem) err.path = step + err.path;
  return err;
}

function intWriter(kind: 'int' | 'uint', size: number, le: boolean): ElementWriter {
  const [lo, hi] = kind === 'int' ? INT_RANGES[size]! : [0n, 2n ** BigInt(size * 8) - 1n];
  const [loN, hiN] = [Number(lo), Number(hi)];
  return (buf, at, v) => {
    if (size <= 4 && typeof v === 'number' && Number.isInteger(v) && v >= loN && v <= hiN) {
      // Exact in a JS number: no BigInt needed.
      if (kind === 'int') {
        if (le) buf.writeIntLE(v, at, size);
        else buf.writeIntBE(v, at, size);
      } else if (le) buf.writeUIntLE(v, at, size);
      else buf.writeUIntBE(v, at, size);
      return;
    }
    const n = toBigInt(v);
    if (n < lo || n > hi) throw problem((where) => `Value ${where} (${n}) is out of range for ${kind}${size * 8}.`);
    const u = n < 0n ? n + 2n ** BigInt(size * 8) : n;
    for (let b = 0; b < size; b++) buf[le ? at + b : at + size - 1 - b] = Number((u >> BigInt(8 * b)) & 0xffn);
  };
}

/** Writes a float already converted from JSON. */
function floatBits(size: number, le: boolean): (buf: Buffer, at: number, f: number) => void {
  if (size === 8) return (buf, at, f) => void (le ? buf.writeDoubleLE(f, at) : buf.writeDoubleBE(f, at));
  if (size === 4)
    return (buf, at, f) => {
      if (Number.isFinite(f) && Math.abs(f) > 3.4028234663852886e38) throw problem((where) => `Value ${where} (${f}) is out of range for float32.`);
      if (le) buf.writeFloatLE(f, at);
      else buf.writeFloatBE(f, at);
    };
  return (buf, at, f) => {
    if (Number.isFinite(f) && Math.abs(f) > 65504) throw problem((where) => `Value ${where} (${f}) is out of range for float16.`);
    if (le) buf.writeUInt16LE(toHalfBits(f), at);
    else buf.writeUInt16BE(toHalfBits(f), at);
  };
}

function enumWriter(d: EnumDtype): ElementWriter {
  const byName = new Map(d.members.map((m) => [m.name, m.value]));
  const values = new Set(d.members.map((m) => m.value));
  const base = intWriter(d.base, d.size, d.order === 'le');
  const names = () => {
    const all = d.members.map((m) => m.name);
    return all.length > 8 ? `${all.slice(0, 8).join(', ')}, ...` : all.join(', ');
  };
  return (buf, at, v) => {
    if (typeof v === 'string') {
      const value = byName.get(v);
      if (value === undefined) throw problem((where) => `Value ${where} (${show(v)}) is not a member of the enum (${names()}).`);
      base(buf, at, value);
    } else if (typeof v === 'number' && values.has(v)) {
      base(buf, at, v);
    } else {
      throw problem((where) => `Value ${where} (${show(v)}) is neither a member name nor a member value of the enum (${names()}).`);
    }
  };
}

function compoundWriter(d: CompoundDtype): ElementWriter {
  const fields = d.fields.map((f) => ({ name: f.name, offset: f.offset, path: `.${f.name}`, write: writerFor(f.dtype) }));
  const names = new Set(d.fields.map((f) => f.name));
  const list = () => d.fields.map((f) => f.name).join(', ');
  return (buf, at, v) => {
    if (Array.isArray(v)) {
      if (v.length !== fields.length)
        throw problem((where) => `Value ${where} has ${v.length} items; a row of this compound has ${fields.length} (${list()}).`);
      let k = 0;
      try {
        for (; k < fields.length; k++) fields[k]!.write(buf, at + fields[k]!.offset, v[k]);
      } catch (err) {
        throw below(err, fields[k]!.path);
      }
    } else if (typeof v === 'object' && v !== null) {
      const obj = v as Record<string, unknown>;
      for (const key of Object.keys(obj))
        if (!names.has(key)) throw problem((where) => `Value ${where} has a field '${key}' the compound does not have (${list()}).`);
      for (const f of fields) {
        if (!Object.hasOwn(obj, f.name)) throw problem((where) => `Value ${where} lacks the field '${f.name}'.`);
        try {
          f.write(buf, at + f.offset, obj[f.name]);
        } catch (err) {
          throw below(err, f.path);
        }
      }
    } else {
      throw problem((where) => `Value ${where} (${show(v)}) is not a record: send an object with the fields ${list()}, or an array of them in that order.`);
    }
  };
}

function writerFor(dtype: Dtype): ElementWriter {
  const le = dtype.order === 'le';
  switch (dtype.kind) {
    case 'int':
    case 'uint':
      return intWriter(dtype.kind, dtype.size, le);
    case 'float': {
      const bits = floatBits(dtype.size, le);
      return (buf, at, v) => bits(buf, at, toFloat(v));
    }
    case 'complex': {
      const part = dtype.size / 2;
      const bits = floatBits(part, le);
      return (buf, at, v) => {
        if (Array.isArray(v)) {
          if (v.length !== 2) throw problem((where) => `Value ${where} (${show(v)}) is not a complex number: send [re, im] or a real number.`);
          for (let k = 0; k < 2; k++) {
            try {
              bits(buf, at + k * part, toFloat(v[k]));
            } catch (err) {
              throw below(err, k === 0 ? '.re' : '.im');
            }
          }
        } else {
          bits(buf, at, toFloat(v));
          bits(buf, at + part, 0);
        }
      };
    }
    case 'bool':
      return (buf, at, v) => {
        if (v === true || v === 1) buf[at] = 1;
        else if (v === false || v === 0) buf[at] = 0;
        else throw problem((where) => `Value ${where} (${show(v)}) is not a boolean.`);
      };
    case 'bytes': {
      const size = dtype.size;
      return (buf, at, v) => {
        if (typeof v !== 'string') throw problem((where) => `Value ${where} is not a string.`);
        buf.fill(0, at, at + size);
        const n = buf.write(v, at, size, 'utf8');
        if (Buffer.byteLength(v, 'utf8') > n || n > size)
          throw problem((where) => `Value ${where} is ${Buffer.byteLength(v, 'utf8')} bytes long; S${size} holds ${size}.`);
      };
    }
    case 'enum':
      return enumWriter(dtype);
    case 'compound':
      return compoundWriter(dtype);
    case 'array': {
      const base = dtype.base;
      const shape = dtype.shape;
      const write = writerFor(base);
      return (buf, at, v) => encodeElements(buf, at, v, base, shape, write, false);
    }
    case 'string':
      return () => {
        throw new InputError('PH5_ERR_TYPE', 'Variable-length strings are encoded as fixed-width slots (encodeJsonPayload), not in place.');
      };
  }
}

/**
 * Encodes `values` as the elements of `shape` at byte `at` of `buf`, taking the first of
 * the readings (nested, flat) whose elements all encode; the first reading's error
 * otherwise. At the top (`top`), problems become PH5_ERR_VALUE naming the element
 * (`#3.x`); inside an array field they stay problems, their path prefixed by `[k]`.
 */
function encodeElements(buf: Buffer, at: number, values: unknown, dtype: Dtype, shape: readonly number[], write: ElementWriter, top: boolean): void {
  let readings: unknown[][];
  try {
    readings = elementReadings(values, shape, dtype);
  } catch (err) {
    if (top || !(err instanceof InputError)) throw err;
    const what = err.message.replace('a selection of shape', 'shape').replace(/^E/, 'e');
    throw problem((where) => `Value ${where} does not have the field's shape: ${what}`);
  }
  let first: unknown = null;
  for (const elements of readings) {
    // A reading that failed part-way may have written some elements: start clean.
    if (first !== null) buf.fill(0, at, at + elements.length * dtype.size);
    let k = 0;
    try {
      for (; k < elements.length; k++) write(buf, at + k * dtype.size, elements[k]);
      return;
    } catch (err) {
      if (!(err instanceof ElementProblem)) throw err;
      first ??= top ? valueError(err.say(`#${k}${err.path}`)) : ((err.path = `[${k}]${err.path}`), err);
    }
  }
  throw first;
}

/**
 * Encodes JSON values for a selection of `shape` as bytes of `dtype` (every fixed-size
 * kind). A variable-length `string` dtype gives its S<W> slots (see encodeJsonPayload,
 * which also says W).
 */
export function encodeJson(values: unknown, dtype: Dtype, shape: readonly number[]): Buffer {
  return encodeJsonPayload(values, dtype, shape).bytes;
}

/**
 * Encodes JSON values for a selection of `shape` of a `dtype` dataset, and says the
 * dtype of the bytes: `dtype` itself for fixed-size kinds; for a variable-length
 * `string` dataset, fixed-width slots `{kind: 'bytes', size: W}` with W the longest value
 * in UTF-8 (at least 1), null-padded. A value with a NUL, or (for `str:ascii`) a
 * character beyond ASCII, or longer than 64 KiB, is PH5_ERR_VALUE.
 */
export function encodeJsonPayload(values: unknown, dtype: Dtype, shape: readonly number[]): { bytes: Buffer; dtype: Dtype } {
  if (dtype.kind === 'string') {
    const strings = elementReadings(values, shape, dtype)[0]!;
    let width = 1;
    strings.forEach((v, i) => {
      if (typeof v !== 'string') throw valueError(`Value #${i} (${show(v)}) is not a string.`);
      if (v.includes('\0')) throw valueError(`Value #${i} contains a NUL character, which a variable-length string cannot hold.`);
      // eslint-disable-next-line no-control-regex -- the range of ASCII, not a stray control character
      if (dtype.charset === 'ascii' && /[^\x00-\x7f]/.test(v)) throw valueError(`Value #${i} (${show(v)}) is not ASCII, as this str:ascii dataset requires.`);
      const n = Buffer.byteLength(v, 'utf8');
      if (n > MAX_BYTES_SIZE) throw valueError(`Value #${i} is ${n} bytes long; a string value may have at most ${MAX_BYTES_SIZE}.`);
      if (n > width) width = n;
    });
    const bytes = Buffer.alloc(strings.length * width);
    strings.forEach((v, i) => bytes.write(v as string, i * width, 'utf8'));
    const slots: BytesDtype = { kind: 'bytes', size: width, order: 'le' };
    return { bytes, dtype: slots };
  }
  const bytes = Buffer.alloc(elementCount(shape) * dtype.size);
  encodeElements(bytes, 0, values, dtype, shape, writerFor(dtype), true);
  return { bytes, dtype };
}

/** Reads one element of a dtype at byte `at` of `bytes`, as its JSON value. */
type ElementAtReader = (bytes: Buffer, at: number) => unknown;

function readerFor(dtype: Dtype): ElementAtReader {
  const le = dtype.order === 'le';
  const size = dtype.size;
  switch (dtype.kind) {
    case 'int':
    case 'uint': {
      if (size === 8) {
        const big = dtype.kind === 'int' ? (le ? 'readBigInt64LE' : 'readBigInt64BE') : le ? 'readBigUInt64LE' : 'readBigUInt64BE';
        return (bytes, at) => {
          const n = bytes[big](at);
          return n >= MIN_SAFE && n <= MAX_SAFE ? Number(n) : n.toString();
        };
      }
      if (size === 1) return dtype.kind === 'int' ? (bytes, at) => bytes.readInt8(at) : (bytes, at) => bytes.readUInt8(at);
      if (dtype.kind === 'int') return le ? (bytes, at) => bytes.readIntLE(at, size) : (bytes, at) => bytes.readIntBE(at, size);
      return le ? (bytes, at) => bytes.readUIntLE(at, size) : (bytes, at) => bytes.readUIntBE(at, size);
    }
    case 'float': {
      const finite = (f: number): unknown => (Number.isFinite(f) ? f : String(f));
      if (size === 8) return le ? (bytes, at) => finite(bytes.readDoubleLE(at)) : (bytes, at) => finite(bytes.readDoubleBE(at));
      if (size === 4) return le ? (bytes, at) => finite(bytes.readFloatLE(at)) : (bytes, at) => finite(bytes.readFloatBE(at));
      return le ? (bytes, at) => finite(fromHalfBits(bytes.readUInt16LE(at))) : (bytes, at) => finite(fromHalfBits(bytes.readUInt16BE(at)));
    }
    case 'complex': {
      const part = size / 2;
      const read = readerFor({ kind: 'float', size: part, order: dtype.order });
      return (bytes, at) => [read(bytes, at), read(bytes, at + part)];
    }
    case 'bool':
      return (bytes, at) => bytes[at] !== 0;
    case 'bytes':
      return (bytes, at) => {
        let end = at + size;
        while (end > at && bytes[end - 1] === 0) end--;
        return bytes.toString('utf8', at, end);
      };
    case 'enum': {
      const read = readerFor({ kind: dtype.base, size: dtype.size, order: dtype.order });
      const byValue = new Map<unknown, string>(dtype.members.map((m) => [m.value, m.name]));
      return (bytes, at) => {
        const v = read(bytes, at);
        return byValue.get(v) ?? v;
      };
    }
    case 'compound': {
      const fields = dtype.fields.map((f) => ({ name: f.name, offset: f.offset, read: readerFor(f.dtype) }));
      return (bytes, at) => {
        const record: Record<string, unknown> = {};
        for (const f of fields) {
          const v = f.read(bytes, at + f.offset);
          // A field named __proto__ must be a property, not the prototype.
          if (f.name === '__proto__') Object.defineProperty(record, f.name, { value: v, enumerable: true, writable: true, configurable: true });
          else record[f.name] = v;
        }
        return record;
      };
    }
    case 'array': {
      const read = readerFor(dtype.base);
      const shape = dtype.shape;
      const step = dtype.base.size;
      return (bytes, at) => {
        let next = 0;
        const build = (dim: number): unknown => {
          if (dim === shape.length) return read(bytes, at + step * next++);
          return Array.from({ length: shape[dim]! }, () => build(dim + 1));
        };
        return build(0);
      };
    }
    case 'string':
      return () => {
        throw new Error('variable-length strings are read with readStrings and nested with decodeStrings, not from bytes');
      };
  }
}

/**
 * How one element of `dtype` reads as JSON, as decodeJson and the streamed JSON answer
 * (json-stream.ts) give it: 64-bit integers beyond 2^53-1 as decimal strings rather than
 * silently rounded numbers, non-finite floats as "NaN" / "Infinity" / "-Infinity",
 * complex as [re, im], enums as member names, compounds as objects in field order.
 * `i` counts elements from the start of `bytes`. Not for `string` (decodeStrings).
 */
export function elementReader(dtype: Dtype): (bytes: Buffer, i: number) => unknown {
  const read = readerFor(dtype);
  const size = dtype.size;
  return (bytes, i) => read(bytes, i * size);
}

/** Nests the elements of `next()` (C order) as arrays of `shape`. */
function nest(shape: readonly number[], next: () => unknown): unknown {
  const build = (dim: number): unknown => {
    if (dim === shape.length) return next();
    return Array.from({ length: shape[dim]! }, () => build(dim + 1));
  };
  return build(0);
}

/** Decodes bytes of `dtype` into nested arrays of `shape` (element forms as elementReader). */
export function decodeJson(bytes: Buffer, dtype: Dtype, shape: readonly number[]): unknown {
  const read = readerFor(dtype);
  let at = 0;
  return nest(shape, () => {
    const v = read(bytes, at);
    at += dtype.size;
    return v;
  });
}

/** The values of a `string` selection (from the native readStrings, C order) nested as `shape`. */
export function decodeStrings(values: readonly string[], shape: readonly number[]): unknown {
  if (values.length !== elementCount(shape)) throw new Error(`decodeStrings: ${values.length} values for a selection of shape [${shape.join(', ')}]`);
  let next = 0;
  return nest(shape, () => values[next++]);
}
