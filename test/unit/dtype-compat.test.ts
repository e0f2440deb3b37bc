/**
 * Decisions on dtypes: which payload dtypes may be written to which dataset dtypes
 * (payloadCompatible), which dtypes have variable length, their element sizes, and the
 * short descriptions messages use.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeDtype, elementSize, hasVariableLength, isWideInteger, parseDtype, parseDtypeSpec, payloadCompatible } from '../../services/shared/dtype.js';

const d = (spec: unknown) => parseDtypeSpec(spec);
const point = (x: string, y: string) => ({
  fields: [
    { name: 'x', dtype: x },
    { name: 'y', dtype: y },
  ],
});

test('payloadCompatible: the same dtype up to byte orders, ints into enums, bytes into strings, compounds field by field by name', () => {
  const rgb = { enum: { R: 0, G: 1 }, base: 'uint8' };
  const cases: Array<[unknown, unknown, boolean]> = [
    ['int32', 'int32', true],
    ['>i4', 'int32', true],
    ['int32', 'uint32', false],
    ['int16', 'int32', false],
    ['float32', 'int32', false],
    ['>f8', 'float64', true],
    ['S4', 'S4', true],
    ['S3', 'S4', false],
    ['bool', 'bool', true],
    ['uint8', 'bool', false],
    ['>c16', 'complex128', true],
    ['complex64', 'complex128', false],
    ['float64', 'complex64', false],
    // variable-length strings: slots of any width
    ['S1', 'str', true],
    ['S200', 'str:ascii', true],
    ['str', 'str', false],
    ['uint8', 'str', false],
    // enums: the same enum (any order), or an integer of the base's size and signedness
    [rgb, rgb, true],
    ['uint8', rgb, true],
    ['int8', rgb, false],
    ['uint16', rgb, false],
    [{ enum: { LO: 0, HI: 1 }, base: '>i2' }, { enum: { LO: 0, HI: 1 }, base: 'int16' }, true],
    ['>i2', { enum: { LO: 0, HI: 1 }, base: 'int16' }, true],
    [{ enum: { R: 0, G: 2 }, base: 'uint8' }, rgb, false],
    [{ enum: { G: 1, R: 0 }, base: 'uint8' }, rgb, false],
    [rgb, 'uint8', false],
    // compounds: field by field
    [point('>f8', '>f8'), point('<f8', 'float64'), true],
    [point('f8', 'f4'), point('f8', 'f8'), false],
    [
      {
        fields: [
          { name: 'x', dtype: 'f8' },
          { name: 'z', dtype: 'f8' },
        ],
      },
      point('f8', 'f8'),
      false,
    ],
    [point('f8', 'f8'), { fields: [{ name: 'x', dtype: 'f8' }] }, false],
    [{ fields: [{ name: 'x', dtype: 'f8' }] }, point('f8', 'f8'), false],
    // HDF5 converts compounds by field name: layout may differ.
    [
      {
        fields: [
          { name: 'x', dtype: 'f8' },
          { name: 'y', dtype: 'f8' },
        ],
        itemsize: 24,
      },
      point('f8', 'f8'),
      true,
    ],
    [
      {
        fields: [
          { name: 'y', dtype: 'f8', offset: 8 },
          { name: 'x', dtype: 'f8', offset: 0 },
        ],
      },
      point('f8', 'f8'),
      true,
    ],
    [
      point('f8', 'f8'),
      {
        fields: [
          { name: 'y', dtype: 'f8' },
          { name: 'x', dtype: 'f8' },
        ],
      },
      true,
    ],
    // A .npy has no enums: an enum field comes as its base integer.
    [
      [
        ['e', '<i2'],
        ['c', '>c8'],
      ],
      {
        fields: [
          { name: 'e', dtype: { enum: { A: 1 }, base: 'int16' } },
          { name: 'c', dtype: 'complex64' },
        ],
      },
      true,
    ],
    [[['e', '<u2']], { fields: [{ name: 'e', dtype: { enum: { A: 1 }, base: 'int16' } }] }, false],
    [{ fields: [{ name: 'v', dtype: '>f4', shape: [3] }] }, { fields: [{ name: 'v', dtype: 'f4', shape: [3] }] }, true],
    [{ fields: [{ name: 'v', dtype: 'f4', shape: [3, 1] }] }, { fields: [{ name: 'v', dtype: 'f4', shape: [3] }] }, false],
    [{ fields: [{ name: 'p', dtype: point('>i2', '>i2') }] }, { fields: [{ name: 'p', dtype: point('i2', 'i2') }] }, true],
    [{ fields: [{ name: 'e', dtype: { enum: { A: 1 }, base: '>u2' } }] }, { fields: [{ name: 'e', dtype: { enum: { A: 1 }, base: 'uint16' } }] }, true],
  ];
  for (const [payload, target, expected] of cases) {
    assert.equal(payloadCompatible(d(payload), d(target)), expected, `${JSON.stringify(payload)} into ${JSON.stringify(target)}`);
  }
});

test('hasVariableLength and elementSize', () => {
  const cases: Array<[unknown, boolean, number]> = [
    ['int32', false, 4],
    ['S7', false, 7],
    ['complex128', false, 16],
    ['str', true, 0],
    ['str:ascii', true, 0],
    [{ enum: { A: 0 }, base: 'int64' }, false, 8],
    [
      {
        fields: [
          { name: 'a', dtype: 'i1' },
          { name: 'b', dtype: 'f8', offset: 8 },
        ],
      },
      false,
      16,
    ],
    [{ fields: [{ name: 'a', dtype: 'f4', shape: [2, 3] }] }, false, 24],
  ];
  for (const [spec, variable, size] of cases) {
    assert.equal(hasVariableLength(d(spec)), variable, JSON.stringify(spec));
    assert.equal(elementSize(d(spec)), size, JSON.stringify(spec));
  }
  // A string inside a compound cannot be spelled, but a dtype read from a file might hold one.
  const inside = {
    kind: 'compound',
    size: 16,
    order: 'le',
    fields: [{ name: 's', offset: 0, dtype: { kind: 'string', size: 0, order: 'le', charset: 'utf-8' } }],
  } as const;
  assert.equal(hasVariableLength(inside as any), true);
  assert.equal(elementSize(inside as any), 0);
});

test('isWideInteger is as before', () => {
  for (const [name, wide] of [
    ['int64', true],
    ['>u8', true],
    ['int32', false],
    ['float64', false],
    ['complex128', false],
  ] as const) {
    assert.equal(isWideInteger(parseDtype(name)), wide, name);
  }
});

test('describeDtype: short and readable', () => {
  const cases: Array<[unknown, string]> = [
    ['int32', 'int32'],
    ['>f8', '>f8'],
    ['complex64', 'complex64'],
    ['str', 'str'],
    [{ enum: { RED: 0, GREEN: 1 }, base: 'int8' }, 'enum int8 {RED, GREEN}'],
    [
      {
        fields: [
          { name: 'x', dtype: 'f8' },
          { name: 'v', dtype: 'f4', shape: [3] },
          { name: 'p', dtype: point('i2', 'i2') },
        ],
      },
      'compound {x: float64, v: float32[3], p: compound {x: int16, y: int16}}',
    ],
  ];
  for (const [spec, text] of cases) assert.equal(describeDtype(d(spec)), text);
  const wide = describeDtype(d({ fields: Array.from({ length: 100 }, (_, i) => ({ name: `field_with_a_long_name_${i}`, dtype: 'f8' })) }));
  assert.ok(wide.length <= 200 && wide.startsWith('compound {field_with_a_long_name_0: float64'), wide);
});
