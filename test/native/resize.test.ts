/**
 * resize (H5Dset_extent) under mpirun -n 1, 2, 4 (fixtures/resize.ts): growing in rounds
 * with collective writes of each new part, growing in two dimensions, shrinking, a
 * compressed dataset, and the failures. Checked with h5py.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { StepsReport } from './fixtures/steps.js';
import { assertErrors, assertNoLeaks, py, RANKS, runSteps } from '../helpers/surface.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-native-resize-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PY = `
with h5py.File(path, 'r') as f:
    g = f['grow']; out['grow'] = {'shape': list(g.shape), 'maxshape': list(g.maxshape), 'ok': bool(np.array_equal(g[()], np.arange(g.shape[0]) ** 2))}
    r = np.arange(5).reshape(-1, 1); c = np.arange(8).reshape(1, -1)
    d = f['grid']; out['grid'] = {'shape': list(d.shape), 'maxshape': list(d.maxshape), 'ok': bool(np.array_equal(d[()], (r * 10 + c).astype('f8')))}
    p = f['packed']; rows = np.arange(p.shape[0]).reshape(-1, 1); cols = np.arange(10).reshape(1, -1)
    out['packed'] = {'shape': list(p.shape), 'maxshape': list(p.maxshape), 'compression': p.compression, 'ok': bool(np.array_equal(p[()], (rows + cols).astype('u1')))}
`;

for (const n of RANKS) {
  describe(`resize with ${n} rank(s)`, () => {
    const file = path.join(dir, `resize-${n}.h5`);
    let results: StepsReport[] = [];

    test('grows, shrinks and writes the new parts; bad shapes refused with their code', async () => {
      results = await runSteps(n, 'resize', [file]);
      assertNoLeaks(results);
      assertErrors(results, {
        'past maxshape': 'PH5_ERR_ARGUMENT',
        'wrong rank': 'PH5_ERR_ARGUMENT',
        contiguous: 'PH5_ERR_TYPE',
        missing: 'PH5_ERR_NOT_FOUND',
        negative: 'PH5_ERR_ARGUMENT',
        'write past the shrunk extent': 'PH5_ERR_SELECTION',
        'ranks disagree': n > 1 ? 'PH5_ERR_ARGUMENT' : 'none',
        'ranks disagree on rank count': n > 1 ? 'PH5_ERR_ARGUMENT' : 'none',
        'read-only': 'PH5_ERR_READ_ONLY',
      });
      for (const r of results) {
        assert.deepEqual(r.values['grow shapes'], [[3 * n], [6 * n], [9 * n]]);
        assert.deepEqual(r.values['grow after disagreement'], [9 * n], 'a refused resize changes nothing');
        const grid = r.values['grid info'] as { shape: number[]; maxshape: number[] };
        assert.deepEqual(
          [grid.shape, grid.maxshape],
          [
            [5, 8],
            [-1, 8],
          ],
        );
        const row4 = Buffer.from(r.values['grid read'] as string, 'hex');
        assert.deepEqual(
          [0, 1, 2, 3, 4, 5, 6, 7].map((c) => row4.readDoubleLE(c * 8)),
          [40, 41, 42, 43, 44, 45, 46, 47],
        );
        const packed = r.values['packed info'] as { shape: number[]; filters: unknown[] };
        assert.deepEqual(packed.shape, [2 * n, 10]);
        assert.deepEqual(packed.filters, [{ id: 1, name: 'gzip', level: 4 }]);
      }
    });

    test('h5py sees the final shapes and every value', async () => {
      const out = await py<Record<string, unknown>>(file, PY);
      assert.deepEqual(out.grow, { shape: [9 * n], maxshape: [null], ok: true });
      assert.deepEqual(out.grid, { shape: [5, 8], maxshape: [null, 8], ok: true });
      assert.deepEqual(out.packed, { shape: [2 * n, 10], maxshape: [null, 10], compression: 'gzip', ok: true });
    });
  });
}
