/** Reads in the other byte order (services/api/routes/values/byte-order.ts): which runs to swap, and swapping them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applySwaps, byteOrderSwaps, type LooseDtype } from '../../services/api/routes/values/byte-order.js';

const i4 = (order: string): LooseDtype => ({ kind: 'int', size: 4, order });
const f8 = (order: string): LooseDtype => ({ kind: 'float', size: 8, order });
const c8 = (order: string): LooseDtype => ({ kind: 'complex', size: 8, order });
const compound = (a: string, b: string): LooseDtype => ({
  kind: 'compound',
  size: 16,
  order: 'le',
  fields: [
    { name: 'x', offset: 0, dtype: f8(a) },
    { name: 'n', offset: 8, dtype: { kind: 'int', size: 2, order: b } },
    { name: 'flag', offset: 10, dtype: { kind: 'bool', size: 1, order: 'le' } },
    { name: 'v', offset: 12, dtype: { kind: 'array', size: 4, order: 'le', base: { kind: 'uint', size: 2, order: b }, shape: [2] } },
  ],
});
const enumOf = (order: string, members = [{ name: 'A', value: 0 }]): LooseDtype => ({ kind: 'enum', size: 2, order, base: 'int', members });

test('byteOrderSwaps: the runs to reverse per element, or null when more than the byte order differs', () => {
  const table: [string, LooseDtype, LooseDtype, { offset: number; width: number }[] | null][] = [
    ['same int32', i4('le'), i4('le'), []],
    ['int32 le -> be', i4('le'), i4('be'), [{ offset: 0, width: 4 }]],
    ['uint8 has one order', { kind: 'uint', size: 1, order: 'le' }, { kind: 'uint', size: 1, order: 'be' }, []],
    ['another size', i4('le'), { kind: 'int', size: 8, order: 'le' }, null],
    ['another kind', i4('le'), { kind: 'uint', size: 4, order: 'be' }, null],
    [
      'complex64: each half',
      c8('le'),
      c8('be'),
      [
        { offset: 0, width: 4 },
        { offset: 4, width: 4 },
      ],
    ],
    ['enum int16', enumOf('le'), enumOf('be'), [{ offset: 0, width: 2 }]],
    ['enum with other members', enumOf('le'), enumOf('be', [{ name: 'B', value: 0 }]), null],
    ['bytes S4 vs S4', { kind: 'bytes', size: 4, order: 'le' }, { kind: 'bytes', size: 4, order: 'le' }, []],
    ['bool', { kind: 'bool', size: 1, order: 'le' }, { kind: 'bool', size: 1, order: 'le' }, []],
    [
      'compound: per field, array fields per element',
      compound('le', 'le'),
      compound('be', 'be'),
      [
        { offset: 0, width: 8 },
        { offset: 8, width: 2 },
        { offset: 12, width: 2 },
        { offset: 14, width: 2 },
      ],
    ],
    [
      'compound: one field flipped',
      compound('le', 'le'),
      compound('le', 'be'),
      [
        { offset: 8, width: 2 },
        { offset: 12, width: 2 },
        { offset: 14, width: 2 },
      ],
    ],
    [
      'compound: a field renamed',
      compound('le', 'le'),
      { ...compound('le', 'le'), fields: compound('le', 'le').fields!.map((f, i) => (i === 0 ? { ...f, name: 'y' } : f)) },
      null,
    ],
  ];
  for (const [name, from, to, want] of table) assert.deepEqual(byteOrderSwaps(from, to), want, name);
});

test('applySwaps reverses the runs in every element, in place', () => {
  const ints = Buffer.alloc(8);
  ints.writeInt32LE(1, 0);
  ints.writeInt32LE(-2, 4);
  applySwaps(ints, 4, [{ offset: 0, width: 4 }]);
  assert.deepEqual([ints.readInt32BE(0), ints.readInt32BE(4)], [1, -2]);
  // A record of f8 + i2 + 6 bytes of padding, twice: padding untouched.
  const rec = Buffer.alloc(32, 0xee);
  for (const [i, x, n] of [
    [0, 1.5, 7],
    [1, -3.25, -9],
  ] as const) {
    rec.writeDoubleLE(x, i * 16);
    rec.writeInt16LE(n, i * 16 + 8);
  }
  applySwaps(rec, 16, [
    { offset: 0, width: 8 },
    { offset: 8, width: 2 },
  ]);
  assert.deepEqual([rec.readDoubleBE(0), rec.readInt16BE(8), rec.readDoubleBE(16), rec.readInt16BE(24)], [1.5, 7, -3.25, -9]);
  assert.deepEqual([...rec.subarray(10, 16)], [0xee, 0xee, 0xee, 0xee, 0xee, 0xee]);
  const none = Buffer.from([1, 2, 3]);
  assert.deepEqual([...applySwaps(none, 1, [])], [1, 2, 3]);
});
