/**
 * Variable-length strings (h5py.string_dtype(), UTF-8 and ASCII): written from fixed-width
 * bytes slots and read with readStrings, serially (h5py reads them), files made by h5py
 * read by the addon, the refusals (raw reads, other payload kinds, fill values); then under
 * mpirun -n 2: parallel HDF5 1.10 refuses variable-length writes on every rank
 * (PH5_ERR_NEEDS_SERIAL), a serial open writes them, and the ranks read them in parallel.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { H5File, leakedObjectCount, openObjectCount, type NativeDtype } from '../../native/lib/index.js';
import { rejectsNative as rejects } from '../helpers/native-errors.js';
import { assertErrors, assertNoLeaks, py, runSteps } from '../helpers/surface.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-native-vlen-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const utf8: NativeDtype = { kind: 'string', size: 0, order: 'le', charset: 'utf-8' };
const ascii: NativeDtype = { kind: 'string', size: 0, order: 'le', charset: 'ascii' };
const bytes = (size: number): NativeDtype => ({ kind: 'bytes', size, order: 'le' });

/** Fixed-width, null-padded slots, the way the API stages string values. */
function slots(values: string[], width: number): Buffer {
  const b = Buffer.alloc(values.length * width);
  values.forEach((v, i) => b.write(v, i * width, 'utf8'));
  return b;
}
const rows = (start: number, count: number) => ({ start: [start], stride: [1], count: [count] });

describe('serially', () => {
  const file = path.join(dir, 'serial.h5');

  test('bytes slots become variable-length strings h5py reads; readStrings reads them back', async () => {
    const f = await H5File.open(file, { mode: 'create', parallel: false });
    await f.createDataset('u', { dtype: utf8, shape: [4] });
    await f.createDataset('a', { dtype: ascii, shape: [0], maxshape: [-1], chunks: [3], gzip: 6, shuffle: true });
    await f.write('u', rows(0, 4), slots(['héllo wörld', '', 'x', '✓✓✓✓'], 13), { memDtype: bytes(13) });
    // A slot filled to its width has no NUL; one with an early NUL is cut there.
    const cut = Buffer.from('ab\0cdefgh', 'latin1');
    await f.write('u', rows(2, 1), cut.subarray(0, 8), { memDtype: bytes(8) });
    await f.resize('a', [5]);
    await f.write('a', rows(0, 5), slots(['one', 'two', 'three', 'four', 'fives'], 5), { memDtype: bytes(5) });
    assert.deepEqual(await f.readStrings('u'), ['héllo wörld', '', 'ab', '✓✓✓✓']);
    assert.deepEqual(await f.readStrings('a', rows(1, 3)), ['two', 'three', 'four']);
    assert.deepEqual(await f.readStrings('a', { start: [0], stride: [2], count: [3] }), ['one', 'three', 'fives']);
    assert.deepEqual(await f.readStrings('a', rows(0, 0)), []);
    const info = await f.datasetInfo('a');
    assert.deepEqual([info.dtype, info.shape, info.maxshape, info.fillValue], [ascii, [5], [-1], null]);
    assert.deepEqual((await f.datasetInfo('u')).dtype, utf8);
    assert.equal(leakedObjectCount(), 0);

    await rejects(() => f.read('u'), 'PH5_ERR_TYPE', /readStrings/);
    await rejects(() => f.readStrings('nope'), 'PH5_ERR_NOT_FOUND');
    await f.createDataset('n', { dtype: { kind: 'int', size: 4, order: 'le' }, shape: [2] });
    await rejects(() => f.readStrings('n'), 'PH5_ERR_TYPE', /not variable-length strings/);
    await rejects(() => f.write('u', rows(0, 1), Buffer.alloc(8)), 'PH5_ERR_TYPE', /bytes slots/);
    await rejects(() => f.write('u', rows(0, 1), Buffer.alloc(4), { memDtype: { kind: 'int', size: 4, order: 'le' } }), 'PH5_ERR_TYPE');
    await rejects(() => f.write('n', rows(0, 2), Buffer.alloc(8), { memDtype: bytes(4) }), 'PH5_ERR_TYPE');
    await rejects(() => f.write('u', rows(0, 2), Buffer.alloc(12), { memDtype: bytes(4) }), 'PH5_ERR_SELECTION');
    await rejects(async () => f.write('u', rows(0, 1), Buffer.alloc(0), { memDtype: utf8 }), 'PH5_ERR_TYPE', /fixed-width bytes/);
    await rejects(async () => f.createDataset('filled', { dtype: utf8, shape: [2], fillValue: Buffer.alloc(1) }), 'PH5_ERR_ARGUMENT', /fillValue/);
    await f.close();
    assert.equal(openObjectCount(), 0);

    const got = await py<Record<string, unknown>>(
      file,
      `
with h5py.File(path, 'r') as f:
    for k in ['u', 'a']:
        d = f[k]
        si = h5py.check_string_dtype(d.dtype)
        out[k] = {'encoding': si.encoding, 'length': si.length, 'values': [x.decode(si.encoding) for x in d[()]],
                  'filters': list(d._filters.keys()), 'maxshape': list(d.maxshape)}
`,
    );
    assert.deepEqual(got.u, { encoding: 'utf-8', length: null, values: ['héllo wörld', '', 'ab', '✓✓✓✓'], filters: [], maxshape: [4] });
    assert.deepEqual(got.a, {
      encoding: 'ascii',
      length: null,
      values: ['one', 'two', 'three', 'four', 'fives'],
      filters: ['shuffle', 'gzip'],
      maxshape: [null],
    });
  });

  test('string datasets and attributes made by h5py', async () => {
    const file2 = path.join(dir, 'h5py.h5');
    await py(
      file2,
      `
with h5py.File(path, 'w') as f:
    f.create_dataset('u', data=np.array([['ä', 'bb'], ['', 'c' * 300]], dtype=object), dtype=h5py.string_dtype('utf-8'))
    f.create_dataset('a', data=[b'x', b'yz'], dtype=h5py.string_dtype('ascii'))
    f.create_dataset('fixed', data=np.array([b'ab', b'cde'], dtype='S3'))
    f.attrs['u'] = 'ünï'
    f.attrs.create('a', [b'p', b'qr'], dtype=h5py.string_dtype('ascii'))
    f.attrs['s5'] = np.bytes_(b'hello')
`,
    );
    const f = await H5File.open(file2, { mode: 'r', parallel: false });
    try {
      const u = await f.datasetInfo('u');
      assert.deepEqual([u.dtype, u.shape], [utf8, [2, 2]]);
      assert.deepEqual(await f.readStrings('u'), ['ä', 'bb', '', 'c'.repeat(300)]);
      assert.deepEqual(await f.readStrings('u', { start: [1, 1], stride: [1, 1], count: [1, 1] }), ['c'.repeat(300)]);
      assert.deepEqual([(await f.datasetInfo('a')).dtype, await f.readStrings('a')], [ascii, ['x', 'yz']]);
      assert.deepEqual((await f.datasetInfo('fixed')).dtype, bytes(3), 'fixed-length strings stay bytes');
      assert.deepEqual(await f.readAttribute('/', 'u'), { kind: 'string', value: 'ünï', shape: [], length: null, cset: 'utf8' });
      assert.deepEqual(await f.readAttribute('/', 'a'), { kind: 'string', value: ['p', 'qr'], shape: [2], length: null, cset: 'ascii' });
      assert.deepEqual(await f.readAttribute('/', 's5'), { kind: 'string', value: 'hello', shape: [], length: 5, cset: 'ascii' });
      assert.equal(leakedObjectCount(), 0);
    } finally {
      await f.close();
    }
  });
});

describe('under mpirun -n 2', () => {
  const file = path.join(dir, 'parallel.h5');

  test('parallel writes of strings are refused on every rank; serial writes work; ranks read in parallel', async () => {
    const written = await runSteps(2, 'types-vlen', [file, 'write']);
    assertNoLeaks(written);
    assertErrors(written, { 'write strings': 'PH5_ERR_NEEDS_SERIAL', 'write gzip strings': 'PH5_ERR_NEEDS_SERIAL' });
    for (const r of written) {
      assert.deepEqual(r.values['strings before'], ['', '', '', ''], 'unwritten strings read as empty');
      assert.equal(r.values['records collective'], true, 'the gzip compound write stayed collective');
    }

    const f = await H5File.open(file, { mode: 'rw', parallel: false });
    await f.write('s', rows(0, 4), slots(['r0', 'β0', 'r1', 'β1'], 8), { memDtype: bytes(8) });
    await f.write('sz', rows(0, 4), slots(['a', 'bb', 'ccc', 'dddd'], 4), { memDtype: bytes(4) });
    await f.close();

    const read = await runSteps(2, 'types-vlen', [file, 'read']);
    assertNoLeaks(read);
    assertErrors(read, { 'read strings raw': 'PH5_ERR_TYPE' });
    assert.deepEqual(
      read.map((r) => r.values.mine),
      [
        ['r0', 'β0'],
        ['r1', 'β1'],
      ],
    );
    const records = Buffer.alloc(48);
    for (let i = 0; i < 4; i++) {
      records.writeInt32LE(-i, 12 * i);
      records.writeDoubleLE(Math.floor(i / 2) + (i % 2) / 4, 12 * i + 4);
    }
    for (const r of read) {
      assert.deepEqual(r.values.gzip, ['a', 'bb', 'ccc', 'dddd']);
      assert.equal(r.values.records, records.toString('hex'), 'records converted field by field by name');
    }
    const got = await py<{ s: string[]; rec: [number, number][] }>(
      file,
      `
with h5py.File(path, 'r') as f:
    out['s'] = [x.decode() for x in f['s'][()]]
    out['rec'] = [list(r) for r in f['rec'][()].tolist()]
`,
    );
    assert.deepEqual(got, {
      s: ['r0', 'β0', 'r1', 'β1'],
      rec: [
        [0, 0],
        [-1, 0.25],
        [-2, 1],
        [-3, 1.25],
      ],
    });
  });
});
