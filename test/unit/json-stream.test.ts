/**
 * The streamed JSON answer is exactly the text of the whole-selection encoder, however the
 * selection's bytes are cut into pieces (also mid-row), in every dtype.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dtypeSpec, formatDtype, parseDtype, parseDtypeSpec } from '../../services/shared/dtype.js';
import { decodeJson, decodeStrings } from '../../services/shared/json-codec.js';
import { JsonValueEncoder } from '../../services/shared/json-stream.js';

function streamed(bytes: Buffer, dtypeText: string, shape: number[], cuts: number[]): string {
  const dtype = parseDtype(dtypeText);
  const enc = new JsonValueEncoder(formatDtype(dtype), dtype, shape);
  let text = enc.head();
  let at = 0;
  for (const n of [...cuts, Infinity]) {
    const end = Math.min(bytes.length, at + n * dtype.size);
    if (end > at) text += enc.encode(bytes.subarray(at, end));
    at = end;
  }
  return text + enc.tail();
}

function whole(bytes: Buffer, dtypeText: string, shape: number[]): string {
  const dtype = parseDtype(dtypeText);
  return JSON.stringify({ dtype: formatDtype(dtype), shape, data: decodeJson(bytes, dtype, shape) });
}

test('pieces of any size give the whole encoder’s text', () => {
  const f8 = Buffer.alloc(8 * 24);
  [0.5, -0, NaN, Infinity, -Infinity, 1e300, -3.25e-310, 7].forEach((v, i) => f8.writeDoubleLE(v, 8 * i));
  const i8 = Buffer.alloc(8 * 6);
  [2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 5n, -7n, 2n ** 53n - 1n].forEach((v, i) => i8.writeBigInt64BE(v, 8 * i));
  const s = Buffer.from(['abc\0\0\0', '"q\\u\0\0', 'é\0\0\0\0\0'].join(''), 'latin1'); // 3 × S6: quotes, backslash, a lone byte
  const cases: Array<[Buffer, string, number[]]> = [
    [f8, '<f8', [24]],
    [f8, '<f8', [4, 6]],
    [f8, '<f8', [2, 3, 4]],
    [f8, '<f8', [1, 24]],
    [i8, '>i8', [3, 2]],
    [Buffer.from([0, 1, 2, 255, 128, 7]), 'u1', [2, 3]],
    [Buffer.from([0, 1, 2, 255, 128, 7]), 'i1', [6]],
    [Buffer.from([1, 0, 1, 1]), 'bool', [2, 2]],
    [Buffer.from([0x00, 0x3c, 0x00, 0x7c, 0x00, 0xfc, 0x01, 0x7c]), '<f2', [4]],
    [s, 'S6', [3]],
    [Buffer.from([0, 0, 0x80, 0x7f, 0, 0, 0xc0, 0x7f]), '<f4', [2]],
  ];
  for (const [bytes, dtype, shape] of cases) {
    const n = bytes.length / parseDtype(dtype).size;
    const expected = whole(bytes, dtype, shape);
    for (const cuts of [[n], [1], [2, 3], [5, 1, 1, 7], [3]]) {
      const repeated = cuts.length === 1 ? Array.from({ length: Math.ceil(n / cuts[0]!) }, () => cuts[0]!) : cuts;
      assert.equal(streamed(bytes, dtype, shape, repeated), expected, `${dtype} ${shape} cut ${cuts}`);
    }
  }
});

test('a scalar, and a selection with no elements', () => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(-0.125);
  assert.equal(streamed(b, '<f8', [], [1]), whole(b, '<f8', []));
  const dtype = parseDtype('<i4');
  for (const shape of [[0], [2, 0], [0, 3]]) {
    assert.equal(new JsonValueEncoder('int32', dtype, shape).empty(), whole(Buffer.alloc(0), '<i4', shape), `${shape}`);
  }
});

test('more bytes than the selection holds, or fewer before the tail, is a bug caught loudly', () => {
  const dtype = parseDtype('<f8');
  const enc = new JsonValueEncoder('float64', dtype, [2]);
  assert.throws(() => enc.encode(Buffer.alloc(24)));
  enc.encode(Buffer.alloc(8));
  assert.throws(() => enc.tail());
});

test('compound, complex and enum pieces give the whole encoder’s text', () => {
  const specs: unknown[] = [
    'complex64',
    '>c16',
    { enum: { OFF: 0, ON: 1, 'say "hi"': 2 }, base: '>i2' },
    {
      fields: [
        { name: 'n', dtype: 'int64' },
        { name: 'v', dtype: '>f4', shape: [2] },
        { name: 'e', dtype: { enum: { A: 1 }, base: 'uint8' } },
        { name: 's', dtype: 'S3', offset: 20 },
      ],
      itemsize: 24,
    },
    [
      [
        'p',
        [
          ['x', '<f2'],
          ['y', '|b1'],
        ],
      ],
      ['', '|V3'],
      ['c', '<c8', [1, 2]],
    ],
  ];
  for (const spec of specs) {
    const dtype = parseDtypeSpec(spec);
    const n = 12;
    // Bytes with non-finite floats, wide integers, non-members and odd strings in them.
    const bytes = Buffer.alloc(n * dtype.size);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37 + 11) % 256;
    for (const [shape, cuts] of [
      [[12], [5, 1, 6]],
      [
        [3, 4],
        [1, 1, 1, 9],
      ],
      [
        [2, 3, 2],
        [7, 5],
      ],
      [[12], [12]],
    ] as const) {
      const enc = new JsonValueEncoder(dtypeSpec(dtype), dtype, shape);
      let text = enc.head();
      let at = 0;
      for (const c of cuts) {
        text += enc.encode(bytes.subarray(at, at + c * dtype.size));
        at += c * dtype.size;
      }
      text += enc.tail();
      assert.equal(text, JSON.stringify({ dtype: dtypeSpec(dtype), shape, data: decodeJson(bytes, dtype, shape) }), `${JSON.stringify(spec)} ${shape} ${cuts}`);
      JSON.parse(text);
    }
  }
});

test('variable-length strings stream from their values, cut anywhere', () => {
  const dtype = parseDtype('str');
  const values = ['a', '"quoted"', 'back\\slash', 'é✓', '', 'line\nbreak'];
  for (const [shape, cuts] of [
    [[6], [1, 2, 3]],
    [
      [2, 3],
      [4, 2],
    ],
    [[3, 2], [6]],
    [
      [1, 6, 1],
      [1, 1, 1, 1, 1, 1],
    ],
  ] as const) {
    const enc = new JsonValueEncoder('str', dtype, shape);
    let text = enc.head();
    let at = 0;
    for (const c of cuts) {
      text += enc.encodeStrings(values.slice(at, at + c));
      at += c;
    }
    text += enc.tail();
    assert.equal(text, JSON.stringify({ dtype: 'str', shape, data: decodeStrings(values, shape) }), `${shape} ${cuts}`);
  }
  const scalar = new JsonValueEncoder('str', dtype, []);
  assert.equal(scalar.head() + scalar.encodeStrings(['x']) + scalar.tail(), '{"dtype":"str","shape":[],"data":"x"}');
  assert.equal(new JsonValueEncoder('str', dtype, [0, 2]).empty(), '{"dtype":"str","shape":[0,2],"data":[]}');
  assert.throws(() => new JsonValueEncoder('str', dtype, [2]).encode(Buffer.alloc(2)));
  assert.throws(() => new JsonValueEncoder('int32', parseDtype('int32'), [2]).encodeStrings(['a']));
  const over = new JsonValueEncoder('str', dtype, [1]);
  assert.throws(() => over.encodeStrings(['a', 'b']));
});

test('an empty selection of a compound', () => {
  const dtype = parseDtypeSpec([['x', '<f8']]);
  assert.equal(
    new JsonValueEncoder(dtypeSpec(dtype), dtype, [2, 0]).empty(),
    '{"dtype":{"fields":[{"name":"x","dtype":"float64","offset":0}],"itemsize":8},"shape":[2,0],"data":[[],[]]}',
  );
});
