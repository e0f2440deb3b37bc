/**
 * The shape of an attribute value given without one: every array is a dimension, except
 * where the dtype's single values are arrays themselves (complex pairs, compound rows) or
 * objects (compound records).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inferValueShape } from '../../services/api/domain/value-shape.js';
import type { Dtype } from '../../services/shared/dtype.js';

const f64: Dtype = { kind: 'float', size: 8, order: 'le' };
const c64: Dtype = { kind: 'complex', size: 8, order: 'le' };
const colors: Dtype = {
  kind: 'enum',
  size: 1,
  order: 'le',
  base: 'uint',
  members: [
    { name: 'RED', value: 0 },
    { name: 'GREEN', value: 1 },
  ],
};
const xy: Dtype = {
  kind: 'compound',
  size: 16,
  order: 'le',
  fields: [
    { name: 'x', offset: 0, dtype: f64 },
    { name: 'y', offset: 8, dtype: f64 },
  ],
};

const cases: [string, unknown, Dtype, number[]][] = [
  ['a number', 1.5, f64, []],
  [
    'nested numbers',
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
    f64,
    [2, 3],
  ],
  ['one complex pair is a scalar', [1, -1], c64, []],
  ['a plain number is a complex scalar', 2, c64, []],
  [
    'pairs are a 1-D array',
    [
      [1, 1],
      [2, -2],
      [3, 0],
    ],
    c64,
    [3],
  ],
  ['three numbers are not a pair', [1, 2, 3], c64, [3]],
  [
    'a 2-D array of pairs',
    [
      [
        [1, 0],
        [2, 0],
      ],
      [
        [3, 0],
        [4, 0],
      ],
    ],
    c64,
    [2, 2],
  ],
  ['an enum name', 'RED', colors, []],
  ['enum names', ['RED', 'GREEN', 1], colors, [3]],
  ['a record', { x: 1, y: 2 }, xy, []],
  [
    'records',
    [
      { x: 1, y: 2 },
      { x: 3, y: 4 },
    ],
    xy,
    [2],
  ],
  ['one row is a scalar', [1, 2], xy, []],
  [
    'rows',
    [
      [1, 2],
      [3, 4],
      [5, 6],
    ],
    xy,
    [3],
  ],
  ['a row of the wrong length is a dimension', [1, 2, 3], xy, [3]],
];

for (const [name, value, dtype, shape] of cases) {
  test(`inferValueShape: ${name}`, () => {
    assert.deepEqual(inferValueShape(value, dtype), shape);
  });
}
