/**
 * Jobs that are more than one write, on a live stack (2 real ranks), checked with h5py:
 * a batch applied as one job in order; a cancelled job failed with PH5_ERR_CANCELLED
 * without touching the file and without holding up the jobs after it; a file deleted by a
 * job after the jobs before it, and recreated by the jobs after it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ShardQueues } from '../helpers/queues.js';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
let api: ReturnType<typeof client>;
before(async () => {
  stack = await startStack({ ranks: 2 });
  api = client(stack.url);
});
after(async () => {
  await stack?.stop();
});

const fileOf = (name: string) => path.join(stack.dataDir, 'default', name);

test('a batch is applied as one job, in order', { timeout: 120_000 }, async () => {
  const job = await api.accepted('POST', '/v1/jobs', {
    file: 'batch.h5',
    ops: [
      { op: 'createGroup', path: '/raw' },
      { op: 'createDataset', path: '/raw/t', dtype: 'float64', shape: [4], maxshape: [null], chunks: [4] },
      { op: 'write', path: '/raw/t', value: [1, 2, 3, 4] },
      { op: 'resize', path: '/raw/t', shape: [6] },
      { op: 'write', path: '/raw/t', select: '[4:6]', value: [5, 6] },
      { op: 'write', path: '/raw/t', select: '[0:2]', value: [-1, -2] },
      { op: 'setAttribute', path: '/raw/t', name: 'units', value: 'm' },
      { op: 'setAttribute', path: '/', name: 'version', value: 2 },
    ],
  });
  assert.equal(job.state, 'completed', JSON.stringify(job.error));
  const seen = await h5py<any>(
    fileOf('batch.h5'),
    "f = h5py.File(path, 'r')\nd = f['/raw/t']\nout = [d[...].tolist(), d.attrs['units'], int(f.attrs['version'])]",
  );
  assert.deepEqual(seen, [[-1, -2, 3, 4, 5, 6], 'm', 2]);
});

test('a cancelled job fails with PH5_ERR_CANCELLED, leaves the file alone, and does not hold up later jobs', { timeout: 120_000 }, async () => {
  assert.equal((await api.accepted('POST', '/v1/files/cancel.h5/datasets', { path: '/v', dtype: 'int32', shape: [4], fillValue: 0 })).state, 'completed');
  // Pause the queue (the pool takes nothing), queue two writes, cancel the first, resume.
  const queue = new ShardQueues(stack.redis.url);
  await queue.pause();
  let cancel;
  let doomed;
  let after;
  try {
    doomed = await api.call('PUT', '/v1/files/cancel.h5/datasets/v/value', [9, 9, 9, 9]);
    after = await api.call('PUT', '/v1/files/cancel.h5/datasets/v/value?select=[0:1]', [7]);
    cancel = await api.call('DELETE', doomed.headers.get('location')!);
  } finally {
    await queue.resume();
    await queue.close();
  }
  assert.equal(cancel.status, 202, JSON.stringify(cancel.json));
  const failed = await api.waitJob(doomed.headers.get('location')!);
  assert.equal(failed.state, 'failed');
  assert.equal(failed.error.code, 'PH5_ERR_CANCELLED');
  assert.equal((await api.waitJob(after.headers.get('location')!)).state, 'completed');
  assert.deepEqual(await h5py(fileOf('cancel.h5'), "out = h5py.File(path, 'r')['/v'][...].tolist()"), [7, 0, 0, 0]);
});

test('deleting a file: the jobs before it apply, the file goes, the jobs after it start a new one', { timeout: 120_000 }, async () => {
  assert.equal((await api.accepted('POST', '/v1/files/gone.h5/datasets', { path: '/old', dtype: 'int8', shape: [2] })).state, 'completed');
  assert.ok(existsSync(fileOf('gone.h5')));
  const del = await api.call('DELETE', '/v1/files/gone.h5');
  assert.equal(del.status, 202);
  const recreate = await api.call('POST', '/v1/files/gone.h5/datasets', { path: '/new', dtype: 'int16', shape: [3] });
  assert.equal(recreate.status, 202, JSON.stringify(recreate.json));
  assert.equal((await api.waitJob(del.headers.get('location')!)).state, 'completed');
  assert.equal((await api.waitJob(recreate.headers.get('location')!)).state, 'completed');
  assert.deepEqual(await h5py(fileOf('gone.h5'), "out = sorted(h5py.File(path, 'r').keys())"), ['new']);
  const last = await api.accepted('DELETE', '/v1/files/gone.h5');
  assert.equal(last.state, 'completed');
  assert.equal(existsSync(fileOf('gone.h5')), false);
  assert.equal((await api.call('GET', '/v1/files/gone.h5')).status, 404);
});

test('once a file deletion is accepted, the file reads as gone and its paths are free at once', { timeout: 120_000 }, async () => {
  const queue = new ShardQueues(stack.redis.url);
  assert.equal((await api.accepted('POST', '/v1/files/again.h5/datasets', { path: '/d', dtype: 'int8', shape: [2] })).state, 'completed');
  await queue.pause(); // the deletion waits in the queue, the file is still on disk
  let del;
  let create;
  try {
    del = await api.call('DELETE', '/v1/files/again.h5');
    assert.equal(del.status, 202);
    assert.equal((await api.call('GET', '/v1/files/again.h5')).status, 404);
    assert.equal((await api.call('GET', '/v1/files/again.h5/datasets/d')).status, 404);
    create = await api.call('POST', '/v1/files/again.h5/datasets', { path: '/d', dtype: 'float32', shape: [3] });
    assert.equal(create.status, 202, JSON.stringify(create.json));
    const pending = await api.call('GET', '/v1/files/again.h5/datasets/d');
    assert.deepEqual([pending.json.dtype, pending.json.state], ['float32', 'pending']);
  } finally {
    await queue.resume();
    await queue.close();
  }
  assert.equal((await api.waitJob(create.headers.get('location')!)).state, 'completed');
  assert.deepEqual(await h5py(fileOf('again.h5'), "d = h5py.File(path, 'r')['/d']\nout = [d.dtype.str, list(d.shape)]"), ['<f4', [3]]);
});
