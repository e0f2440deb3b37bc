/**
 * The API spelling of dtypes (parseDtypeSpec / dtypeSpec) and their canonical text
 * (formatDtype / parseDtype): names, complex, variable-length strings, enums, compounds
 * (object and numpy list form), round trips, the canonical key order, and refusals that
 * say what is wrong and where.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dtypeSpec, formatDtype, parseDtype, parseDtypeSpec, type Dtype } from '../../services/shared/dtype.js';

const f8: Dtype = { kind: 'float', size: 8, order: 'le' };
const f4: Dtype = { kind: 'float', size: 4, order: 'le' };
const i4: Dtype = { kind: 'int', size: 4, order: 'le' };

test('names: complex and variable-length strings', () => {
  const cases: Array<[string, Dtype, string]> = [
    ['complex64', { kind: 'complex', size: 8, order: 'le' }, 'complex64'],
    ['c8', { kind: 'complex', size: 8, order: 'le' }, 'complex64'],
    ['<c16', { kind: 'complex', size: 16, order: 'le' }, 'complex128'],
    ['complex128', { kind: 'complex', size: 16, order: 'le' }, 'complex128'],
    ['>c8', { kind: 'complex', size: 8, order: 'be' }, '>c8'],
    ['>complex128', { kind: 'complex', size: 16, order: 'be' }, '>c16'],
    ['str', { kind: 'string', size: 0, order: 'le', charset: 'utf-8' }, 'str'],
    ['str:utf-8', { kind: 'string', size: 0, order: 'le', charset: 'utf-8' }, 'str'],
    ['str:ascii', { kind: 'string', size: 0, order: 'le', charset: 'ascii' }, 'str:ascii'],
    ['|S16', { kind: 'bytes', size: 16, order: 'le' }, 'S16'],
    ['>u1', { kind: 'uint', size: 1, order: 'le' }, 'uint8'],
  ];
  for (const [name, dtype, canonical] of cases) {
    assert.deepEqual(parseDtypeSpec(name), dtype, name);
    assert.deepEqual(parseDtype(name), dtype, name);
    assert.equal(formatDtype(dtype), canonical, name);
    assert.equal(dtypeSpec(dtype), canonical, name);
  }
});

test('enums: members in order, base defaults to uint8, canonical output always has base', () => {
  const rgb = parseDtypeSpec({ enum: { RED: 0, GREEN: 1, BLUE: 2 } });
  assert.deepEqual(rgb, {
    kind: 'enum',
    size: 1,
    order: 'le',
    base: 'uint',
    members: [
      { name: 'RED', value: 0 },
      { name: 'GREEN', value: 1 },
      { name: 'BLUE', value: 2 },
    ],
  });
  assert.deepEqual(dtypeSpec(rgb), { enum: { RED: 0, GREEN: 1, BLUE: 2 }, base: 'uint8' });
  assert.equal(formatDtype(rgb), '{"enum":{"RED":0,"GREEN":1,"BLUE":2},"base":"uint8"}');
  const be = parseDtypeSpec({ base: '>i2', enum: { LOW: -5, HIGH: 300 } });
  assert.deepEqual(be, {
    kind: 'enum',
    size: 2,
    order: 'be',
    base: 'int',
    members: [
      { name: 'LOW', value: -5 },
      { name: 'HIGH', value: 300 },
    ],
  });
  assert.equal(formatDtype(be), '{"enum":{"LOW":-5,"HIGH":300},"base":">i2"}', 'key order is fixed: enum, then base');
});

test('compounds: packed default offsets, explicit offsets and itemsize, array fields, nesting', () => {
  const packed = parseDtypeSpec({
    fields: [
      { name: 'x', dtype: 'float64' },
      { name: 'n', dtype: 'int32' },
      { name: 'v', dtype: 'float32', shape: [3] },
    ],
  });
  assert.deepEqual(packed, {
    kind: 'compound',
    size: 24,
    order: 'le',
    fields: [
      { name: 'x', offset: 0, dtype: f8 },
      { name: 'n', offset: 8, dtype: i4 },
      { name: 'v', offset: 12, dtype: { kind: 'array', size: 12, order: 'le', base: f4, shape: [3] } },
    ],
  });
  assert.deepEqual(dtypeSpec(packed), {
    fields: [
      { name: 'x', dtype: 'float64', offset: 0 },
      { name: 'n', dtype: 'int32', offset: 8 },
      { name: 'v', dtype: 'float32', shape: [3], offset: 12 },
    ],
    itemsize: 24,
  });
  assert.equal(
    formatDtype(packed),
    '{"fields":[{"name":"x","dtype":"float64","offset":0},{"name":"n","dtype":"int32","offset":8},{"name":"v","dtype":"float32","shape":[3],"offset":12}],"itemsize":24}',
    'key order is fixed: fields (name, dtype, shape, offset), then itemsize',
  );
  // Aligned, as numpy's align=True would lay it out.
  const aligned = parseDtypeSpec({
    itemsize: 16,
    fields: [
      { offset: 0, name: 'a', dtype: 'int8' },
      { name: 'b', dtype: 'float64', offset: 8 },
    ],
  });
  assert.deepEqual(aligned, {
    kind: 'compound',
    size: 16,
    order: 'le',
    fields: [
      { name: 'a', offset: 0, dtype: { kind: 'int', size: 1, order: 'le' } },
      { name: 'b', offset: 8, dtype: f8 },
    ],
  });
  // Nested compound, enum and complex fields, in object and list form alike.
  const nested = parseDtypeSpec({
    fields: [
      {
        name: 'pos',
        dtype: {
          fields: [
            { name: 'x', dtype: '<f4' },
            { name: 'y', dtype: '<f4' },
          ],
        },
      },
      { name: 'c', dtype: { enum: { OFF: 0, ON: 1 }, base: 'int8' } },
      { name: 'z', dtype: 'complex128', shape: [2, 2] },
    ],
  });
  assert.equal(nested.size, 8 + 1 + 64);
  assert.deepEqual(
    parseDtypeSpec([
      [
        'pos',
        [
          ['x', '<f4'],
          ['y', '<f4'],
        ],
      ],
      ['c', { enum: { OFF: 0, ON: 1 }, base: 'int8' }],
      ['z', '<c16', [2, 2]],
    ]),
    nested,
  );
  assert.deepEqual(
    parseDtypeSpec([
      ['x', '<f8'],
      ['v', '<f4', [3]],
    ]),
    parseDtypeSpec({
      fields: [
        { name: 'x', dtype: 'float64' },
        { name: 'v', dtype: 'float32', shape: [3] },
      ],
    }),
  );
  // numpy's list form with padding entries (as .npy descrs have them) and an int shape.
  assert.deepEqual(
    parseDtypeSpec([
      ['a', '|i1'],
      ['', '|V7'],
      ['b', '<f8'],
      ['', '|V8'],
      ['w', '<u2', 2],
    ]),
    {
      kind: 'compound',
      size: 28,
      order: 'le',
      fields: [
        { name: 'a', offset: 0, dtype: { kind: 'int', size: 1, order: 'le' } },
        { name: 'b', offset: 8, dtype: f8 },
        { name: 'w', offset: 24, dtype: { kind: 'array', size: 4, order: 'le', base: { kind: 'uint', size: 2, order: 'le' }, shape: [2] } },
      ],
    },
  );
});

test('round trips: spec -> Dtype -> spec, and text -> Dtype -> text', () => {
  const specs: unknown[] = [
    'int8',
    'int64',
    '>i8',
    'uint16',
    'float16',
    '>f4',
    'bool',
    'S1',
    'S65536',
    'complex64',
    'complex128',
    '>c8',
    '>c16',
    'str',
    'str:ascii',
    { enum: { A: 0 }, base: 'uint8' },
    { enum: { NEG: -1, ZERO: 0, BIG: 2147483647 }, base: '>i4' },
    { enum: { é: 1, '✓ ok': 2 }, base: 'uint64' },
    { fields: [{ name: 'x', dtype: 'float64', offset: 0 }], itemsize: 8 },
    {
      fields: [
        { name: 'b', dtype: '>i2', offset: 4 },
        { name: 'a', dtype: 'S3', offset: 0 },
      ],
      itemsize: 16,
    },
    {
      fields: [
        {
          name: 'in',
          dtype: {
            fields: [
              { name: 'c', dtype: '>c8', shape: [2], offset: 0 },
              { name: 'e', dtype: { enum: { X: 7 }, base: 'int16' }, offset: 16 },
            ],
            itemsize: 18,
          },
          shape: [2, 3],
          offset: 0,
        },
        { name: 'ünï', dtype: 'bool', offset: 108 },
      ],
      itemsize: 112,
    },
  ];
  for (const spec of specs) {
    const d = parseDtypeSpec(spec);
    assert.deepEqual(dtypeSpec(d), spec, JSON.stringify(spec));
    const text = formatDtype(d);
    assert.ok(/^[\x20-\x7e]+$/.test(text), `canonical text is printable ASCII: ${text}`);
    assert.deepEqual(parseDtype(text), d, text);
    assert.equal(formatDtype(parseDtype(text)), text);
    assert.deepEqual(parseDtypeSpec(text), d, 'a spec string may be the canonical text');
  }
  assert.equal(formatDtype(parseDtypeSpec({ enum: { é: 1 } })), '{"enum":{"\\u00e9":1},"base":"uint8"}', 'non-ASCII is escaped');
});

test('refusals are PH5_ERR_DTYPE and say what is wrong and where', () => {
  const cases: Array<[unknown, RegExp]> = [
    [42, /expected a dtype name/],
    [null, /expected a dtype name/],
    ['complex32', /Unknown dtype 'complex32'/],
    ['str:latin1', /Unknown dtype/],
    [{}, /either "enum".*or "fields"/],
    [{ enum: {} }, /at enum: an enum needs at least one member/],
    [{ enum: { A: 1.5 } }, /at enum\.A: .*integer from 0 to 255/],
    [{ enum: { A: 256 } }, /at enum\.A: .*0 to 255/],
    [{ enum: { A: -1 }, base: 'uint16' }, /at enum\.A/],
    [{ enum: { A: 1, B: 1 } }, /'A' and 'B' have the same value 1/],
    [{ enum: { A: 1 }, base: 'float32' }, /at base: an enum's base must be an integer dtype/],
    [{ enum: { A: 1 }, base: 8 }, /at base/],
    [{ enum: { A: 1 }, colour: 'red' }, /unknown key 'colour'/],
    [{ enum: { A: 0, '': 1 } }, /at enum\.: a member name must be a non-empty string/],
    [{ fields: [] }, /at fields: must be a non-empty list/],
    [{ fields: 'x' }, /at fields: must be a non-empty list/],
    [{ fields: [{ name: 'x' }] }, /at fields\[0\]\.dtype: every field needs a dtype/],
    [
      {
        fields: [
          { name: 'x', dtype: 'f8' },
          { name: 'y', dtype: 'f8' },
          { name: 'z', dtype: 'int33' },
        ],
      },
      /at fields\[2\]\.dtype: unknown dtype 'int33'/,
    ],
    [
      {
        fields: [
          { name: 'x', dtype: 'f8' },
          { name: 'x', dtype: 'f4' },
        ],
      },
      /at fields\[1\]\.name: the field name 'x' is used twice/,
    ],
    [{ fields: [{ name: '', dtype: 'f8' }] }, /at fields\[0\]\.name/],
    [{ fields: [{ name: 'a\u0000', dtype: 'f8' }] }, /NUL/],
    [
      {
        fields: [
          { name: 'x', dtype: 'f8', offset: 0 },
          { name: 'y', dtype: 'f4', offset: 4 },
        ],
      },
      /at fields\[1\]\.offset: field 'y' \(bytes 4\.\.7\) overlaps field 'x'/,
    ],
    [{ fields: [{ name: 'x', dtype: 'f8', offset: -1 }] }, /at fields\[0\]\.offset: must be a non-negative integer/],
    [{ fields: [{ name: 'x', dtype: 'f8' }], itemsize: 4 }, /at itemsize: must be an integer of at least 8/],
    [{ fields: [{ name: 'x', dtype: 'f8', shape: [0] }] }, /at fields\[0\]\.shape: an array field's shape/],
    [{ fields: [{ name: 'x', dtype: 'f8', shape: [] }] }, /at fields\[0\]\.shape/],
    [{ fields: [{ name: 'x', dtype: 'f8', shape: [1024, 1024] }] }, /at fields\[0\]\.shape: the field would take 8388608 bytes/],
    [{ fields: [{ name: 'x', dtype: 'f8', units: 'm' }] }, /at fields\[0\]: unknown key 'units'/],
    [{ fields: [{ name: 'p', dtype: { fields: [{ name: 'q', dtype: 'i9' }] } }] }, /at fields\[0\]\.dtype\.fields\[0\]\.dtype: unknown dtype 'i9'/],
    [{ fields: [{ name: 'p', dtype: { enum: { A: 300 } } }] }, /at fields\[0\]\.dtype\.enum\.A/],
    [{ fields: [{ name: 'p', dtype: '{"enum":{"A":1}}' }] }, /at fields\[0\]\.dtype: a nested dtype is an object or list/],
    [[['x', '<f8'], ['y']], /at \[1\]: a field in list form is \[name, dtype\]/],
    [[['p', [['x', '<U3']]]], /at \[0\]\[1\]\[0\]\[1\]: unknown dtype '<U3'/],
    [
      [
        ['a', '<i4'],
        ['a', '<f4'],
      ],
      /at \[1\]\[0\]: the field name 'a' is used twice/,
    ],
    [[['a', '<i4', [0]]], /at \[0\]\[2\]: an array field's shape/],
    [[['', '|V8']], /at : a compound needs at least one field|needs at least one field/],
    [[], /needs at least one field/],
    ['{"enum": ', /must be JSON/],
    ['x'.repeat(70000), /Unknown dtype/],
    ['{' + ' '.repeat(70000) + '}', /longer than 65536/],
  ];
  for (const [spec, message] of cases) {
    assert.throws(
      () => parseDtypeSpec(spec),
      (e: any) => e.code === 'PH5_ERR_DTYPE' && message.test(e.message),
      `${JSON.stringify(spec)?.slice(0, 80)} should be refused with ${message}`,
    );
  }
});

test('messages can say where the spec sits in the request', () => {
  assert.throws(
    () => parseDtypeSpec({ fields: [{ name: 'x', dtype: 'f9' }] }, 'dtype'),
    (e: any) => e.code === 'PH5_ERR_DTYPE' && /^Invalid dtype at dtype\.fields\[0\]\.dtype: unknown dtype 'f9'/.test(e.message),
  );
  assert.throws(
    () => parseDtypeSpec([['x', 'f9']], 'descr'),
    (e: any) => /^Invalid dtype at descr\[0\]\[1\]: unknown dtype 'f9'/.test(e.message),
  );
});

test('nesting and size limits', () => {
  let deep: unknown = 'int8';
  for (let i = 0; i < 12; i++) deep = { fields: [{ name: 'f', dtype: deep }] };
  assert.throws(
    () => parseDtypeSpec(deep),
    (e: any) => e.code === 'PH5_ERR_DTYPE' && /nest at most 8 deep/.test(e.message),
  );
  let ok: unknown = 'int8';
  for (let i = 0; i < 8; i++) ok = { fields: [{ name: 'f', dtype: ok }] };
  assert.equal(parseDtypeSpec(ok).size, 1);
  const many = { fields: Array.from({ length: 1025 }, (_, i) => ({ name: `f${i}`, dtype: 'int8' })) };
  assert.throws(
    () => parseDtypeSpec(many),
    (e: any) => e.code === 'PH5_ERR_DTYPE' && /at most 1024 fields/.test(e.message),
  );
  const big = { fields: [{ name: 'a', dtype: 'S65536' }], itemsize: 2 ** 20 + 1 };
  assert.throws(
    () => parseDtypeSpec(big),
    (e: any) => e.code === 'PH5_ERR_DTYPE' && /larger than the 1048576 allowed/.test(e.message),
  );
});

test('a variable-length string inside a compound is PH5_ERR_TYPE', () => {
  for (const spec of [
    { fields: [{ name: 's', dtype: 'str' }] },
    [
      ['x', '<f8'],
      ['s', 'str:ascii', [2]],
    ],
  ]) {
    assert.throws(
      () => parseDtypeSpec(spec),
      (e: any) => e.code === 'PH5_ERR_TYPE' && /variable-length strings inside a compound/.test(e.message),
    );
  }
});

test('a bare array dtype has no API spelling', () => {
  assert.throws(
    () => dtypeSpec({ kind: 'array', size: 8, order: 'le', base: i4, shape: [2] }),
    (e: any) => e.code === 'PH5_ERR_TYPE',
  );
});
