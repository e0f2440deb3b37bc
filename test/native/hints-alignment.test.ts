/**
 * File access settings under mpirun -n 1, 2, 4 (fixtures/hints-alignment.ts): MPI-IO
 * hints reach the MPI file (MPI_File_get_info), H5Pset_alignment places every object above
 * the threshold on an alignment boundary (offsets read by h5py), flush; and a serial file
 * created with alignment (the API-side, no MPI).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { H5File, leakedObjectCount } from '../../native/lib/index.js';
import type { StepsReport } from './fixtures/steps.js';
import { assertErrors, assertNoLeaks, h5dump, py, RANKS, runSteps } from '../helpers/surface.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-native-hints-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PY_OFFSETS = `
with h5py.File(path, 'r') as f:
    for name in f:
        out[name] = {'offset': f[name].id.get_offset(), 'ok': bool((f[name][()] == (np.arange(1000) + int(name[-1]) * 1000)).all()) if name.startswith('big') else bool((f[name][()] == 7).all())}
`;

interface Access {
  driver: string;
  alignment: { threshold: number; alignment: number };
  hints: Record<string, string>;
}

for (const n of RANKS) {
  describe(`hints and alignment with ${n} rank(s)`, () => {
    const file = path.join(dir, `hints-${n}.h5`);
    let results: StepsReport[] = [];

    test('the file is open with the hints and alignment given; bad settings refused', async () => {
      results = await runSteps(n, 'hints-alignment', [file]);
      assertNoLeaks(results);
      assertErrors(results, {
        'hint value not a string': 'PH5_ERR_ARGUMENT',
        'alignment 0': 'PH5_ERR_ARGUMENT',
        'alignment negative threshold': 'PH5_ERR_ARGUMENT',
        'flush closed': 'PH5_ERR_CLOSED',
      });
      for (const r of results) {
        const a = r.values.access as Access;
        assert.equal(a.driver, 'mpio');
        assert.deepEqual(a.alignment, { threshold: 4096, alignment: 65536 });
        // MPI-IO reports the hints it was given for the open file
        assert.equal(a.hints.cb_buffer_size, '4194304');
        assert.equal(a.hints.romio_cb_write, 'enable');
        const re = r.values['reopened access'] as Access;
        assert.deepEqual(re.alignment, { threshold: 1, alignment: 1 }, 'settings are per open, not stored in the file');
        assert.equal(re.hints.ph5_test_hint, undefined);
      }
    });

    test('h5py: datasets above the threshold start on 64 KiB boundaries; values intact', async () => {
      const out = await py<Record<string, { offset: number; ok: boolean }>>(file, PY_OFFSETS);
      assert.deepEqual(Object.keys(out).sort(), ['big-0', 'big-1', 'big-2', 'small']);
      for (const k of [0, 1, 2]) {
        const d = out[`big-${k}`] as { offset: number; ok: boolean };
        assert.equal(d.ok, true);
        assert.equal(d.offset % 65536, 0, `big-${k} at ${d.offset}`);
        assert.ok(d.offset > 0);
      }
      assert.equal(out.small?.ok, true);
    });
  });
}

test('serial files take the alignment too (no MPI); h5dump sees the data', async () => {
  const file = path.join(dir, 'serial-aligned.h5');
  const f = await H5File.open(file, { mode: 'create', parallel: false, alignment: { threshold: 1000, alignment: 8192 } });
  try {
    assert.deepEqual(await f.accessInfo(), { driver: 'sec2', alignment: { threshold: 1000, alignment: 8192 }, hints: {} });
    for (const name of ['a', 'b']) {
      await f.createDataset(name, { dtype: { kind: 'int', size: 4, order: 'le' }, shape: [300] });
      const data = Buffer.alloc(1200);
      for (let i = 0; i < 300; i++) data.writeInt32LE(i, i * 4);
      await f.write(name, { start: [0], stride: [1], count: [300] }, data);
      await f.flush();
      assert.equal(leakedObjectCount(), 0);
    }
  } finally {
    await f.close();
  }
  const out = await py<Record<string, { offset: number }>>(
    file,
    `
with h5py.File(path, 'r') as f:
    for name in f: out[name] = {'offset': f[name].id.get_offset()}
`,
  );
  for (const name of ['a', 'b']) assert.equal((out[name] as { offset: number }).offset % 8192, 0, `${name} at ${(out[name] as { offset: number }).offset}`);
  const dump = await h5dump(file, '-d', '/b', '-s', '298', '-c', '2');
  assert.match(dump, /\(298\): 298, 299/);
});
