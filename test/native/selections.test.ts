/**
 * Hyperslab selections under mpirun -n 1, 2, 4 (fixtures/selections.ts): 3-D strided
 * hyperslabs written collectively and independently, interleaved columns, ranks without
 * work (null and count 0), unions of row blocks in one write, reads of arbitrary hyperslabs, and selection failures (also
 * when only one rank is wrong). Checked with h5py.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { StepsReport } from './fixtures/steps.js';
import { assertErrors, assertNoLeaks, py, RANKS, runSteps } from '../helpers/surface.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-native-sel-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PY = `
with h5py.File(path, 'r') as f:
    i, j, k = np.meshgrid(np.arange(8), np.arange(6), np.arange(5), indexing='ij')
    out['cube'] = bool(np.array_equal(f['cube'][()], i * 100 + j * 10 + k)) and f['cube'].dtype.str == '<i4'
    i, j = np.meshgrid(np.arange(6), np.arange(9), indexing='ij')
    out['columns'] = bool(np.array_equal(f['columns'][()], i * 9 + j))
    expect = np.arange(12).reshape(3, 4)
    out['sparse'] = bool(np.array_equal(f['sparse'][()], expect))
    out['sparse2'] = bool(np.array_equal(f['sparse2'][()], expect))
    i, j = np.meshgrid(np.arange(12), np.arange(3), indexing='ij')
    out['union'] = bool(np.array_equal(f['union'][()], i * 3 + j + 1000))
`;

const COLLECTIVE = { collective: true, noCollectiveCause: [] };

for (const n of RANKS) {
  describe(`selections with ${n} rank(s)`, () => {
    const file = path.join(dir, `sel-${n}.h5`);
    let results: StepsReport[] = [];

    test('strided N-d writes, empty selections, reads, and selection failures on every rank', async () => {
      results = await runSteps(n, 'selections', [file]);
      assertNoLeaks(results);
      assertErrors(results, {
        'rank mismatch': 'PH5_ERR_SELECTION',
        'past extent': 'PH5_ERR_SELECTION',
        'start past extent': 'PH5_ERR_SELECTION',
        'data length': 'PH5_ERR_SELECTION',
        'one rank wrong': 'PH5_ERR_SELECTION',
        'union overlap': 'PH5_ERR_SELECTION',
        'stride 0': 'PH5_ERR_ARGUMENT',
        'lengths differ': 'PH5_ERR_ARGUMENT',
      });
      for (const r of results) {
        const v = r.values;
        assert.deepEqual(v['cube even'], COLLECTIVE);
        assert.deepEqual(v['cube odd'], { collective: false, noCollectiveCause: ['H5D_MPIO_SET_INDEPENDENT'] });
        assert.deepEqual(v['columns'], COLLECTIVE);
        assert.deepEqual(v['sparse'], COLLECTIVE, 'a rank with a null selection still joins the collective write');
        assert.deepEqual(v['sparse2'], COLLECTIVE);
        assert.deepEqual(v['union'], COLLECTIVE, 'a union of row blocks is one collective write');
        for (const [name, ok] of Object.entries(v.reads as Record<string, boolean>)) assert.equal(ok, true, `${name} on rank ${r.rank}`);
        assert.equal(Object.keys(v.reads as object).length, 6);
      }
    });

    test('h5py reads exactly the values every rank wrote', async () => {
      assert.deepEqual(await py(file, PY), { cube: true, columns: true, sparse: true, sparse2: true, union: true });
    });
  });
}
