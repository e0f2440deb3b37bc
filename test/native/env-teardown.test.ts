/**
 * The addon's Node environment ends (native/src/env_lifecycle.cc): the environment
 * cleanup hook closes the serial files it left open, and a second environment of the same
 * process (a worker_thread beside the main thread) is refused the addon, clearly, while
 * the first owns it. Run in a worker_thread, so the teardown happens while the process,
 * and HDF5 in it, are still alive to be checked (fixtures/env-teardown.ts).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { fixture } from '../helpers/mpirun.js';

const execFileP = promisify(execFile);
const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-native-teardown-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a worker that ends with a serial file open: the cleanup hook closes it; a second environment is refused meanwhile', async () => {
  const env = { ...process.env };
  delete env.OMPI_COMM_WORLD_SIZE;
  const { stdout } = await execFileP(process.execPath, [fixture('env-teardown'), dir], { env, timeout: 60_000 });
  const out = JSON.parse(stdout) as { message: string; secondLoad: string; exitCode: number; openAfterWorker: number; read: unknown };
  assert.equal(out.message, 'open');
  assert.match(out.secondLoad, /already loaded by another Node environment/);
  assert.equal(out.exitCode, 0);
  assert.equal(out.openAfterWorker, 0, 'no HDF5 id left open once the worker is gone');
  assert.deepEqual(out.read, [7, 8, 9], 'h5py reads the file while the process that wrote it is still alive');
});
