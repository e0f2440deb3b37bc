/**
 * JSON values of the types beyond numbers: complex, enums, compounds (objects or rows,
 * nested, with array fields), variable-length strings as fixed-width slots. Nesting is
 * decided by the selection's depth, so elements that are JSON arrays themselves work in
 * both the nested and the flat form. Errors say which element and which field.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDtypeSpec } from '../../services/shared/dtype.js';
import { decodeJson, decodeStrings, elementReader, encodeJson, encodeJsonPayload } from '../../services/shared/json-codec.js';

const dt = parseDtypeSpec;
const refused = (fn: () => unknown, message: RegExp, code = 'PH5_ERR_VALUE') =>
  assert.throws(fn, (e: any) => {
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });

test('complex: [re, im] or a real number; little- and big-endian; non-finite parts', () => {
  const c8 = dt('complex64');
  const bytes = encodeJson([[1.5, -2], 3, ['NaN', 'Infinity']], c8, [3]);
  const expected = Buffer.alloc(24);
  [1.5, -2, 3, 0, NaN, Infinity].forEach((v, i) => expected.writeFloatLE(v, 4 * i));
  assert.deepEqual(bytes, expected);
  assert.deepEqual(decodeJson(bytes, c8, [3]), [
    [1.5, -2],
    [3, 0],
    ['NaN', 'Infinity'],
  ]);
  const be = encodeJson([[0.1, -0.2]], dt('>c16'), [1]);
  assert.deepEqual(encodeJson([0.1, -0.2], dt('>c16'), [1]), be, 'a one-element selection takes the bare element');
  refused(() => encodeJson([0.1, -0.2, 0.3], dt('>c16'), [1]), /Value #0 \(\[0.1,-0.2,0.3\]\) is not a complex number/);
  assert.equal(be.readDoubleBE(0), 0.1);
  assert.equal(be.readDoubleBE(8), -0.2);
  assert.deepEqual(decodeJson(be, dt('>c16'), []), [0.1, -0.2]);
  refused(() => encodeJson([[1, 2, 3]], c8, [1]), /Value #0 \(\[1,2,3\]\) is not a complex number/);
  refused(() => encodeJson([[1, 1e39]], c8, [1]), /Value #0\.im \(1e\+39\) is out of range for float32/);
  refused(
    () =>
      encodeJson(
        [
          [1, 2],
          ['x', 0],
        ],
        c8,
        [2],
      ),
    /Value #1\.re \("x"\) is not a number/,
  );
});

test('nesting is decided by depth: nested and flat forms of array-like elements', () => {
  const c16 = dt('complex128');
  const four = [
    [1, 2],
    [3, 4],
    [5, 6],
    [7, 8],
  ];
  const nested = encodeJson(
    [
      [
        [1, 2],
        [3, 4],
      ],
      [
        [5, 6],
        [7, 8],
      ],
    ],
    c16,
    [2, 2],
  );
  assert.deepEqual(encodeJson(four, c16, [2, 2]), nested, 'flat form');
  assert.deepEqual(decodeJson(nested, c16, [2, 2]), [
    [
      [1, 2],
      [3, 4],
    ],
    [
      [5, 6],
      [7, 8],
    ],
  ]);
  // [[1, 2], [3, 4]] for shape [2, 2] is four real numbers, not two complex ones.
  assert.deepEqual(
    decodeJson(
      encodeJson(
        [
          [1, 2],
          [3, 4],
        ],
        c16,
        [2, 2],
      ),
      c16,
      [2, 2],
    ),
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
  );
  // Scalars: the element itself, or a one-element list of it.
  for (const v of [[1, 2], [[1, 2]]]) assert.deepEqual(decodeJson(encodeJson(v, c16, []), c16, []), [1, 2]);
  assert.deepEqual(decodeJson(encodeJson(5, c16, []), c16, []), [5, 0]);
  assert.deepEqual(decodeJson(encodeJson([5], c16, []), c16, []), [5, 0]);
  // Shape [3, 1]: nested rows, or a flat list of elements.
  assert.deepEqual(
    encodeJson([[[1, 1]], [[2, 2]], [[3, 3]]], c16, [3, 1]),
    encodeJson(
      [
        [1, 1],
        [2, 2],
        [3, 3],
      ],
      c16,
      [3, 1],
    ),
  );
  // Compound rows: a row is an array too.
  const rec = dt([
    ['a', '<i2'],
    ['b', '<i2'],
  ]);
  const rows = encodeJson(
    [
      [
        [1, 2],
        [3, 4],
      ],
      [
        [5, 6],
        [7, 8],
      ],
    ],
    rec,
    [2, 2],
  );
  assert.deepEqual(
    encodeJson(
      [
        [1, 2],
        [3, 4],
        [5, 6],
        [7, 8],
      ],
      rec,
      [2, 2],
    ),
    rows,
  );
  assert.deepEqual(Array.from(new Int16Array(rows.buffer, rows.byteOffset, 8)), [1, 2, 3, 4, 5, 6, 7, 8]);
  refused(
    () =>
      encodeJson(
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
        rec,
        [2, 2],
      ),
    /Expected 2 items at the top level/,
  );
  refused(() => encodeJson([[1, 2]], rec, [2]), /Expected 2 items at the top level/);
  // A failed nested reading leaves nothing behind in the flat one.
  const s = dt([['s', 'S4']]);
  assert.deepEqual(encodeJson([['abcd'], ['x']], s, [2, 1]), Buffer.from('abcdx\0\0\0', 'latin1'));
});

test('enums: names or member values in, names out; a value that is no member reads as its integer', () => {
  const rgb = dt({ enum: { RED: 0, GREEN: 1, BLUE: 7 }, base: '>i2' });
  const bytes = encodeJson(['RED', 1, 'BLUE'], rgb, [3]);
  assert.deepEqual(bytes, Buffer.from([0, 0, 0, 1, 0, 7]));
  assert.deepEqual(decodeJson(bytes, rgb, [3]), ['RED', 'GREEN', 'BLUE']);
  assert.deepEqual(decodeJson(Buffer.from([0, 5, 0xff, 0xff]), rgb, [2]), [5, -1]);
  refused(() => encodeJson(['red'], rgb, [1]), /Value #0 \("red"\) is not a member of the enum \(RED, GREEN, BLUE\)/);
  refused(() => encodeJson([2], rgb, [1]), /Value #0 \(2\) is neither a member name nor a member value/);
  refused(() => encodeJson([true], rgb, [1]), /neither a member name nor a member value/);
  const wide = dt({ enum: { BIG: 2 ** 53 - 1 }, base: 'uint64' });
  assert.deepEqual(decodeJson(encodeJson(['BIG'], wide, [1]), wide, [1]), ['BIG']);
  assert.deepEqual(decodeJson(Buffer.alloc(8, 0xff), wide, []), '18446744073709551615', 'a non-member beyond 2^53-1 is a decimal string');
});

test('compounds: objects or rows in, objects in field order out; padding is zero', () => {
  const d = dt({
    fields: [
      { name: 'id', dtype: 'uint8' },
      { name: 'x', dtype: 'float64', offset: 8 },
      { name: 'tag', dtype: 'S3', offset: 16 },
    ],
    itemsize: 24,
  });
  const fromObjects = encodeJson(
    [
      { x: 1.5, id: 7, tag: 'ab' },
      { id: 8, tag: 'xyz', x: 'NaN' },
    ],
    d,
    [2],
  );
  const fromRows = encodeJson(
    [
      [7, 1.5, 'ab'],
      [8, 'NaN', 'xyz'],
    ],
    d,
    [2],
  );
  assert.deepEqual(fromObjects, fromRows);
  assert.equal(fromObjects.length, 48);
  assert.equal(fromObjects[0], 7);
  assert.deepEqual(fromObjects.subarray(1, 8), Buffer.alloc(7), 'padding between fields');
  assert.equal(fromObjects.readDoubleLE(8), 1.5);
  assert.deepEqual(fromObjects.subarray(19, 24), Buffer.alloc(5), 'padding after the last field');
  const back = decodeJson(fromObjects, d, [2]) as object[];
  assert.deepEqual(back, [
    { id: 7, x: 1.5, tag: 'ab' },
    { id: 8, x: 'NaN', tag: 'xyz' },
  ]);
  assert.deepEqual(Object.keys(back[0]!), ['id', 'x', 'tag'], 'field order');
  assert.deepEqual(elementReader(d)(fromObjects, 1), { id: 8, x: 'NaN', tag: 'xyz' });
  refused(() => encodeJson([{ id: 1, x: 2 }], d, [1]), /Value #0 lacks the field 'tag'/);
  refused(() => encodeJson([{ id: 1, x: 2, tag: '', y: 3 }], d, [1]), /Value #0 has a field 'y' the compound does not have \(id, x, tag\)/);
  refused(() => encodeJson([[1, 2]], d, [1]), /Value #0 has 2 items; a row of this compound has 3 \(id, x, tag\)/);
  refused(
    () =>
      encodeJson(
        [
          { id: 1, x: 2, tag: '' },
          { id: 256, x: 2, tag: '' },
        ],
        d,
        [2],
      ),
    /Value #1\.id \(256\) is out of range for uint8/,
  );
  refused(() => encodeJson([{ id: 1, x: 2, tag: 'long' }], d, [1]), /Value #0\.tag is 4 bytes long; S3 holds 3/);
  refused(() => encodeJson(['x'], d, [1]), /Value #0 \("x"\) is not a record/);
});

test('compounds: nested, array fields (nested or flat), wide ints, complex and enum fields', () => {
  const d = dt({
    fields: [
      { name: 'n', dtype: 'int64' },
      {
        name: 'pos',
        dtype: {
          fields: [
            { name: 'x', dtype: 'float32' },
            { name: 'y', dtype: '>f4' },
          ],
        },
      },
      { name: 'm', dtype: 'int16', shape: [2, 3] },
      { name: 'z', dtype: 'complex64', shape: [2] },
      { name: 'state', dtype: { enum: { OFF: 0, ON: 1 }, base: 'int8' } },
      { name: 'ok', dtype: 'bool' },
    ],
  });
  assert.equal(d.size, 8 + 8 + 12 + 16 + 1 + 1);
  const value = {
    n: '-9223372036854775808',
    pos: { x: -0.5, y: 'Infinity' },
    m: [
      [1, 2, 3],
      [4, 5, 6],
    ],
    z: [[1, -1], 2],
    state: 'ON',
    ok: true,
  };
  const bytes = encodeJson([value], d, [1]);
  const expected = {
    ...value,
    z: [
      [1, -1],
      [2, 0],
    ],
  };
  assert.deepEqual(decodeJson(bytes, d, [1]), [expected]);
  assert.deepEqual(bytes.readBigInt64LE(0), -(2n ** 63n));
  assert.equal(bytes.readFloatBE(12), Infinity);
  assert.deepEqual(Array.from(new Int16Array(bytes.buffer.slice(bytes.byteOffset + 16, bytes.byteOffset + 28))), [1, 2, 3, 4, 5, 6]);
  // An array field may be flat; a row may hold a nested object.
  const flat = encodeJson(
    [
      [
        '-9223372036854775808',
        [-0.5, 'Infinity'],
        [1, 2, 3, 4, 5, 6],
        [
          [1, -1],
          [2, 0],
        ],
        1,
        1,
      ],
    ],
    d,
    [1],
  );
  assert.deepEqual(flat, bytes);
  refused(
    () =>
      encodeJson(
        [
          {
            ...value,
            m: [
              [1, 2],
              [3, 4],
            ],
          },
        ],
        d,
        [1],
      ),
    /Value #0\.m does not have the field's shape: expected 3 items at \[0\] for shape \[2, 3\]/,
  );
  refused(() => encodeJson([value, { ...value, m: [1, 2, 3, 4, 5, 'x'] }], d, [2]), /Value #1\.m\[5\] \("x"\) is not an integer/);
  refused(() => encodeJson([{ ...value, pos: { x: 1 } }], d, [1]), /Value #0\.pos lacks the field 'y'/);
  refused(() => encodeJson([{ ...value, state: 'on' }], d, [1]), /Value #0\.state \("on"\) is not a member/);
  refused(() => encodeJson([{ ...value, z: [[1, 2, 3], 1] }], d, [1]), /Value #0\.z\[0\] .* is not a complex number/);
});

test('a field named __proto__ is an ordinary field', () => {
  const d = dt([
    ['__proto__', '<i4'],
    ['b', '<i4'],
  ]);
  const bytes = encodeJson(JSON.parse('[{"__proto__": 5, "b": 6}]'), d, [1]);
  assert.deepEqual(Array.from(new Int32Array(bytes.buffer, bytes.byteOffset, 2)), [5, 6]);
  const [rec] = decodeJson(bytes, d, [1]) as object[];
  assert.equal(JSON.stringify(rec), '{"__proto__":5,"b":6}');
  assert.equal(Object.getPrototypeOf(rec), Object.prototype);
});

test('variable-length strings travel as S<W> slots, W the longest UTF-8 value', () => {
  const str = dt('str');
  const { bytes, dtype } = encodeJsonPayload(
    [
      ['a', 'héllo'],
      ['', '✓'],
    ],
    str,
    [2, 2],
  );
  assert.deepEqual(dtype, { kind: 'bytes', size: 6, order: 'le' });
  assert.deepEqual(
    bytes,
    Buffer.concat(
      ['a', 'héllo', '', '✓'].map((s) => {
        const b = Buffer.alloc(6);
        b.write(s);
        return b;
      }),
    ),
  );
  assert.deepEqual(
    decodeJson(bytes, dtype, [2, 2]),
    [
      ['a', 'héllo'],
      ['', '✓'],
    ],
    'the slots read back as the values',
  );
  assert.deepEqual(
    encodeJson(
      [
        ['a', 'héllo'],
        ['', '✓'],
      ],
      str,
      [2, 2],
    ),
    bytes,
    'encodeJson gives the same slots',
  );
  assert.deepEqual(encodeJsonPayload(['', ''], str, [2]), { bytes: Buffer.alloc(2), dtype: { kind: 'bytes', size: 1, order: 'le' } }, 'at least one byte wide');
  assert.deepEqual(encodeJsonPayload('one', str, []).bytes, Buffer.from('one'));
  refused(() => encodeJsonPayload(['ok', 'a\u0000b'], str, [2]), /Value #1 contains a NUL character/);
  refused(() => encodeJsonPayload(['ok', 3], str, [2]), /Value #1 \(3\) is not a string/);
  refused(() => encodeJsonPayload(['é'], dt('str:ascii'), [1]), /Value #0 \("é"\) is not ASCII/);
  refused(() => encodeJsonPayload(['x'.repeat(65537)], str, [1]), /65537 bytes long; a string value may have at most 65536/);
  refused(() => encodeJsonPayload([['a'], ['b']], str, [2]), /Too deeply nested/);
  // Fixed-size dtypes: the bytes of encodeJson and the dtype itself.
  const i2 = dt('>i2');
  assert.deepEqual(encodeJsonPayload([1, 2], i2, [2]), { bytes: Buffer.from([0, 1, 0, 2]), dtype: i2 });
});

test('decodeStrings nests the values of a string selection', () => {
  assert.deepEqual(decodeStrings(['a', 'b', 'c', 'd', 'e', 'f'], [2, 3]), [
    ['a', 'b', 'c'],
    ['d', 'e', 'f'],
  ]);
  assert.deepEqual(decodeStrings(['only'], []), 'only');
  assert.deepEqual(decodeStrings([], [2, 0]), [[], []]);
  assert.throws(() => decodeStrings(['a'], [2]));
  assert.throws(() => decodeJson(Buffer.alloc(0), dt('str'), [1]), /decodeStrings/);
});
