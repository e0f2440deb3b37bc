/**
 * The pool's write steps with their staged shares read (or mapped) one step ahead: an
 * epoch of multi-step writes of odd sizes, several dtypes and byte orders, a chunked
 * dataset, a non-contiguous selection, coalesced single-row writes from one shared staged
 * file, and a job whose staged file is missing (it fails alone while its read was in
 * flight ahead), on 3 real ranks, once with shares read into the rank's buffers and once
 * mapped. h5py checks every value of every dataset; both runs must give the same file.
 * The step reports show which steps went independent (contiguous runs of contiguous
 * datasets) and which stayed collective.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { RankReport } from '../../services/worker/protocol.js';
import { h5py, mpirun } from '../helpers/mpirun.js';

const RANKS = 3;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Result {
  rank: number;
  report: RankReport;
  steps: Array<{ path: string; jobs: number[]; parts: number } | { op: string }>;
}

// numpy recomputes what the fixture's value() formulas staged, and compares every element.
const CHECK = `
f = h5py.File(path, 'r')
def flat(n, kind):
    i = np.arange(n, dtype=np.int64)
    if kind == 'f8': return i * 0.25 - 3
    if kind == 'i2': return ((i * 7919) % 65536) - 32768
    if kind == 'u1': return (i * 31) % 256
    if kind == 'i4': return i * 3 - 1000000
exp = {}
exp['f8'] = flat(1500007, 'f8')
exp['be'] = flat(777 * 1001, 'f8').reshape(777, 1001)
exp['i2'] = flat(1999 * 513, 'i2').reshape(1999, 513)
u1 = np.zeros(3000001, dtype=np.int64); u1[7:] = flat(3000001 - 7, 'u1'); exp['u1'] = u1
col = np.zeros((600, 1000), dtype=np.int64); col[:, 100:357] = flat(600 * 257, 'i4').reshape(600, 257); exp['col'] = col
rows = [r for r in range(64) if r % 8 != 3 and r % 5 != 1][:40]
rw = np.zeros((64, 300), dtype=np.int64)
for r in rows: rw[r] = r * 1000 + np.arange(300)
exp['rows'] = rw
exp['miss'] = np.zeros(1000)
out = {}
for name, want in exp.items():
    d = f[name]
    got = d[...]
    bad = np.argwhere(got != want)
    out[name] = {'dtype': d.dtype.str, 'shape': list(d.shape), 'wrong': int(len(bad)), 'first': [int(x) for x in bad[0]] if len(bad) else None}
`;

async function runEpoch(how: 'map' | 'read'): Promise<{ results: Result[]; file: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `ph5-staged-steps-${how}-`));
  dirs.push(dir);
  const { results } = await mpirun<Result>(RANKS, 'staged-steps', [dir, how], 240_000);
  return { results, file: path.join(dir, 'f.h5') };
}

for (const how of ['read', 'map'] as const) {
  test(
    `staged shares ${how === 'map' ? 'mapped' : 'read'} one step ahead: every value lands where it did, the missing payload fails only its job`,
    { timeout: 300_000 },
    async () => {
      const { results, file } = await runEpoch(how);
      const steps = results[0]!.steps;
      // The plan really is many steps: multi-step writes, and one union of the coalesced rows.
      const writesOf = (p: string) => steps.filter((s) => 'path' in s && s.path === p).length;
      assert.ok(writesOf('f8') >= 3, `f8 in ${writesOf('f8')} steps`);
      assert.ok(writesOf('be') >= 2, `be in ${writesOf('be')} steps`);
      assert.ok(
        steps.some((s) => 'path' in s && s.path === 'rows' && s.parts > 1),
        'the single-row writes became a union step',
      );
      for (const r of results) {
        assert.equal(r.report.abort, undefined, `rank ${r.rank}: ${JSON.stringify(r.report.abort)}`);
        assert.deepEqual(Object.keys(r.report.failedJobs), ['2'], `rank ${r.rank}: only the job with the missing payload failed`);
        assert.equal(r.report.failedJobs[2]!.code, 'PH5_ERR_STAGING');
        // Contiguous runs of contiguous datasets were written independently, the rest collectively.
        steps.forEach((s, i) => {
          if (!('path' in s) || s.path === 'miss') return;
          const want = s.path === 'u1' || s.path === 'col' || s.path === 'rows' ? true : false;
          assert.equal(r.report.steps[i]?.collective, want, `rank ${r.rank}: step ${i} (${s.path}) collective`);
          // (be and i2 are byte-swapped by HDF5: a second cause, which independent I/O does not mind.)
          const causes = want
            ? []
            : s.path === 'be' || s.path === 'i2'
              ? ['H5D_MPIO_SET_INDEPENDENT', 'H5D_MPIO_DATATYPE_CONVERSION']
              : ['H5D_MPIO_SET_INDEPENDENT'];
          assert.deepEqual(r.report.steps[i]?.noCollectiveCause, causes, `rank ${r.rank}: step ${i} (${s.path}) cause`);
        });
        const b = r.report.breakdown!;
        assert.ok(b.readMs > 0 && b.writeMs > 0 && b.agreeMs > 0, `rank ${r.rank}: breakdown ${JSON.stringify(b)}`);
        // Shares of 1 MiB or more in one range of one staged file (f8, be) are mapped, only with 'map'.
        if (how === 'map') assert.ok(b.mappedBytes >= (8 * 1_500_007) / RANKS - 8, `rank ${r.rank}: mapped ${b.mappedBytes} bytes`);
        else assert.equal(b.mappedBytes, 0, `rank ${r.rank}: mapped bytes`);
      }
      const got = await h5py<Record<string, { dtype: string; shape: number[]; wrong: number; first: number[] | null }>>(file, CHECK);
      assert.deepEqual(
        Object.fromEntries(Object.entries(got).map(([k, v]) => [k, v.wrong])),
        { f8: 0, be: 0, i2: 0, u1: 0, col: 0, rows: 0, miss: 0 },
        `wrong elements per dataset: ${JSON.stringify(got)}`,
      );
      assert.equal(got.be!.dtype, '<f8');
      assert.equal(got.i2!.dtype, '>i2');
      assert.equal(got.u1!.dtype, '|u1');
    },
  );
}
