/**
 * The fixed-size dtypes beyond numbers (complex, enum, compound with array, bytes and nested
 * fields), serially and without MPI: made by the addon and read by h5py with the right numpy
 * dtype and values; made by h5py and described and read by the addon with the same bytes;
 * attributes both ways; writes converted by HDF5 (compound fields by name, byte order);
 * malformed dtypes refused (PH5_ERR_ARGUMENT) and types ph5 has no dtype for (PH5_ERR_TYPE).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { H5File, leakedObjectCount, openObjectCount, type NativeDtype } from '../../native/lib/index.js';
import { rejectsNative as rejects } from '../helpers/native-errors.js';
import { py } from '../helpers/surface.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-native-types-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const f4: NativeDtype = { kind: 'float', size: 4, order: 'le' };
const f8: NativeDtype = { kind: 'float', size: 8, order: 'le' };
const c8: NativeDtype = { kind: 'complex', size: 8, order: 'le' };
const c16be: NativeDtype = { kind: 'complex', size: 16, order: 'be' };
const colors: NativeDtype = {
  kind: 'enum',
  size: 1,
  order: 'le',
  base: 'uint',
  members: [
    { name: 'RED', value: 0 },
    { name: 'GREEN', value: 1 },
    { name: 'BLUE', value: 7 },
  ],
};
const level: NativeDtype = {
  kind: 'enum',
  size: 2,
  order: 'be',
  base: 'int',
  members: [
    { name: 'LOW', value: -300 },
    { name: 'HIGH', value: 300 },
  ],
};
const inner: NativeDtype = {
  kind: 'compound',
  size: 4,
  order: 'le',
  fields: [
    { name: 'a', offset: 0, dtype: { kind: 'int', size: 2, order: 'be' } },
    { name: 'b', offset: 2, dtype: { kind: 'uint', size: 1, order: 'le' } },
  ],
};
// Nested, with a subarray, a fixed string, complex, an enum and padding (itemsize 48).
const record: NativeDtype = {
  kind: 'compound',
  size: 48,
  order: 'le',
  fields: [
    { name: 'x', offset: 0, dtype: f8 },
    { name: 'v', offset: 8, dtype: { kind: 'array', size: 12, order: 'le', base: f4, shape: [3] } },
    { name: 's', offset: 20, dtype: { kind: 'bytes', size: 4, order: 'le' } },
    { name: 'c', offset: 24, dtype: { kind: 'complex', size: 8, order: 'be' } },
    { name: 'e', offset: 32, dtype: colors },
    { name: 'in', offset: 36, dtype: inner },
  ],
};

function recordBytes(i: number): Buffer {
  const b = Buffer.alloc(48);
  b.writeDoubleLE(i + 0.5, 0);
  for (let k = 0; k < 3; k++) b.writeFloatLE(i * 10 + k, 8 + 4 * k);
  b.write(`s${i}`, 20);
  b.writeFloatBE(i, 24);
  b.writeFloatBE(-i, 28);
  b.writeUInt8(i % 2 ? 7 : 1, 32);
  b.writeInt16BE(-i - 1, 36);
  b.writeUInt8(200 + i, 38);
  return b;
}

// numpy values as JSON: complex -> [re, im], bytes -> 'b:...', tuples -> lists.
const SHOW = `
def show(v):
    if isinstance(v, (list, tuple)): return [show(x) for x in v]
    if isinstance(v, np.ndarray): return show(v.tolist())
    if isinstance(v, np.void): return show(v.tolist())
    if isinstance(v, complex): return [v.real, v.imag]
    if isinstance(v, bytes): return 'b:' + v.decode('latin-1')
    if isinstance(v, np.generic): return show(v.item())
    return v
def descr(dt):
    if dt.subdtype: return [descr(dt.subdtype[0]), list(dt.subdtype[1])]
    if not dt.names: return dt.str
    return {'itemsize': dt.itemsize, 'fields': [[n, dt.fields[n][1], descr(dt.fields[n][0])] for n in dt.names]}
`;

describe('made by the addon, read by h5py', () => {
  const file = path.join(dir, 'addon.h5');

  test('complex, enums and a nested compound have numpy dtypes and values', async () => {
    const f = await H5File.open(file, { mode: 'create', parallel: false });
    const all = (n: number) => ({ start: [0], stride: [1], count: [n] });
    await f.createDataset('c8', { dtype: c8, shape: [2] });
    const cb = Buffer.alloc(16);
    [1.5, -2, 3, 4].forEach((v, k) => cb.writeFloatLE(v, 4 * k));
    await f.write('c8', all(2), cb);
    await f.createDataset('c16be', { dtype: c16be, shape: [1], chunks: [1], gzip: 4 });
    const cbe = Buffer.alloc(16);
    cbe.writeDoubleBE(1e300, 0);
    cbe.writeDoubleBE(-0.25, 8);
    await f.write('c16be', all(1), cbe);
    await f.createDataset('colors', { dtype: colors, shape: [3], fillValue: Buffer.from([7]) });
    await f.write('colors', all(3), Buffer.from([0, 7, 1]));
    await f.createDataset('level', { dtype: level, shape: [3] });
    const lb = Buffer.alloc(6);
    [-300, 300, 5].forEach((v, k) => lb.writeInt16BE(v, 2 * k));
    await f.write('level', all(3), lb);
    await f.createDataset('record', { dtype: record, shape: [2], maxshape: [-1] });
    const rb = Buffer.concat([recordBytes(1), recordBytes(2)]);
    await f.write('record', all(2), rb);
    assert.equal(leakedObjectCount(), 0);

    // The addon describes what it made exactly as it was asked, and reads the same bytes.
    assert.deepEqual((await f.datasetInfo('record')).dtype, record);
    assert.deepEqual((await f.datasetInfo('level')).dtype, level);
    assert.deepEqual((await f.datasetInfo('c16be')).dtype, c16be);
    const colorsInfo = await f.datasetInfo('colors');
    assert.deepEqual([colorsInfo.dtype, colorsInfo.fillValue], [colors, Buffer.from([7])]);
    assert.ok((await f.read('record')).equals(rb));
    assert.ok((await f.read('level')).equals(lb));
    await f.close();
    assert.equal(openObjectCount(), 0);

    const got = await py<Record<string, { dtype: unknown; value: unknown; enum?: unknown }>>(
      file,
      `${SHOW}
with h5py.File(path, 'r') as f:
    for k in f:
        d = f[k]
        e = h5py.check_enum_dtype(d.dtype)
        out[k] = {'dtype': descr(d.dtype), 'value': show(d[()]), 'enum': e}
    out['record.e'] = {'dtype': None, 'value': None, 'enum': h5py.check_enum_dtype(f['record'].dtype['e'])}
`,
    );
    assert.deepEqual(got.c8, {
      dtype: '<c8',
      value: [
        [1.5, -2],
        [3, 4],
      ],
      enum: null,
    });
    assert.deepEqual(got.c16be, { dtype: '>c16', value: [[1e300, -0.25]], enum: null });
    assert.deepEqual(got.colors, { dtype: '|u1', value: [0, 7, 1], enum: { RED: 0, GREEN: 1, BLUE: 7 } });
    assert.deepEqual(got.level, { dtype: '>i2', value: [-300, 300, 5], enum: { LOW: -300, HIGH: 300 } });
    assert.deepEqual(got['record.e']?.enum, { RED: 0, GREEN: 1, BLUE: 7 });
    assert.deepEqual(got.record?.dtype, {
      itemsize: 48,
      fields: [
        ['x', 0, '<f8'],
        ['v', 8, ['<f4', [3]]],
        ['s', 20, '|S4'],
        ['c', 24, '>c8'],
        ['e', 32, '|u1'],
        [
          'in',
          36,
          {
            itemsize: 4,
            fields: [
              ['a', 0, '>i2'],
              ['b', 2, '|u1'],
            ],
          },
        ],
      ],
    });
    assert.deepEqual(got.record?.value, [
      [1.5, [10, 11, 12], 'b:s1', [1, -1], 7, [-2, 201]],
      [2.5, [20, 21, 22], 'b:s2', [2, -2], 1, [-3, 202]],
    ]);
  });
});

describe('made by h5py, described and read by the addon', () => {
  const file = path.join(dir, 'h5py.h5');

  test('complex64/128, enum_dtype, bool, nested and aligned structured dtypes', async () => {
    const raw = await py<Record<string, string>>(
      file,
      `
nested = np.dtype([('id', '<u4'), ('pos', '<f8', (2, 3)), ('name', 'S5'), ('sub', [('p', '>i8'), ('q', '<f2')])])
aligned = np.dtype({'names': ['a', 'b', 'c'], 'formats': ['u1', '<f8', '<i2']}, align=True)
data = {
  'c64': np.array([1 + 2j, -3.5j], dtype='<c8'),
  'c128be': np.array([[1e-300 + 1j]], dtype='>c16'),
  'enum16': np.array([-1, 2, 9], dtype=h5py.enum_dtype({'NEG': -1, 'TWO': 2, 'NINE': 9}, basetype='<i2')),
  'enum8': np.array([0, 1], dtype=h5py.enum_dtype({'OFF': 0, 'ON': 1})),
  'flags': np.array([True, False, True]),
  'nested': np.array([(7, np.arange(6).reshape(2, 3), b'abc', (-5, 0.5))], dtype=nested),
  'aligned': np.array([(1, 2.0, -3), (4, 5.0, -6)], dtype=aligned),
}
with h5py.File(path, 'w') as f:
    for k, v in data.items():
        f.create_dataset(k, data=v)
        out[k] = v.tobytes().hex()
    f.attrs['cattr'] = np.complex64(1 - 1j)
    f.attrs.create('eattr', 2, dtype=h5py.enum_dtype({'A': 1, 'B': 2}, basetype='>u2'))
    f.attrs['sattr'] = np.array([(1, b'xy')], dtype=[('n', '<i4'), ('t', 'S2')])
`,
    );
    const f = await H5File.open(file, { mode: 'r', parallel: false });
    const want: Record<string, NativeDtype> = {
      c64: { kind: 'complex', size: 8, order: 'le' },
      c128be: { kind: 'complex', size: 16, order: 'be' },
      enum16: {
        kind: 'enum',
        size: 2,
        order: 'le',
        base: 'int',
        members: [
          { name: 'NEG', value: -1 },
          { name: 'NINE', value: 9 },
          { name: 'TWO', value: 2 },
        ],
      },
      enum8: {
        kind: 'enum',
        size: 1,
        order: 'le',
        base: 'uint',
        members: [
          { name: 'OFF', value: 0 },
          { name: 'ON', value: 1 },
        ],
      },
      flags: { kind: 'bool', size: 1, order: 'le' },
      nested: {
        kind: 'compound',
        size: 67,
        order: 'le',
        fields: [
          { name: 'id', offset: 0, dtype: { kind: 'uint', size: 4, order: 'le' } },
          { name: 'pos', offset: 4, dtype: { kind: 'array', size: 48, order: 'le', base: f8, shape: [2, 3] } },
          { name: 'name', offset: 52, dtype: { kind: 'bytes', size: 5, order: 'le' } },
          {
            name: 'sub',
            offset: 57,
            dtype: {
              kind: 'compound',
              size: 10,
              order: 'le',
              fields: [
                { name: 'p', offset: 0, dtype: { kind: 'int', size: 8, order: 'be' } },
                { name: 'q', offset: 8, dtype: { kind: 'float', size: 2, order: 'le' } },
              ],
            },
          },
        ],
      },
      aligned: {
        kind: 'compound',
        size: 24,
        order: 'le',
        fields: [
          { name: 'a', offset: 0, dtype: { kind: 'uint', size: 1, order: 'le' } },
          { name: 'b', offset: 8, dtype: f8 },
          { name: 'c', offset: 16, dtype: { kind: 'int', size: 2, order: 'le' } },
        ],
      },
    };
    try {
      for (const [name, dtype] of Object.entries(want)) {
        const info = await f.datasetInfo(name);
        // HDF5 keeps enum members sorted by name; compare as sets where that is the case.
        if (dtype.kind === 'enum' && info.dtype.kind === 'enum') {
          const byName = (m: { name: string }[]) => [...m].sort((a, b) => a.name.localeCompare(b.name));
          assert.deepEqual({ ...info.dtype, members: byName(info.dtype.members) }, { ...dtype, members: byName(dtype.members) }, name);
        } else {
          assert.deepEqual(info.dtype, dtype, name);
        }
        assert.equal((await f.read(name)).toString('hex'), raw[name], `${name}: the bytes numpy holds`);
      }
      const cattr = await f.readAttribute('/', 'cattr');
      assert.ok(cattr.kind === 'numeric');
      assert.deepEqual(
        [cattr.dtype, cattr.shape, cattr.data.readFloatLE(0), cattr.data.readFloatLE(4)],
        [{ kind: 'complex', size: 8, order: 'le' }, [], 1, -1],
      );
      const eattr = await f.readAttribute('/', 'eattr');
      assert.ok(eattr.kind === 'numeric' && eattr.dtype.kind === 'enum');
      assert.deepEqual([eattr.dtype.order, eattr.dtype.base, eattr.data.readUInt16BE(0)], ['be', 'uint', 2]);
      const sattr = await f.readAttribute('/', 'sattr');
      assert.ok(sattr.kind === 'numeric' && sattr.dtype.kind === 'compound');
      assert.deepEqual([sattr.shape, sattr.data.readInt32LE(0), sattr.data.subarray(4, 6).toString()], [[1], 1, 'xy']);
      assert.equal(leakedObjectCount(), 0);
    } finally {
      await f.close();
    }
  });

  test('written back with the dtypes the addon describes (UTF-8 fixed strings, bool and uint64 enum fields)', async () => {
    const file3 = path.join(dir, 'rewrite.h5');
    await py(
      file3,
      `
dt = np.dtype([('ok', '?'), ('e', h5py.enum_dtype({'A': 0, 'BIG': 2**53 - 1}, basetype='<u8')), ('u', h5py.string_dtype('utf-8', 4))])
with h5py.File(path, 'w') as f:
    f.create_dataset('m', data=np.array([(True, 2**53 - 1, b'ab')], dtype=dt))
    f.create_dataset('u', data=np.array([b'xy'], dtype=h5py.string_dtype('utf-8', 3)))
`,
    );
    const f = await H5File.open(file3, { mode: 'rw', parallel: false });
    const m = (await f.datasetInfo('m')).dtype;
    assert.ok(m.kind === 'compound');
    assert.deepEqual(
      m.fields.map((x) => [x.name, x.offset, x.dtype.kind]),
      [
        ['ok', 0, 'bool'],
        ['e', 1, 'enum'],
        ['u', 9, 'bytes'],
      ],
    );
    assert.deepEqual(m.fields[1]?.dtype, {
      kind: 'enum',
      size: 8,
      order: 'le',
      base: 'uint',
      members: [
        { name: 'A', value: 0 },
        { name: 'BIG', value: 2 ** 53 - 1 },
      ],
    });
    await f.write('m', { start: [0], stride: [1], count: [1] }, Buffer.from('00' + '0000000000000000' + 'c3a97a00', 'hex'), { memDtype: m });
    await f.write('u', { start: [0], stride: [1], count: [1] }, Buffer.from('é', 'utf8'), { memDtype: { kind: 'bytes', size: 2, order: 'le' } });
    await f.close();
    const got = await py<{ m: unknown; u: unknown }>(
      file3,
      `
with h5py.File(path, 'r') as f:
    r = f['m'][0]
    out['m'] = [bool(r['ok']), int(r['e']), r['u'].decode('utf-8')]
    out['u'] = f['u'][0].decode('utf-8')
`,
    );
    assert.deepEqual(got, { m: [false, 0, 'éz'], u: 'é' });
  });

  test('types without a ph5 dtype are PH5_ERR_TYPE with the reason', async () => {
    const file2 = path.join(dir, 'refused.h5');
    await py(
      file2,
      `
with h5py.File(path, 'w') as f:
    f.create_dataset('ragged', (2,), dtype=h5py.vlen_dtype(np.int32))
    f.create_dataset('refs', (2,), dtype=h5py.ref_dtype)
    f.create_dataset('opaque', data=np.zeros(2, dtype='V8'))
    f.create_dataset('mixed', (2,), dtype=np.dtype([('n', 'i4'), ('s', h5py.string_dtype())]))
    f.create_dataset('huge', data=np.array([0], dtype=h5py.enum_dtype({'A': 0, 'B': 2**60}, basetype='<u8')))
    arr = h5py.h5t.array_create(h5py.h5t.STD_I32LE, (3,))
    h5py.h5d.create(f.id, b'toparray', arr, h5py.h5s.create_simple((2,)))
    f.attrs.create('refattr', f.ref, dtype=h5py.ref_dtype)
`,
    );
    const f = await H5File.open(file2, { mode: 'r', parallel: false });
    try {
      await rejects(() => f.datasetInfo('ragged'), 'PH5_ERR_TYPE', /variable-length sequence/);
      await rejects(() => f.read('refs'), 'PH5_ERR_TYPE', /reference/);
      await rejects(() => f.datasetInfo('opaque'), 'PH5_ERR_TYPE', /opaque/);
      await rejects(() => f.datasetInfo('mixed'), 'PH5_ERR_TYPE', /compound member 's'.*variable-length string/);
      await rejects(() => f.datasetInfo('huge'), 'PH5_ERR_TYPE', /2\^53/);
      await rejects(() => f.read('toparray'), 'PH5_ERR_TYPE', /array type outside a compound/);
      await rejects(() => f.readAttribute('/', 'refattr'), 'PH5_ERR_TYPE', /reference/);
    } finally {
      await f.close();
    }
  });
});

describe('writes and attributes', () => {
  const file = path.join(dir, 'writes.h5');

  test('HDF5 converts compound fields by name and byte order; enums take their base integers', async () => {
    const f = await H5File.open(file, { mode: 'create', parallel: false });
    const all = (n: number) => ({ start: [0], stride: [1], count: [n] });
    const pair: NativeDtype = {
      kind: 'compound',
      size: 12,
      order: 'le',
      fields: [
        { name: 'x', offset: 0, dtype: { kind: 'int', size: 4, order: 'le' } },
        { name: 'y', offset: 4, dtype: f8 },
      ],
    };
    const swapped: NativeDtype = {
      kind: 'compound',
      size: 16,
      order: 'le',
      fields: [
        { name: 'y', offset: 0, dtype: { kind: 'float', size: 8, order: 'be' } },
        { name: 'x', offset: 12, dtype: { kind: 'int', size: 4, order: 'be' } },
      ],
    };
    await f.createDataset('pair', { dtype: pair, shape: [1] });
    const mem = Buffer.alloc(16);
    mem.writeDoubleBE(-6.25, 0);
    mem.writeInt32BE(-77, 12);
    await f.write('pair', all(1), mem, { memDtype: swapped });
    const back = await f.read('pair');
    assert.deepEqual([back.readInt32LE(0), back.readDoubleLE(4)], [-77, -6.25]);

    await f.createDataset('level', { dtype: level, shape: [2] });
    const ints = Buffer.alloc(4);
    ints.writeInt16LE(300, 0);
    ints.writeInt16LE(-300, 2);
    await f.write('level', all(2), ints, { memDtype: { kind: 'int', size: 2, order: 'le' } });
    const lv = await f.read('level');
    assert.deepEqual([lv.readInt16BE(0), lv.readInt16BE(2)], [300, -300]);

    await f.createDataset('c', { dtype: c8, shape: [1] });
    const cc = Buffer.alloc(16);
    cc.writeDoubleBE(0.5, 0);
    cc.writeDoubleBE(-8, 8);
    await f.write('c', all(1), cc, { memDtype: c16be });
    const cr = await f.read('c');
    assert.deepEqual([cr.readFloatLE(0), cr.readFloatLE(4)], [0.5, -8]);

    await rejects(() => f.write('pair', all(1), Buffer.alloc(8), { memDtype: f8 }), 'PH5_ERR_TYPE');
    await rejects(() => f.write('c', all(1), Buffer.alloc(8), { memDtype: f8 }), 'PH5_ERR_TYPE');
    await rejects(() => f.write('level', all(2), Buffer.alloc(4), { memDtype: { kind: 'uint', size: 2, order: 'le' } }), 'PH5_ERR_TYPE', /base integers/);
    const other: NativeDtype = {
      kind: 'compound',
      size: 12,
      order: 'le',
      fields: [
        { name: 'x', offset: 0, dtype: { kind: 'int', size: 4, order: 'le' } },
        { name: 'z', offset: 4, dtype: f8 },
      ],
    };
    await rejects(() => f.write('pair', all(1), Buffer.alloc(12), { memDtype: other }), 'PH5_ERR_TYPE', /no field 'z'/);
    await f.close();
  });

  test('compound, enum and complex attributes round-trip with h5py; fixed-length string attributes are S<n>', async () => {
    const f = await H5File.open(file, { mode: 'rw', parallel: false });
    const rb = Buffer.concat([recordBytes(3), recordBytes(4)]);
    await f.writeAttribute('/', 'rec', { kind: 'numeric', dtype: record, shape: [2], data: rb });
    await f.writeAttribute('/', 'lvl', { kind: 'numeric', dtype: level, shape: [], data: Buffer.from([0xfe, 0xd4]) });
    const cz = Buffer.alloc(16);
    cz.writeDoubleBE(2, 0);
    cz.writeDoubleBE(3, 8);
    await f.writeAttribute('/', 'z', { kind: 'numeric', dtype: c16be, shape: [], data: cz });
    await f.writeAttribute('/', 'code', { kind: 'string', value: 'abcde', length: 5, cset: 'ascii' });
    await f.writeAttribute('/', 'codes', { kind: 'string', value: ['ab', 'cdefg'], length: 'auto' });
    const rec = await f.readAttribute('/', 'rec');
    assert.ok(rec.kind === 'numeric');
    assert.deepEqual([rec.dtype, rec.shape, rec.data.equals(rb)], [record, [2], true]);
    assert.deepEqual(await f.readAttribute('/', 'code'), { kind: 'string', value: 'abcde', shape: [], length: 5, cset: 'ascii' });
    await rejects(
      async () =>
        f.writeAttribute('/', 'bad', { kind: 'numeric', dtype: { kind: 'string', size: 0, order: 'le', charset: 'utf-8' }, shape: [], data: Buffer.alloc(0) }),
      'PH5_ERR_ARGUMENT',
    );
    await f.close();
    const got = await py<Record<string, { dtype: unknown; value: unknown }>>(
      file,
      `${SHOW}
with h5py.File(path, 'r') as f:
    for k in ['rec', 'lvl', 'z', 'code', 'codes']:
        out[k] = {'dtype': descr(f.attrs.get_id(k).dtype), 'value': show(f.attrs[k])}
    out['lvl']['enum'] = h5py.check_enum_dtype(f.attrs.get_id('lvl').dtype)
`,
    );
    assert.deepEqual(got.rec?.value, [
      [3.5, [30, 31, 32], 'b:s3', [3, -3], 7, [-4, 203]],
      [4.5, [40, 41, 42], 'b:s4', [4, -4], 1, [-5, 204]],
    ]);
    assert.deepEqual(got.lvl, { dtype: '>i2', value: -300, enum: { LOW: -300, HIGH: 300 } });
    assert.deepEqual(got.z, { dtype: '>c16', value: [2, 3] });
    assert.deepEqual(got.code, { dtype: '|S5', value: 'b:abcde' });
    assert.deepEqual(got.codes, { dtype: '|S5', value: ['b:ab', 'b:cdefg'] });
  });
});

describe('malformed dtypes', () => {
  const file = path.join(dir, 'bad.h5');
  const i4: NativeDtype = { kind: 'int', size: 4, order: 'le' };
  const compound = (fields: { name: string; offset: number; dtype: unknown }[], size: number) =>
    ({ kind: 'compound', size, order: 'le', fields }) as unknown as NativeDtype;
  const deep = (n: number): unknown => (n === 0 ? i4 : { kind: 'compound', size: 4, order: 'le', fields: [{ name: 'a', offset: 0, dtype: deep(n - 1) }] });
  const BAD: Record<string, [unknown, string, RegExp]> = {
    'duplicate field': [
      compound(
        [
          { name: 'a', offset: 0, dtype: i4 },
          { name: 'a', offset: 4, dtype: i4 },
        ],
        8,
      ),
      'PH5_ERR_ARGUMENT',
      /appears twice/,
    ],
    'empty field name': [compound([{ name: '', offset: 0, dtype: i4 }], 4), 'PH5_ERR_ARGUMENT', /non-empty/],
    overlap: [
      compound(
        [
          { name: 'a', offset: 0, dtype: i4 },
          { name: 'b', offset: 2, dtype: i4 },
        ],
        8,
      ),
      'PH5_ERR_ARGUMENT',
      /overlap/,
    ],
    'past itemsize': [compound([{ name: 'a', offset: 2, dtype: i4 }], 4), 'PH5_ERR_ARGUMENT', /itemsize/],
    'no fields': [compound([], 4), 'PH5_ERR_ARGUMENT', /1 to 1024/],
    'string field': [
      compound([{ name: 's', offset: 0, dtype: { kind: 'string', size: 0, order: 'le', charset: 'utf-8' } }], 8),
      'PH5_ERR_TYPE',
      /variable-length strings/,
    ],
    'too deep': [deep(9), 'PH5_ERR_ARGUMENT', /nest at most/],
    'array at the top': [{ kind: 'array', size: 8, order: 'le', base: i4, shape: [2] }, 'PH5_ERR_ARGUMENT', /compound field/],
    'array size': [
      compound([{ name: 'v', offset: 0, dtype: { kind: 'array', size: 12, order: 'le', base: i4, shape: [2] } }], 12),
      'PH5_ERR_ARGUMENT',
      /times the shape/,
    ],
    'complex size': [{ kind: 'complex', size: 4, order: 'le' }, 'PH5_ERR_ARGUMENT', /not supported/],
    'enum value too big': [{ kind: 'enum', size: 1, order: 'le', base: 'int', members: [{ name: 'A', value: 128 }] }, 'PH5_ERR_ARGUMENT', /does not fit/],
    'enum duplicate value': [
      {
        kind: 'enum',
        size: 1,
        order: 'le',
        base: 'uint',
        members: [
          { name: 'A', value: 1 },
          { name: 'B', value: 1 },
        ],
      },
      'PH5_ERR_ARGUMENT',
      /appears twice/,
    ],
    'enum fraction': [{ kind: 'enum', size: 4, order: 'le', base: 'int', members: [{ name: 'A', value: 1.5 }] }, 'PH5_ERR_ARGUMENT', /integer/],
    'enum negative uint': [{ kind: 'enum', size: 8, order: 'le', base: 'uint', members: [{ name: 'A', value: -1 }] }, 'PH5_ERR_ARGUMENT', /does not fit/],
    'string size': [{ kind: 'string', size: 4, order: 'le', charset: 'utf-8' }, 'PH5_ERR_ARGUMENT', /size must be 0/],
    'string charset': [{ kind: 'string', size: 0, order: 'le', charset: 'latin-1' }, 'PH5_ERR_ARGUMENT', /charset/],
  };
  test('are refused before anything is created, with the reason', async () => {
    const f = await H5File.open(file, { mode: 'create', parallel: false });
    try {
      for (const [label, [dtype, code, match]] of Object.entries(BAD)) {
        await rejects(async () => f.createDataset(label, { dtype: dtype as NativeDtype, shape: [1] }), code, match);
      }
      assert.deepEqual(await f.list('/'), [], 'nothing was created');
      await f.createDataset('ok', { dtype: deep(8) as NativeDtype, shape: [1] });
    } finally {
      await f.close();
    }
  });
});
