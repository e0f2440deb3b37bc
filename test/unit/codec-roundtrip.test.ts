/**
 * Randomised round trips over generated dtypes (seeded, so a failure repeats): spec and
 * canonical text, JSON values through bytes and back, the streamed answer against the
 * whole one for random cuts, and the .npy header of each dtype back to the same dtype.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dtypeSpec, formatDtype, parseDtype, parseDtypeSpec, type Dtype } from '../../services/shared/dtype.js';
import { decodeJson, encodeJson } from '../../services/shared/json-codec.js';
import { JsonValueEncoder } from '../../services/shared/json-stream.js';
import { encodeNpyHeader, parseNpyHeader } from '../../services/shared/npy.js';

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generator(seed: number) {
  const r = prng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const scalarNames = ['int8', 'uint8', '>i2', 'uint16', 'int32', '>u4', 'int64', '>u8', 'float16', '>f4', 'float64', 'bool', 'S1', 'S5', 'complex64', '>c16'];
  const spec = (depth: number): unknown => {
    const roll = r();
    if (depth < 3 && roll < 0.2) {
      const n = 1 + int(4);
      let offset = 0;
      const fields = Array.from({ length: n }, (_, i) => {
        const field: Record<string, unknown> = { name: pick(['x', 'y', 'é', 'a b', "q'", 'n\\']) + i, dtype: spec(depth + 1) };
        if (r() < 0.3) field.shape = r() < 0.5 ? [1 + int(3)] : [1 + int(2), 1 + int(3)];
        return field;
      });
      // Sometimes explicit offsets with gaps, and a tail.
      if (r() < 0.4) {
        for (const f of fields) {
          offset += int(4);
          f.offset = offset;
          offset += parseDtypeSpec({ fields: [{ ...f, offset: 0 }] }).size;
        }
        return { fields, itemsize: offset + int(5) };
      }
      return { fields };
    }
    if (roll < 0.3) {
      const base = pick(['int8', 'uint8', '>i2', 'uint16', 'int32', 'uint64']);
      const members: Record<string, number> = {};
      const n = 1 + int(4);
      for (let i = 0; i < n; i++) members[`M${i}`] = i * 3;
      return { enum: members, base };
    }
    return pick(scalarNames);
  };
  const value = (d: Dtype): unknown => {
    switch (d.kind) {
      case 'int':
      case 'uint': {
        if (d.size === 8 && r() < 0.3) return d.kind === 'int' ? '-9223372036854775808' : '18446744073709551615';
        const bits = Math.min(d.size * 8, 31);
        const n = int(2 ** bits - 1);
        return d.kind === 'int' ? n - 2 ** (bits - 1) : n;
      }
      case 'float':
        return pick([0, -1.5, 0.25, 'NaN', 'Infinity', '-Infinity', 1024, -0.125]);
      case 'complex':
        return [pick([0, 1.5, 'NaN', -2]), pick([0, -0.5, 'Infinity', 8])];
      case 'bool':
        return r() < 0.5;
      case 'bytes':
        return 'abcdefg'.slice(0, int(d.size + 1));
      case 'enum':
        return pick(d.members).name;
      case 'compound': {
        const rec: Record<string, unknown> = {};
        for (const f of d.fields) rec[f.name] = value(f.dtype);
        return rec;
      }
      case 'array': {
        const build = (dim: number): unknown => (dim === d.shape.length ? value(d.base) : Array.from({ length: d.shape[dim]! }, () => build(dim + 1)));
        return build(0);
      }
      default:
        throw new Error(`no values for ${d.kind}`);
    }
  };
  return { r, int, spec, value };
}

test('generated dtypes and values round-trip through every form', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const g = generator(seed);
    const dtype = parseDtypeSpec(g.spec(0));
    const label = `seed ${seed}: ${formatDtype(dtype)}`;
    // Spec and text.
    assert.deepEqual(parseDtypeSpec(dtypeSpec(dtype)), dtype, label);
    assert.deepEqual(parseDtype(formatDtype(dtype)), dtype, label);
    // Values through bytes.
    const shape = g.r() < 0.2 ? [] : g.r() < 0.5 ? [1 + g.int(5)] : [1 + g.int(3), 1 + g.int(3)];
    const count = shape.reduce((a, b) => a * b, 1);
    const flat = Array.from({ length: count }, () => g.value(dtype));
    const nested =
      shape.length === 0 ? flat[0] : shape.length === 1 ? flat : Array.from({ length: shape[0]! }, (_, i) => flat.slice(i * shape[1]!, (i + 1) * shape[1]!));
    const bytes = encodeJson(nested, dtype, shape);
    assert.equal(bytes.length, count * dtype.size, label);
    const back = decodeJson(bytes, dtype, shape);
    assert.deepEqual(back, nested, label);
    if (shape.length === 2) assert.deepEqual(encodeJson(flat, dtype, shape), bytes, `${label}: flat form`);
    assert.deepEqual(encodeJson(back, dtype, shape), bytes, `${label}: decoded values encode to the same bytes`);
    // The streamed answer, cut at random.
    const enc = new JsonValueEncoder(dtypeSpec(dtype), dtype, shape);
    let text = enc.head();
    for (let at = 0; at < count;) {
      const n = Math.min(count - at, 1 + g.int(3));
      text += enc.encode(bytes.subarray(at * dtype.size, (at + n) * dtype.size));
      at += n;
    }
    text += enc.tail();
    assert.equal(text, JSON.stringify({ dtype: dtypeSpec(dtype), shape, data: back }), label);
    // .npy: enums come back as their base integer; everything else as itself.
    const header = parseNpyHeader(encodeNpyHeader(dtype, shape))!;
    assert.deepEqual(header.shape, shape, label);
    assert.deepEqual(header.dtype, withoutEnums(dtype), `${label}: .npy`);
  }
});

/** What a .npy says of a dtype: enums as their base integers, fields in offset order. */
function withoutEnums(d: Dtype): Dtype {
  switch (d.kind) {
    case 'enum':
      return { kind: d.base, size: d.size, order: d.size === 1 ? 'le' : d.order };
    case 'compound':
      return { ...d, fields: [...d.fields].sort((a, b) => a.offset - b.offset).map((f) => ({ ...f, dtype: withoutEnums(f.dtype) })) };
    case 'array':
      return { ...d, base: withoutEnums(d.base) };
    default:
      return d;
  }
}
