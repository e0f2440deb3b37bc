/**
 * The native binding under real mpirun with 1, 2 and 4 ranks: collective writes of every
 * kind the worker uses, checked by independent readers (h5py and h5dump), error codes,
 * and the MPI collectives.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { mpiEnv } from '../../services/worker/pool.js';
import { h5dump, h5py } from '../helpers/h5.js';

const run = promisify(execFile);
const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'write-blocks.js');

for (const ranks of [1, 2, 4]) {
  test(`mpirun -n ${ranks}: collective writes land where asked, in the asked types`, { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ph5-native-'));
    const file = path.join(dir, 'blocks.h5');
    try {
      const { stdout } = await run('mpirun', ['--oversubscribe', '-n', String(ranks), process.execPath, FIXTURE, file], { env: mpiEnv(process.env) });
      const reports = stdout.trim().split('\n').map((l) => JSON.parse(l)).sort((a, b) => a.rank - b.rank);
      assert.equal(reports.length, ranks);
      const writers = ranks > 1 ? ranks - 1 : 1;
      const rows = writers * 3;
      for (const r of reports) {
        assert.equal(r.size, ranks);
        assert.deepEqual(r.errorCodes, ['PH5_ERR_EXISTS', 'PH5_ERR_NOT_FOUND', 'PH5_ERR_SELECTION', 'PH5_ERR_SELECTION']);
        assert.deepEqual(r.info, { dtype: { kind: 'float', size: 8, order: 'be' }, shape: [rows, 4], maxshape: [-1, 4], layout: 'chunked', chunks: [2, 4] });
        assert.deepEqual(r.readBack, [0, 0, 0, 0, 1, 0, 0, 0]);
        assert.equal(r.openObjects, 0, 'no HDF5 id left open');
        assert.equal(r.bcast, 'plan from rank 0');
        assert.equal(r.min, 10);
        assert.equal(r.ints.collective, true, `rank ${r.rank} did collective I/O: ${JSON.stringify(r.ints)}`);
      }
      assert.deepEqual(reports[0].gathered, Array.from({ length: ranks }, (_, i) => `r${i}`));
      assert.equal(reports[1]?.gathered ?? null, null);

      const seen = await h5py<any>(
        file,
        `f = h5py.File(path, 'r')
out = {k: {'dtype': f[k].dtype.str, 'shape': list(f[k].shape), 'maxshape': list(f[k].maxshape), 'chunks': f[k].chunks} for k in ['ints', 'grp/sub/floats', 'flags', 'names', 'filled']}
out['ints_data'] = f['ints'][()].tolist()
out['floats_data'] = f['grp/sub/floats'][()].tolist()
out['flags_data'] = f['flags'][()].tolist()
out['names_data'] = [x.decode() for x in f['names'][()]]
out['filled_data'] = f['filled'][()].tolist()
out['bool_kind'] = f['flags'].dtype.kind`,
      );
      assert.deepEqual(seen.ints, { dtype: '<i4', shape: [rows, 4], maxshape: [rows, 4], chunks: null });
      assert.deepEqual(seen['grp/sub/floats'], { dtype: '>f8', shape: [rows, 4], maxshape: [null, 4], chunks: [2, 4] });
      assert.equal(seen.bool_kind, 'b', 'h5py reads our bool as numpy bool');
      assert.equal(seen.names.dtype, '|S8');
      assert.deepEqual(seen.flags_data, [true, false, true]);
      assert.deepEqual(seen.names_data, ['alpha', 'beta']);
      assert.deepEqual(seen.filled_data, [7, 7, 7, 7, 9], 'unwritten elements read as the fill value');
      for (let w = 0; w < writers; w++) {
        for (let i = 0; i < 12; i++) {
          const row = w * 3 + Math.floor(i / 4);
          assert.equal(seen.ints_data[row][i % 4], w * 1000 + i);
          assert.equal(seen.floats_data[row][i % 4], w + i / 8);
        }
      }
      const header = await h5dump(file, ['-H']);
      assert.match(header, /DATASET "ints" {\s+DATATYPE\s+H5T_STD_I32LE/);
      assert.match(header, /DATASET "floats" {\s+DATATYPE\s+H5T_IEEE_F64BE/);
      assert.match(header, /H5T_ENUM {\s+H5T_STD_I8LE;\s+"FALSE"\s+0;\s+"TRUE"\s+1;/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
