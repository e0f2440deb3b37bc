/**
 * Dataset creation options under mpirun -n 1, 2, 4 (fixtures/dataset-options.ts): dtype,
 * shape, maxshape, chunks (given or picked), gzip, shuffle, fill value / fill time, and
 * collective strided writes into them (filtered ones too, also when independent I/O or a
 * byte-order conversion was asked for). Checked with h5py and `h5dump -p`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { StepsReport } from './fixtures/steps.js';
import { assertErrors, assertNoLeaks, h5dump, py, RANKS, runSteps } from '../helpers/surface.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-native-dsopts-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface PyInfo {
  dtype: string;
  shape: number[];
  maxshape: Array<number | null>;
  chunks: number[] | null;
  compression: string | null;
  level: number | null;
  shuffle: boolean;
  fillvalue: number | string | boolean;
  filltime: string;
  ok: boolean;
}

const PY = `
import h5py.h5d
FT = {h5py.h5d.FILL_TIME_NEVER: 'never', h5py.h5d.FILL_TIME_IFSET: 'ifset', h5py.h5d.FILL_TIME_ALLOC: 'alloc'}
def grid(rows, cols, dtype):
    r = np.arange(rows).reshape(-1, 1); c = np.arange(cols).reshape(1, -1)
    return (r * 100 + c).astype(dtype)
with h5py.File(path, 'r') as f:
    def info(name, ok):
        d = f[name]
        fv = d.fillvalue
        fv = fv.item() if hasattr(fv, 'item') else fv
        if isinstance(fv, bytes): fv = fv.decode('latin1')
        return {'dtype': d.dtype.str, 'shape': list(d.shape), 'maxshape': list(d.maxshape), 'chunks': list(d.chunks) if d.chunks else None,
                'compression': d.compression, 'level': d.compression_opts, 'shuffle': d.shuffle, 'fillvalue': fv,
                'filltime': FT[d.id.get_create_plist().get_fill_time()], 'ok': bool(ok)}
    out['plain'] = info('plain', np.array_equal(f['plain'][()], grid(6, 5, 'f8')))
    out['chunked'] = info('chunked', np.array_equal(f['chunked'][()], grid(10, 6, 'i4')))
    out['gz'] = info('gz', np.array_equal(f['gz'][()], grid(40, 7, 'u2')))
    out['gzshuf'] = info('gzshuf', np.array_equal(f['gzshuf'][()], grid(40, 7, 'i4')))
    out['shuf'] = info('shuf', np.array_equal(f['shuf'][()], grid(33, 1, 'f4')))
    fill = f['fill'][()]
    out['fill'] = info('fill', np.array_equal(fill[:6], grid(6, 2, 'i2')) and (fill[6:] == -3).all())
    out['fillgz'] = info('fillgz', (f['fillgz'][()] == 1.5).all())
    out['unlim'] = info('unlim', f['unlim'].shape == (0, 3))
    out['gzidle'] = info('gzidle', np.array_equal(f['gzidle'][()], grid(3, 7, 'i4')))
    out['strings'] = info('strings', f['strings'][()].ravel().tolist() == [b's-0', b's-1', b's-2', b's-3'])
`;

const base = { compression: null, level: null, shuffle: false, fillvalue: 0, filltime: 'never', ok: true };

for (const n of RANKS) {
  describe(`dataset creation options with ${n} rank(s)`, () => {
    const file = path.join(dir, `options-${n}.h5`);
    let results: StepsReport[] = [];

    test('creates, writes and describes every dataset on every rank; bad options refused', async () => {
      results = await runSteps(n, 'dataset-options', [file]);
      assertNoLeaks(results);
      assertErrors(results, {
        'gzip level 10': 'PH5_ERR_ARGUMENT',
        'scalar gzip': 'PH5_ERR_ARGUMENT',
        'chunks past maxshape': 'PH5_ERR_ARGUMENT',
        'fill value size': 'PH5_ERR_ARGUMENT',
        'maxshape below shape': 'PH5_ERR_ARGUMENT',
        'unknown dtype size': 'PH5_ERR_ARGUMENT',
        exists: 'PH5_ERR_EXISTS',
        'parent is a dataset': 'PH5_ERR_TYPE',
        'info of the root': 'PH5_ERR_ARGUMENT',
        'info of nothing': 'PH5_ERR_NOT_FOUND',
      });
      for (const r of results) {
        // collective everywhere; the filtered writes too, though one asked for independent
        // I/O and one for a byte-order conversion (HDF5 would fall back to independent)
        for (const [name, rep] of Object.entries(r.values.reports as Record<string, unknown>))
          assert.deepEqual(rep, { collective: true, noCollectiveCause: [] }, `${name} on rank ${r.rank}`);
        assert.deepEqual(r.values.infos, results[0]?.values.infos);
      }
    });

    test('datasetInfo reports layout, chunks, filters, fill value and fill time', () => {
      const infos = results[0]?.values.infos as Record<string, Record<string, unknown>>;
      const noFill = { fillValue: null, fillTime: 'never' };
      assert.deepEqual(infos.plain, {
        dtype: { kind: 'float', size: 8, order: 'le' },
        shape: [6, 5],
        maxshape: [6, 5],
        layout: 'contiguous',
        chunks: null,
        filters: [],
        ...noFill,
      });
      assert.deepEqual(infos.chunked, {
        dtype: { kind: 'int', size: 4, order: 'le' },
        shape: [10, 6],
        maxshape: [20, -1],
        layout: 'chunked',
        chunks: [3, 4],
        filters: [],
        ...noFill,
      });
      assert.deepEqual(infos.gz?.chunks, [40, 7], 'picked: the whole (small, fixed) dataset');
      assert.deepEqual(infos.gz?.filters, [{ id: 1, name: 'gzip', level: 6 }]);
      assert.deepEqual(infos.gzshuf?.filters, [
        { id: 2, name: 'shuffle' },
        { id: 1, name: 'gzip', level: 1 },
      ]);
      assert.deepEqual(infos.gzshuf?.dtype, { kind: 'int', size: 4, order: 'be' });
      assert.deepEqual(infos.shuf?.filters, [{ id: 2, name: 'shuffle' }]);
      assert.deepEqual([infos.fill?.fillValue, infos.fill?.fillTime, infos.fill?.layout], ['fdff', 'ifset', 'contiguous']);
      assert.deepEqual([infos.fillgz?.fillValue, infos.fillgz?.fillTime], ['000000000000f83f', 'ifset']);
      assert.deepEqual(
        [infos.unlim?.maxshape, infos.unlim?.chunks],
        [
          [-1, 3],
          [349525, 3],
        ],
        'picked: ~1 MiB, from the last dimension',
      );
      assert.deepEqual(infos.strings?.dtype, { kind: 'bytes', size: 8, order: 'le' });
    });

    test('h5py reads values, dtype, shape, maxshape, chunks, compression, shuffle and fill settings', async () => {
      const out = await py<Record<string, PyInfo>>(file, PY);
      assert.deepEqual(out.plain, { ...base, dtype: '<f8', shape: [6, 5], maxshape: [6, 5], chunks: null });
      assert.deepEqual(out.chunked, { ...base, dtype: '<i4', shape: [10, 6], maxshape: [20, null], chunks: [3, 4] });
      assert.deepEqual(out.gz, { ...base, dtype: '<u2', shape: [40, 7], maxshape: [40, 7], chunks: [40, 7], compression: 'gzip', level: 6 });
      assert.deepEqual(out.gzshuf, { ...base, dtype: '>i4', shape: [40, 7], maxshape: [40, 7], chunks: [8, 7], compression: 'gzip', level: 1, shuffle: true });
      assert.deepEqual(out.shuf, { ...base, dtype: '<f4', shape: [33, 1], maxshape: [33, 1], chunks: [10, 1], shuffle: true });
      assert.deepEqual(out.fill, { ...base, dtype: '<i2', shape: [12, 2], maxshape: [12, 2], chunks: null, fillvalue: -3, filltime: 'ifset' });
      assert.deepEqual(out.fillgz, {
        ...base,
        dtype: '<f8',
        shape: [5, 2],
        maxshape: [5, 2],
        chunks: [2, 2],
        compression: 'gzip',
        level: 2,
        fillvalue: 1.5,
        filltime: 'ifset',
      });
      assert.deepEqual(out.unlim, { ...base, dtype: '|b1', shape: [0, 3], maxshape: [null, 3], chunks: [349525, 3], fillvalue: false });
      assert.deepEqual(out.gzidle, { ...base, dtype: '>i4', shape: [3, 7], maxshape: [3, 7], chunks: [1, 7], compression: 'gzip', level: 1 });
      assert.deepEqual(out.strings, { ...base, dtype: '|S8', shape: [4, 1], maxshape: [4, 1], chunks: [4, 1], compression: 'gzip', level: 9, fillvalue: '' });
    });

    test('h5dump -p shows the filter pipelines and chunking', async () => {
      const text = await h5dump(file, '-p', '-H', '-d', '/gzshuf');
      assert.match(text, /CHUNKED \( 8, 7 \)/);
      assert.match(text, /PREPROCESSING SHUFFLE/);
      assert.match(text, /COMPRESSION DEFLATE \{ LEVEL 1 \}/);
      assert.match(text, /DATATYPE\s+H5T_STD_I32BE/);
      const fill = await h5dump(file, '-p', '-H', '-d', '/fill');
      assert.match(fill, /FILLVALUE \{\s+FILL_TIME H5D_FILL_TIME_IFSET\s+VALUE\s+-3\s+\}/);
      const plain = await h5dump(file, '-p', '-H', '-d', '/plain');
      assert.match(plain, /FILL_TIME H5D_FILL_TIME_NEVER/);
      assert.match(plain, /CONTIGUOUS/);
    });
  });
}
