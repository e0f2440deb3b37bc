/**
 * Reads under mpirun -n 1, 2, 4 (fixtures/reads.ts): into the caller's Buffer (the same
 * Buffer comes back; a view changes only its bytes; wrong sizes refused) or a new one,
 * from plain and gzip datasets. Then the same from a serially opened file (the API's use).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { H5File, leakedObjectCount, Ph5NativeError } from '../../native/lib/index.js';
import type { StepsReport } from './fixtures/steps.js';
import { assertErrors, assertNoLeaks, py, RANKS, runSteps } from '../helpers/surface.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-native-reads-'));
after(() => rmSync(dir, { recursive: true, force: true }));

for (const n of RANKS) {
  describe(`reads with ${n} rank(s)`, () => {
    const file = path.join(dir, `reads-${n}.h5`);
    let results: StepsReport[] = [];

    test('every rank reads its hyperslab into its buffer; wrong buffers are refused', async () => {
      results = await runSteps(n, 'reads', [file]);
      assertNoLeaks(results);
      assertErrors(results, {
        'buffer too small': 'PH5_ERR_SELECTION',
        'buffer too large': 'PH5_ERR_SELECTION',
        'not a buffer': 'PH5_ERR_ARGUMENT',
        'missing dataset': 'PH5_ERR_NOT_FOUND',
      });
      for (const r of results) {
        const checks = r.values.checks as Record<string, boolean>;
        assert.equal(Object.keys(checks).length, 7);
        for (const [name, ok] of Object.entries(checks)) assert.equal(ok, true, `${name} on rank ${r.rank}`);
      }
    });

    test('h5py agrees with the written values', async () => {
      const out = await py<{ plain: boolean; packed: boolean }>(
        file,
        `
with h5py.File(path, 'r') as f:
    i, j = np.meshgrid(np.arange(10), np.arange(4), indexing='ij')
    out['plain'] = bool(np.array_equal(f['plain'][()], i + j / 10))
    out['packed'] = bool(np.array_equal(f['packed'][()], i * 4 + j)) and f['packed'].compression == 'gzip'
`,
      );
      assert.deepEqual(out, { plain: true, packed: true });
    });
  });
}

test('serial reads into a caller buffer (no MPI), from a file ph5 wrote in parallel', async () => {
  const f = await H5File.open(path.join(dir, 'reads-2.h5'), { mode: 'r', parallel: false });
  try {
    const into = Buffer.alloc(3 * 4 * 4);
    const got = await f.read('packed', { start: [7, 0], stride: [1, 1], count: [3, 4] }, { into });
    assert.equal(got, into);
    assert.deepEqual(
      Array.from({ length: 12 }, (_, k) => into.readInt32LE(k * 4)),
      Array.from({ length: 12 }, (_, k) => 28 + k),
    );
    await assert.rejects(f.read('packed', null, { into }), (e: unknown) => e instanceof Ph5NativeError && e.code === 'PH5_ERR_SELECTION');
    assert.equal(leakedObjectCount(), 0);
  } finally {
    await f.close();
  }
});
