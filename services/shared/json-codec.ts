/**
 * JSON values <-> raw element bytes in a dtype. JSON bodies are for convenience (small
 * writes, notebooks, curl); everything past the API is bytes, so a JSON write is encoded
 * here once, strictly: every value is range-checked for the dtype, and the nesting must
 * match the selection's shape (or be flat with the right length).
 */
import type { Dtype } from './dtype.js';
import { InputError } from './input-error.js';
import { elementCount } from './selection.js';

const INT_RANGES: Record<number, [bigint, bigint]> = {
  1: [-(2n ** 7n), 2n ** 7n - 1n],
  2: [-(2n ** 15n), 2n ** 15n - 1n],
  4: [-(2n ** 31n), 2n ** 31n - 1n],
  8: [-(2n ** 63n), 2n ** 63n - 1n],
};

function valueError(message: string): InputError {
  return new InputError('PH5_ERR_VALUE', message);
}

/** Flattens `values` in C order, checking that its nesting matches `shape`. */
function flatten(values: unknown, shape: readonly number[]): unknown[] {
  const total = elementCount(shape);
  if (!Array.isArray(values)) {
    if (total === 1) return [values];
    throw valueError(`Expected an array of ${total} values for a selection of shape [${shape.join(', ')}].`);
  }
  // A flat array of the right length is accepted for any shape.
  if (values.length === total && !values.some(Array.isArray)) return values;
  const out: unknown[] = [];
  const walk = (v: unknown, dim: number, where: string) => {
    if (dim === shape.length) {
      if (Array.isArray(v)) throw valueError(`Too deeply nested at ${where}: expected a value.`);
      out.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim]) {
      throw valueError(`Expected ${shape[dim]} items at ${where || 'the top level'} for a selection of shape [${shape.join(', ')}].`);
    }
    v.forEach((x, i) => walk(x, dim + 1, `${where}[${i}]`));
  };
  walk(values, 0, '');
  return out;
}

function toBigInt(v: unknown, i: number): bigint {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?[0-9]{1,20}$/.test(v)) return BigInt(v);
  throw valueError(`Value #${i} (${JSON.stringify(v)?.slice(0, 40)}) is not an integer.`);
}

function toFloat(v: unknown, i: number): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity' || v === 'inf') return Infinity;
  if (v === '-Infinity' || v === '-inf') return -Infinity;
  throw valueError(`Value #${i} (${JSON.stringify(v)?.slice(0, 40)}) is not a number.`);
}

/** IEEE 754 binary16 bits of a number, rounding to nearest even. */
function toHalfBits(value: number): number {
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
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

/** Encodes JSON values for a selection of `shape` as bytes of `dtype`. */
export function encodeJson(values: unknown, dtype: Dtype, shape: readonly number[]): Buffer {
  const flat = flatten(values, shape);
  const le = dtype.order === 'le';
  const buf = Buffer.alloc(flat.length * dtype.size);
  flat.forEach((v, i) => {
    const at = i * dtype.size;
    switch (dtype.kind) {
      case 'int':
      case 'uint': {
        const n = toBigInt(v, i);
        const [lo, hi] = dtype.kind === 'int' ? INT_RANGES[dtype.size]! : [0n, 2n ** BigInt(dtype.size * 8) - 1n];
        if (n < lo || n > hi) throw valueError(`Value #${i} (${n}) is out of range for ${dtype.kind}${dtype.size * 8}.`);
        const u = n < 0n ? n + 2n ** BigInt(dtype.size * 8) : n;
        for (let b = 0; b < dtype.size; b++) {
          const byte = Number((u >> BigInt(8 * b)) & 0xffn);
          buf[le ? at + b : at + dtype.size - 1 - b] = byte;
        }
        break;
      }
      case 'float': {
        const f = toFloat(v, i);
        if (dtype.size === 8) (le ? buf.writeDoubleLE : buf.writeDoubleBE).call(buf, f, at);
        else if (dtype.size === 4) {
          if (Number.isFinite(f) && Math.abs(f) > 3.4028234663852886e38) throw valueError(`Value #${i} (${f}) is out of range for float32.`);
          (le ? buf.writeFloatLE : buf.writeFloatBE).call(buf, f, at);
        } else {
          if (Number.isFinite(f) && Math.abs(f) > 65504) throw valueError(`Value #${i} (${f}) is out of range for float16.`);
          (le ? buf.writeUInt16LE : buf.writeUInt16BE).call(buf, toHalfBits(f), at);
        }
        break;
      }
      case 'bool':
        if (v === true || v === 1) buf[at] = 1;
        else if (v === false || v === 0) buf[at] = 0;
        else throw valueError(`Value #${i} (${JSON.stringify(v)?.slice(0, 40)}) is not a boolean.`);
        break;
      case 'bytes': {
        if (typeof v !== 'string') throw valueError(`Value #${i} is not a string.`);
        const bytes = Buffer.from(v, 'utf8');
        if (bytes.length > dtype.size) throw valueError(`Value #${i} is ${bytes.length} bytes long; S${dtype.size} holds ${dtype.size}.`);
        bytes.copy(buf, at);
        break;
      }
    }
  });
  return buf;
}

/**
 * How one element of `dtype` reads as JSON, as decodeJson and the streamed JSON answer
 * (json-stream.ts) give it: 64-bit integers beyond 2^53 as decimal strings rather than
 * silently rounded numbers, non-finite floats as "NaN" / "Infinity" / "-Infinity".
 * `i` counts elements from the start of `bytes`.
 */
export function elementReader(dtype: Dtype): (bytes: Buffer, i: number) => unknown {
  const le = dtype.order === 'le';
  const size = dtype.size;
  switch (dtype.kind) {
    case 'int':
    case 'uint': {
      if (size === 8) {
        const big = dtype.kind === 'int' ? (le ? 'readBigInt64LE' : 'readBigInt64BE') : le ? 'readBigUInt64LE' : 'readBigUInt64BE';
        return (bytes, i) => {
          const n = bytes[big](i * 8);
          return n >= MIN_SAFE && n <= MAX_SAFE ? Number(n) : n.toString();
        };
      }
      if (size === 1) return dtype.kind === 'int' ? (bytes, i) => bytes.readInt8(i) : (bytes, i) => bytes.readUInt8(i);
      if (dtype.kind === 'int') return le ? (bytes, i) => bytes.readIntLE(i * size, size) : (bytes, i) => bytes.readIntBE(i * size, size);
      return le ? (bytes, i) => bytes.readUIntLE(i * size, size) : (bytes, i) => bytes.readUIntBE(i * size, size);
    }
    case 'float': {
      const finite = (f: number): unknown => (Number.isFinite(f) ? f : String(f));
      if (size === 8) return le ? (bytes, i) => finite(bytes.readDoubleLE(i * 8)) : (bytes, i) => finite(bytes.readDoubleBE(i * 8));
      if (size === 4) return le ? (bytes, i) => finite(bytes.readFloatLE(i * 4)) : (bytes, i) => finite(bytes.readFloatBE(i * 4));
      return le ? (bytes, i) => finite(fromHalfBits(bytes.readUInt16LE(i * 2))) : (bytes, i) => finite(fromHalfBits(bytes.readUInt16BE(i * 2)));
    }
    case 'bool':
      return (bytes, i) => bytes[i] !== 0;
    case 'bytes':
      return (bytes, i) => {
        const at = i * size;
        let end = at + size;
        while (end > at && bytes[end - 1] === 0) end--;
        return bytes.toString('utf8', at, end);
      };
  }
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Decodes bytes of `dtype` into nested arrays of `shape`. 64-bit integers beyond 2^53
 * come back as decimal strings rather than silently rounded numbers.
 */
export function decodeJson(bytes: Buffer, dtype: Dtype, shape: readonly number[]): unknown {
  const read = elementReader(dtype);
  let next = 0;
  const build = (dim: number): unknown => {
    if (dim === shape.length) return read(bytes, next++);
    return Array.from({ length: shape[dim]! }, () => build(dim + 1));
  };
  return build(0);
}
