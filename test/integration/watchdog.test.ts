/**
 * One job must never stop a pool for good. A rank that never comes back from a collective
 * (injected: rank 1 stays out of every collective step that writes /poison) leaves the
 * others waiting forever; rank 0's watchdog ends the pool at the step's deadline, the
 * supervisor starts a new one, the job is tried again a bounded number of times and then
 * failed with PH5_ERR_WATCHDOG, and the jobs behind it - in its file and in others - go on.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { workerEvents } from '../helpers/worker-events.js';

const STEP_TIMEOUT_MS = 3000;

let stack: Stack;
before(async () => {
  stack = await startStack({
    ranks: 2,
    env: { PH5_STEP_TIMEOUT_MS: String(STEP_TIMEOUT_MS), PH5_HUNG_JOB_ATTEMPTS: '2', PH5_FAULT_HANG_DATASET: '/poison', PH5_LOG_LEVEL: 'info' },
  });
});
after(async () => {
  await stack?.stop();
});

test('a job that hangs a collective is failed as poison after bounded retries; the others complete', { timeout: 300_000 }, async () => {
  const api = client(stack.url);
  for (const [file, dataset] of [
    ['f.h5', 'poison'],
    ['f.h5', 'ok'],
    ['g.h5', 'x'],
  ] as const) {
    const created = await api.accepted('POST', `/v1/files/${file}/datasets`, { path: dataset, dtype: 'int32', shape: [4] });
    assert.equal(created.state, 'completed', JSON.stringify(created.error));
  }
  const started = Date.now();
  const poison = await api.call('PUT', '/v1/files/f.h5/datasets/poison/value', [1, 2, 3, 4]);
  assert.equal(poison.status, 202);
  await sleep(200); // its own epoch: not coalesced with the next write
  const behind = await api.call('PUT', '/v1/files/f.h5/datasets/ok/value', [5, 6, 7, 8]);
  const other = await api.call('PUT', '/v1/files/g.h5/datasets/x/value', [9, 10, 11, 12]);
  assert.equal(behind.status, 202);
  assert.equal(other.status, 202);

  const failed = await api.waitJob(poison.headers.get('location')!, 240_000);
  const tookMs = Date.now() - started;
  assert.equal(failed.state, 'failed', JSON.stringify(failed));
  assert.equal(failed.error.code, 'PH5_ERR_WATCHDOG', JSON.stringify(failed.error));
  assert.match(failed.error.message, /did not finish, 2 times \(within PH5_STEP_TIMEOUT_MS = 3000 ms/);
  const logs = stack.logs();
  assert.equal(workerEvents(logs, 'watchdog').filter((e) => /^step \d+ \(write \/poison\)/.test(e.phase)).length, 2, logs.slice(-4000));

  assert.equal((await api.waitJob(behind.headers.get('location')!)).state, 'completed');
  assert.equal((await api.waitJob(other.headers.get('location')!)).state, 'completed');
  const values = await h5py<number[][]>(stack.filePath('f.h5'), "f = h5py.File(path, 'r'); out = [f['poison'][()].tolist(), f['ok'][()].tolist()]");
  assert.deepEqual(values, [
    [0, 0, 0, 0],
    [5, 6, 7, 8],
  ]);
  assert.deepEqual(await h5py<number[]>(stack.filePath('g.h5'), "out = h5py.File(path, 'r')['x'][()].tolist()"), [9, 10, 11, 12]);
  assert.equal((await fetch(`${stack.url}/readyz`)).status, 200);
  process.stdout.write(`# poison job failed after ${tookMs} ms (two hangs of ${STEP_TIMEOUT_MS} ms and two pool restarts)\n`);
});
