import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDtype } from '../../services/shared/dtype.js';
import { decodeJson, encodeJson } from '../../services/shared/json-codec.js';

test('JSON values encode to the bytes numpy would produce', () => {
  assert.deepEqual(encodeJson([0, 1, -2], parseDtype('int32'), [3]), Buffer.from([0, 0, 0, 0, 1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]));
  assert.deepEqual(encodeJson([1], parseDtype('>i4'), [1]), Buffer.from([0, 0, 0, 1]));
  assert.deepEqual(encodeJson([[true, false]], parseDtype('bool'), [1, 2]), Buffer.from([1, 0]));
  assert.deepEqual(encodeJson(['ab'], parseDtype('S4'), [1]), Buffer.from([0x61, 0x62, 0, 0]));
  assert.deepEqual(encodeJson([1.5], parseDtype('float16'), [1]), Buffer.from([0x00, 0x3e]));
  assert.deepEqual(encodeJson(['18446744073709551615'], parseDtype('uint64'), [1]), Buffer.alloc(8, 0xff));
  const f = encodeJson(
    [
      [1.25, 'NaN'],
      [-0.5, 1e300],
    ],
    parseDtype('float64'),
    [2, 2],
  );
  assert.equal(f.readDoubleLE(24), 1e300);
});

test('values round-trip through bytes', () => {
  for (const [dtype, values] of [
    ['int8', [-128, 127]],
    ['uint16', [0, 65535]],
    ['>i8', [-1, '9007199254740993']],
    ['float32', [0.5, -2]],
    ['float16', [0.5, -65504, 'Infinity']],
    ['S3', ['a', 'abc']],
  ] as const) {
    const d = parseDtype(dtype);
    assert.deepEqual(decodeJson(encodeJson(values, d, [values.length]), d, [values.length]), values, dtype);
  }
});

test('bad values and shapes are refused with PH5_ERR_VALUE', () => {
  const cases: Array<[unknown, string, number[]]> = [
    [[128], 'int8', [1]],
    [[-1], 'uint8', [1]],
    [[1.5], 'int32', [1]],
    [['x'], 'float64', [1]],
    [[2], 'bool', [1]],
    [['abcde'], 'S4', [1]],
    [[1, 2], 'int32', [3]],
    [[[1, 2], [3]], 'int32', [2, 2]],
    [
      [
        [1, [2]],
        [3, 4],
      ],
      'int32',
      [2, 2],
    ],
    [{ a: 1 }, 'int32', [2]],
    [[1e39], 'float32', [1]],
  ];
  for (const [values, dtype, shape] of cases) {
    assert.throws(
      () => encodeJson(values, parseDtype(dtype), shape),
      (e: any) => e.code === 'PH5_ERR_VALUE',
      `${JSON.stringify(values)} as ${dtype}`,
    );
  }
});
