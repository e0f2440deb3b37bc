/**
 * Point selections under mpirun -n 1, 2 (fixtures/points.ts): points written collectively
 * (each rank its own list, in any order; ranks with no points join), read back in the
 * list's order, the chunk-allocation check covering the chunks points touch, and the
 * failures (also when only one rank is wrong). Checked with h5py: the listed elements and
 * nothing else.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { assertErrors, assertNoLeaks, py, runSteps } from '../helpers/surface.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-native-points-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const CHECK = `
with h5py.File(path, 'r') as f:
    i, j = np.meshgrid(np.arange(6), np.arange(5), indexing='ij')
    expect = np.where((i + j) % 3 == 0, i * 10 + j, 0)
    out['grid'] = bool(np.array_equal(f['grid'][()], expect))
    c = np.zeros(40, dtype='u2'); c[[1, 17, 38]] = [7, 119, 266]
    out['chunky'] = bool(np.array_equal(f['chunky'][()], c))
with h5py.File(sys.argv[2], 'r') as f:
    l = np.zeros(100); l[0] = 1.0; l[[3, 50, 99]] = [3.5, 50.5, 99.5]
    out['late'] = bool(np.array_equal(f['late'][()], l))
    out['lateChunks'] = f['late'].id.get_num_chunks()
`;

for (const n of [1, 2] as const) {
  describe(`point selections with ${n} rank(s)`, () => {
    test('written collectively in the list order, read back, chunk check, failures on every rank', async () => {
      const file = path.join(dir, `points-${n}.h5`);
      const serial = path.join(dir, `late-${n}.h5`);
      await py(
        serial,
        `
with h5py.File(path, 'w') as f:
    d = f.create_dataset('late', shape=(100,), chunks=(10,), dtype='<f8')
    d[0] = 1.0  # one chunk allocated: a parallel open allocates a dataset only when it has none
`,
      );
      const results = await runSteps(n, 'points', [file, serial]);
      assertNoLeaks(results);
      assertErrors(results, {
        'point past extent': 'PH5_ERR_SELECTION',
        'read past extent': 'PH5_ERR_SELECTION',
        'wrong rank': 'PH5_ERR_SELECTION',
        scalar: 'PH5_ERR_SELECTION',
        'data length': 'PH5_ERR_SELECTION',
        'one rank wrong': 'PH5_ERR_SELECTION',
        'not whole uint64': 'PH5_ERR_ARGUMENT',
        'late needs allocation': 'PH5_ERR_NEEDS_ALLOCATION',
      });
      for (const r of results) {
        const v = r.values;
        assert.equal((v.grid as { collective: boolean }).collective, true, 'a point write is one collective H5Dwrite');
        for (const [name, ok] of Object.entries(v.reads as Record<string, boolean>)) assert.equal(ok, true, `${name} on rank ${r.rank}`);
        assert.equal(Object.keys(v.reads as object).length, 4);
        assert.ok(v.late, 'the write succeeds once the chunks are allocated');
      }
      assert.equal(results[0]!.values.allocated, 2, 'exactly the two missing chunks the points touch');
      const h5 = await py<Record<string, unknown>>(file, CHECK, serial);
      assert.deepEqual(h5, { grid: true, chunky: true, late: true, lateChunks: 3 });
    });
  });
}
