/**
 * Collective writes under real mpirun (N = 1, 2, 4), checked with independent readers:
 * h5py (values, dtype.str, shape, maxshape, chunks, fill time) and h5dump (type text).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { DatasetInfo, WriteReport } from '../../native/lib/index.js';
import { CASES, PY_EXPECTED } from './fixtures/values.js';
import { h5dumpHeader, h5dumpTypes, mpirun } from '../helpers/mpirun.js';

interface WriteResult {
  rank: number;
  size: number;
  threadLevel: number;
  reports: Record<string, WriteReport>;
  infos: Record<string, DatasetInfo>;
  readOk: Record<string, boolean>;
  objectsOpen: number;
  objectsClosed: number;
}

interface PyDataset {
  dtype: string;
  shape: number[];
  maxshape: Array<number | null>;
  chunks: number[] | null;
  fillTime: number;
  fillValue: number | string | boolean;
  ok: boolean;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-native-write-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const L = 24;
// ph5's defaults without a fill value: no filters, H5D_FILL_TIME_NEVER.
const NO_FILL = { filters: [], fillValue: null, fillTime: 'never' } as const;
const MPI_THREAD_SERIALIZED = 2;

// h5py's view of every dataset, values compared in Python with the formulas of values.ts.
const PY_CHECK = `
import h5py.h5d
L = ${L}
cases = json.loads(sys.argv[2])
out = {}
with h5py.File(path, 'r') as f:
    def info(name):
        d = f[name]
        fv = d.fillvalue
        fv = fv.item() if hasattr(fv, 'item') else fv
        if isinstance(fv, bytes): fv = fv.decode('latin1')
        return {'dtype': d.dtype.str, 'shape': list(d.shape), 'maxshape': list(d.maxshape), 'chunks': list(d.chunks) if d.chunks else None,
                'fillTime': d.id.get_create_plist().get_fill_time(), 'fillValue': fv, 'ok': False}
    for c in cases:
        r = info(c['name']); r['ok'] = same(c['dtype']['kind'], c['dtype']['size'], f[c['name']][()], L); out[c['name']] = r
    r = info('grid/ext'); r['ok'] = bool(np.array_equal(f['grid/ext'][()], np.add.outer(np.arange(12) * 100, np.arange(6)))); out['grid/ext'] = r
    r = info('auto/unlim'); r['ok'] = same('float', 8, f['auto/unlim'][()], L); out['auto/unlim'] = r
    fy = f['fill/yes'][()]
    r = info('fill/yes'); r['ok'] = list(fy[:12]) == [((k * 37) % 251 - 125) * 257 for k in range(12)] and list(fy[12:]) == [-7] * 12; out['fill/yes'] = r
    r = info('fill/no'); r['ok'] = same('int', 2, f['fill/no'][()], L); out['fill/no'] = r
    r = info('conv/be'); r['ok'] = same('int', 4, f['conv/be'][()], L); out['conv/be'] = r
    r = info('indep/x'); r['ok'] = same('float', 4, f['indep/x'][()], L); out['indep/x'] = r
    r = info('scalar'); r['ok'] = float(f['scalar'][()]) == 2.5; out['scalar'] = r
out['_fill'] = {'never': h5py.h5d.FILL_TIME_NEVER, 'ifset': h5py.h5d.FILL_TIME_IFSET}
`;

async function pyCheck(file: string): Promise<Record<string, PyDataset> & { _fill: { never: number; ifset: number } }> {
  const program = ['import json, sys, h5py, numpy as np', 'path = sys.argv[1]', PY_EXPECTED, PY_CHECK, 'print(json.dumps(out))'].join('\n');
  const { execFileSync } = await import('node:child_process');
  const env = { ...process.env };
  delete env.OMPI_COMM_WORLD_SIZE;
  const stdout = execFileSync('/usr/bin/python3', ['-c', program, file, JSON.stringify(CASES)], { env, encoding: 'utf8' });
  return JSON.parse(stdout);
}

for (const n of [1, 2, 4]) {
  describe(`collective write with ${n} rank(s)`, () => {
    const file = path.join(dir, `write-${n}.h5`);
    let results: WriteResult[] = [];

    test('the fixture runs under mpirun and every rank reports', async () => {
      const run = await mpirun<WriteResult>(n, 'write', [file]);
      results = run.results;
      console.log(`mpirun -n ${n} write: ${run.ms} ms`);
      for (const r of results) {
        assert.equal(r.size, n);
        assert.ok(r.threadLevel >= MPI_THREAD_SERIALIZED, `thread level ${r.threadLevel}`);
      }
    });

    test('write reports: collective, except independent and converting writes', () => {
      assert.equal(results.length, n);
      for (const r of results) {
        for (const c of CASES) assert.deepEqual(r.reports[c.name], { collective: true, noCollectiveCause: [] }, `${c.name} on rank ${r.rank}`);
        assert.deepEqual(r.reports['grid/ext'], { collective: true, noCollectiveCause: [] });
        assert.equal(r.reports['indep/x']?.collective, false);
        assert.deepEqual(r.reports['indep/x']?.noCollectiveCause, ['H5D_MPIO_SET_INDEPENDENT']);
        // byte-order conversion makes HDF5 1.10 fall back to independent I/O, and say why
        assert.equal(r.reports['conv/be']?.collective, false);
        assert.ok(r.reports['conv/be']?.noCollectiveCause.includes('H5D_MPIO_DATATYPE_CONVERSION'));
      }
    });

    test('ph5 reads back what every rank wrote, and no HDF5 id leaks', () => {
      for (const r of results) {
        for (const [name, ok] of Object.entries(r.readOk)) assert.equal(ok, true, `read back ${name} on rank ${r.rank}`);
        assert.equal(Object.keys(r.readOk).length, CASES.length * 2 + 1);
        assert.equal(r.objectsOpen, 1, 'only the file itself is open before close');
        assert.equal(r.objectsClosed, 0, 'nothing open after close');
      }
    });

    test('datasetInfo describes every dataset (dtype round-trips)', () => {
      const infos = results[0]?.infos as Record<string, DatasetInfo>;
      for (const c of CASES) {
        const want = {
          ...c.dtype,
          order: c.dtype.size > 1 && (c.dtype.kind === 'int' || c.dtype.kind === 'uint' || c.dtype.kind === 'float') ? c.dtype.order : 'le',
        };
        assert.deepEqual(infos[c.name], { dtype: want, shape: [L], maxshape: [L], layout: 'contiguous', chunks: null, ...NO_FILL }, c.name);
      }
      assert.deepEqual(infos['grid/ext'], {
        dtype: { kind: 'int', size: 4, order: 'le' },
        shape: [12, 6],
        maxshape: [-1, 6],
        layout: 'chunked',
        chunks: [4, 3],
        ...NO_FILL,
      });
      assert.deepEqual(infos['auto/unlim'], {
        dtype: { kind: 'float', size: 8, order: 'le' },
        shape: [L],
        maxshape: [-1],
        layout: 'chunked',
        chunks: [131072],
        ...NO_FILL,
      });
      assert.deepEqual(infos['scalar'], {
        dtype: { kind: 'float', size: 8, order: 'le' },
        shape: [],
        maxshape: [],
        layout: 'contiguous',
        chunks: null,
        ...NO_FILL,
      });
      for (const r of results) assert.deepEqual(r.infos, infos, `rank ${r.rank} sees the same metadata`);
    });

    test('h5py reads the values, dtypes, shapes, maxshapes, chunks and fill settings', async () => {
      const py = await pyCheck(file);
      for (const c of CASES) {
        const d = py[c.name] as PyDataset;
        assert.equal(d.dtype, c.np, `${c.name} dtype`);
        assert.deepEqual(d.shape, [L]);
        assert.deepEqual(d.maxshape, [L]);
        assert.equal(d.chunks, null);
        assert.equal(d.ok, true, `${c.name} values`);
        assert.equal(d.fillTime, py._fill.never, `${c.name}: no fill value -> H5D_FILL_TIME_NEVER`);
      }
      assert.deepEqual(py['grid/ext'], { dtype: '<i4', shape: [12, 6], maxshape: [null, 6], chunks: [4, 3], fillTime: py._fill.never, fillValue: 0, ok: true });
      assert.deepEqual(py['auto/unlim'], { dtype: '<f8', shape: [L], maxshape: [null], chunks: [131072], fillTime: py._fill.never, fillValue: 0, ok: true });
      assert.deepEqual(py['fill/yes'], { dtype: '<i2', shape: [L], maxshape: [L], chunks: null, fillTime: py._fill.ifset, fillValue: -7, ok: true });
      assert.equal(py['fill/no']?.fillTime, py._fill.never);
      assert.equal(py['fill/no']?.ok, true);
      assert.equal(py['conv/be']?.dtype, '>i4');
      assert.equal(py['conv/be']?.ok, true, 'little-endian payload converted into the big-endian dataset');
      assert.equal(py['indep/x']?.ok, true);
      assert.deepEqual([py['scalar']?.shape, py['scalar']?.ok], [[], true]);
    });

    test('h5dump shows the HDF5 types h5py would have written', async () => {
      const types = h5dumpTypes(await h5dumpHeader(file));
      for (const c of CASES) assert.equal(types.get(c.name), c.h5dump, c.name);
      assert.equal(types.get('grid/ext'), 'H5T_STD_I32LE');
      assert.equal(types.get('conv/be'), 'H5T_STD_I32BE');
      assert.equal(types.get('fill/yes'), 'H5T_STD_I16LE');
    });
  });
}
