/**
 * An H5File garbage-collected while open (native/lib/file-finalizer.ts): a serial file is
 * closed by the finalizer (openObjectCount() back to 0, and h5py, which HDF5's file locking
 * keeps out of a file another process holds open for writing, reads it while the fixture
 * is still alive); a parallel file is not closed from the collector (a collective close
 * cannot be), the process is warned, and mpi.finalize() closes it. A file closed
 * explicitly is not closed again by its finalizer (no PH5_FINALIZER_CLOSE_FAILED warning).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { fixture, h5py, mpirun } from '../helpers/mpirun.js';

const execFileP = promisify(execFile);
const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-native-finalizer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a serial H5File dropped without close() is closed when collected', async () => {
  const env = { ...process.env };
  delete env.OMPI_COMM_WORLD_SIZE;
  const { stdout } = await execFileP(process.execPath, ['--expose-gc', fixture('dropped-file'), dir], { env, timeout: 60_000 });
  const out = JSON.parse(stdout) as { openBeforeGc: number; openAfterGc: number; warnings: string[]; read: number[] };
  assert.equal(out.openBeforeGc, 1, 'the dropped file is open before the collection');
  assert.equal(out.openAfterGc, 0, 'the finalizer closed the dropped file');
  assert.deepEqual(out.read, [1, 2, 3, 4], 'h5py reads what was written, while the writer is still alive');
  assert.deepEqual(out.warnings, []);
});

test('a parallel H5File dropped without close() is left open, with a warning, until mpi.finalize()', async () => {
  const run = await mpirun<{ openBeforeGc: number; openAfterGc: number; warnings: string[] }>(2, 'dropped-file', [dir, 'parallel']);
  for (const r of run.results) {
    assert.equal(r.openBeforeGc, 1);
    assert.equal(r.openAfterGc, 1, 'no close from the collector on a parallel file');
    assert.deepEqual(r.warnings, ['PH5_UNCLOSED_PARALLEL_FILE']);
  }
  const data = await h5py<number[]>(path.join(dir, 'dropped-parallel.h5'), "out = h5py.File(path, 'r')['d'][()].tolist()");
  assert.deepEqual(data, [1, 2, 3, 4], 'mpi.finalize() closed the file collectively');
});
