/**
 * The streamed JSON answer is exactly the text of the whole-selection encoder, however the
 * selection's bytes are cut into pieces (also mid-row), in every dtype.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDtype, parseDtype } from '../../services/shared/dtype.js';
import { decodeJson } from '../../services/shared/json-codec.js';
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
