/**
 * Attributes under mpirun -n 1, 2, 4 (fixtures/attributes.ts) on the file, a group and a
 * dataset: numeric scalars and arrays (several dtypes and byte orders), strings fixed and
 * variable length UTF-8, replace, list, delete, failures; checked with h5py and h5dump.
 * Then ph5 reads (serially) attributes h5py wrote.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { H5File, leakedObjectCount, openObjectCount, Ph5NativeError } from '../../native/lib/index.js';
import type { StepsReport } from './fixtures/steps.js';
import { assertErrors, assertNoLeaks, h5dump, py, RANKS, runSteps } from '../helpers/surface.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-native-attrs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PY = `
def show(v):
    if isinstance(v, bytes): return 'b:' + v.decode('utf-8')
    if isinstance(v, np.ndarray): return [show(x) for x in v.tolist()] if v.dtype.kind in 'OS' else v.tolist()
    if isinstance(v, np.generic): return v.item()
    return v
with h5py.File(path, 'r') as f:
    for o in [f, f['g'], f['g/d']]:
        for k in o.attrs:
            dt = o.attrs.get_id(k).dtype
            si = h5py.check_string_dtype(dt)
            out[o.name + ' ' + k] = {'value': show(o.attrs[k]), 'dtype': dt.str, 'shape': list(o.attrs.get_id(k).shape),
                                     'string': [si.encoding, si.length] if si else None}
`;

const WANT: Record<string, { value: unknown; dtype: string; shape: number[]; string: [string, number | null] | null }> = {
  '/ title': { value: 'héllo wörld ✓', dtype: '|O', shape: [], string: ['utf-8', null] },
  '/ version': { value: 3, dtype: '<i4', shape: [], string: null },
  '/ tags': { value: ['a', 'β', ''], dtype: '|O', shape: [3], string: ['utf-8', null] },
  '/ code': { value: 'b:ABC', dtype: '|S3', shape: [], string: ['utf-8', 3] },
  '/ empty': { value: '', dtype: '|O', shape: [], string: ['utf-8', null] },
  '/g matrix': {
    value: [
      [1, -2, 3],
      [-4, 5, -32768],
    ],
    dtype: '>i2',
    shape: [2, 3],
    string: null,
  },
  '/g flag': { value: true, dtype: '|b1', shape: [], string: null },
  '/g half': { value: [1, -2.5], dtype: '<f2', shape: [2], string: null },
  // eslint-disable-next-line no-loss-of-precision -- the stored value, 2^63 + 5; h5py's JSON of it parses to the same double
  '/g big': { value: [9223372036854775813, 7], dtype: '<u8', shape: [2], string: null },
  '/g raw': { value: 'b:ab', dtype: '|S4', shape: [], string: ['ascii', 4] },
  '/g/d units': { value: 'b:m/s', dtype: '|S10', shape: [], string: ['utf-8', 10] },
  '/g/d scale': { value: ['x', 'yz'], dtype: '|O', shape: [2], string: ['utf-8', null] },
  '/g/d names': { value: ['b:alpha', 'b:βeta'], dtype: '|S5', shape: [2], string: ['utf-8', 5] },
};

for (const n of RANKS) {
  describe(`attributes with ${n} rank(s)`, () => {
    const file = path.join(dir, `attrs-${n}.h5`);
    let results: StepsReport[] = [];

    test('write, replace, list, read, delete on every rank; failures have their codes', async () => {
      results = await runSteps(n, 'attributes', [file]);
      assertNoLeaks(results);
      assertErrors(results, {
        'read missing': 'PH5_ERR_NOT_FOUND',
        'delete missing': 'PH5_ERR_NOT_FOUND',
        'object missing': 'PH5_ERR_NOT_FOUND',
        'list object missing': 'PH5_ERR_NOT_FOUND',
        'string too long': 'PH5_ERR_ARGUMENT',
        'data size': 'PH5_ERR_ARGUMENT',
        'empty name': 'PH5_ERR_ARGUMENT',
        'bad kind': 'PH5_ERR_ARGUMENT',
        'write read-only': 'PH5_ERR_READ_ONLY',
        'delete read-only': 'PH5_ERR_READ_ONLY',
      });
      const v = results[0]?.values as Record<string, unknown>;
      assert.deepEqual(v['list /'], ['code', 'empty', 'tags', 'title', 'version']);
      assert.deepEqual(v['list g'], ['big', 'flag', 'half', 'matrix', 'raw']);
      assert.deepEqual(v['list g/d'], ['names', 'scale', 'units'], "'gone' was deleted");
      for (const r of results) assert.deepEqual(r.values, v, `rank ${r.rank} reads the same`);
    });

    test('ph5 reads back what it wrote', () => {
      const reads = results[0]?.values.reads as Record<string, unknown>;
      const str = (value: unknown, shape: number[], length: number | null, cset = 'utf8') => ({ kind: 'string', value, shape, length, cset });
      const num = (kind: string, size: number, order: string, shape: number[], data: string) => ({
        kind: 'numeric',
        dtype: { kind, size, order },
        shape,
        data,
      });
      assert.deepEqual(reads, {
        '/ title': str('héllo wörld ✓', [], null),
        '/ version': num('int', 4, 'le', [], '03000000'),
        '/ tags': str(['a', 'β', ''], [3], null),
        '/ code': str('ABC', [], 3),
        '/ empty': str('', [], null),
        'g matrix': num('int', 2, 'be', [2, 3], '0001fffe0003fffc00058000'),
        'g flag': num('bool', 1, 'le', [], '01'),
        'g half': num('float', 2, 'le', [2], '003c00c1'),
        'g big': num('uint', 8, 'le', [2], '05000000000000800700000000000000'),
        'g raw': str('ab', [], 4, 'ascii'),
        'g/d units': str('m/s', [], 10),
        'g/d scale': str(['x', 'yz'], [2], null),
        'g/d names': str(['alpha', 'βeta'], [2], 5),
      });
      assert.deepEqual(results[0]?.values['reopened title'], str('héllo wörld ✓', [], null));
    });

    test('h5py reads every attribute with the value, dtype, shape and string kind written', async () => {
      const out = await py<typeof WANT>(file, PY);
      assert.deepEqual(out, WANT);
    });

    test('h5dump shows the attribute types', async () => {
      const text = await h5dump(file, '-A');
      assert.match(text, /ATTRIBUTE "title" \{\s+DATATYPE\s+H5T_STRING \{\s+STRSIZE H5T_VARIABLE;\s+STRPAD H5T_STR_NULLTERM;\s+CSET H5T_CSET_UTF8;/);
      assert.match(text, /ATTRIBUTE "units" \{\s+DATATYPE\s+H5T_STRING \{\s+STRSIZE 10;\s+STRPAD H5T_STR_NULLPAD;\s+CSET H5T_CSET_UTF8;/);
      assert.match(text, /ATTRIBUTE "matrix" \{\s+DATATYPE\s+H5T_STD_I16BE\s+DATASPACE\s+SIMPLE \{ \( 2, 3 \) \/ \( 2, 3 \) \}/);
      assert.match(text, /ATTRIBUTE "flag" \{\s+DATATYPE\s+H5T_ENUM \{\s+H5T_STD_I8LE;\s+"FALSE"\s+0;\s+"TRUE"\s+1;/);
      assert.match(text, /ATTRIBUTE "version" \{\s+DATATYPE\s+H5T_STD_I32LE\s+DATASPACE\s+SCALAR/);
    });
  });
}

test('ph5 reads attributes h5py wrote (serial), and refuses types it has no dtype for', async () => {
  const file = path.join(dir, 'from-h5py.h5');
  await py(
    file,
    `
with h5py.File(path, 'w') as f:
    f.attrs['f4'] = np.float32(2.5)
    f.attrs['i8'] = np.arange(4, dtype='>i8')
    f.attrs['s'] = 'text'
    f.attrs['b'] = np.bytes_(b'xy')
    f.attrs['cmp'] = np.array([(1, 2.0)], dtype=[('a', 'i4'), ('b', 'f8')])
    f.attrs.create('nothing', h5py.Empty('f8'))
`,
  );
  const f = await H5File.open(file, { mode: 'r', parallel: false });
  try {
    assert.deepEqual(await f.listAttributes('/'), ['b', 'cmp', 'f4', 'i8', 'nothing', 's']);
    const f4 = await f.readAttribute('/', 'f4');
    assert.ok(f4.kind === 'numeric');
    assert.deepEqual([f4.dtype, f4.shape, f4.data.readFloatLE(0)], [{ kind: 'float', size: 4, order: 'le' }, [], 2.5]);
    const i8 = await f.readAttribute('/', 'i8');
    assert.ok(i8.kind === 'numeric');
    assert.deepEqual(
      [i8.dtype, i8.shape, [0, 1, 2, 3].map((k) => i8.data.readBigInt64BE(k * 8))],
      [{ kind: 'int', size: 8, order: 'be' }, [4], [0n, 1n, 2n, 3n]],
    );
    assert.deepEqual(await f.readAttribute('/', 's'), { kind: 'string', value: 'text', shape: [], length: null, cset: 'utf8' });
    assert.deepEqual(await f.readAttribute('/', 'b'), { kind: 'string', value: 'xy', shape: [], length: 2, cset: 'ascii' });
    const cmp = await f.readAttribute('/', 'cmp');
    assert.ok(cmp.kind === 'numeric' && cmp.dtype.kind === 'compound', 'compound attributes are numeric, in their layout');
    assert.deepEqual([cmp.shape, cmp.data.readInt32LE(0), cmp.data.readDoubleLE(4)], [[1], 1, 2]);
    for (const name of ['nothing']) {
      await assert.rejects(f.readAttribute('/', name), (e: unknown) => e instanceof Ph5NativeError && e.code === 'PH5_ERR_TYPE');
      assert.equal(leakedObjectCount(), 0, `no id left open after refusing ${name}`);
    }
    assert.equal(openObjectCount(), 1);
  } finally {
    await f.close();
  }
  assert.equal(openObjectCount(), 0);
});
