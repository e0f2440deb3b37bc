/**
 * The worker applies writes the way a user expects, with 4 real ranks: N-d selections with
 * steps, binary bodies in either byte order, later writes winning over earlier ones, and a
 * job that fails late without blocking the jobs after it.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { type JobData } from '../../services/shared/jobs.js';
import { ShardQueues } from '../helpers/queues.js';
import { client } from '../helpers/client.js';
import { h5dump, h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
let api: ReturnType<typeof client>;
before(async () => {
  stack = await startStack({ ranks: 4 });
  api = client(stack.url);
});
after(async () => {
  await stack?.stop();
});

test('a strided 2-D write in big-endian bytes lands where numpy would put it', { timeout: 120_000 }, async () => {
  const created = await api.accepted('POST', '/v1/files/grid.h5/datasets', { path: '/g/field', dtype: 'float64', shape: [10, 6] });
  assert.equal(created.state, 'completed', JSON.stringify(created.error));

  // Rows 1,3,5,7,9 and columns 0..5: 5 x 6 values, sent big-endian; HDF5 converts.
  const values = Array.from({ length: 30 }, (_, i) => i * 1.5 - 7);
  const body = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => body.writeDoubleBE(v, i * 8));
  const job = await api.accepted('PUT', `/v1/files/grid.h5/datasets/${encodeURIComponent('g/field')}/value?select=[1:10:2,0:6]&dtype=%3Ef8`, body);
  assert.equal(job.state, 'completed', JSON.stringify(job.error));
  assert.equal(job.ranks, 4);
  assert.deepEqual(
    job.result.ops[0].decomposition.map((d: any) => [d.rows, d.select]),
    [
      [2, '[1:4:2,0:6]'],
      [1, '[5:6:2,0:6]'],
      [1, '[7:8:2,0:6]'],
      [1, '[9:10:2,0:6]'],
    ],
  );

  const got = await h5py<{ dtype: string; rows: number[][] }>(
    stack.filePath('grid.h5'),
    "d = h5py.File(path, 'r')['g/field']; out = {'dtype': d.dtype.str, 'rows': d[1::2, :].tolist()}",
  );
  assert.equal(got.dtype, '<f8');
  assert.deepEqual(got.rows.flat(), values);
  assert.equal(got.rows.length, 5);
});

test('overlapping writes to one file apply in the order they were accepted', { timeout: 120_000 }, async () => {
  assert.equal((await api.accepted('POST', '/v1/files/order.h5/datasets', { path: 'v', dtype: 'int16', shape: [8] })).state, 'completed');
  const locations: string[] = [];
  for (let round = 1; round <= 5; round++) {
    const r = await api.call('PUT', `/v1/files/order.h5/datasets/v/value?select=[${round - 1}:8]`, Array(9 - round).fill(round));
    assert.equal(r.status, 202, JSON.stringify(r.json));
    locations.push(r.headers.get('location')!);
  }
  for (const l of locations) assert.equal((await api.waitJob(l)).state, 'completed');
  const data = await h5py<number[]>(stack.filePath('order.h5'), "out = h5py.File(path, 'r')['v'][()].tolist()");
  assert.deepEqual(data, [1, 2, 3, 4, 5, 5, 5, 5]);
  assert.match(await h5dump(stack.filePath('order.h5'), ['-H']), /H5T_STD_I16LE/);
});

test('a job that fails in the worker reports why, and the next job still runs', { timeout: 120_000 }, async () => {
  assert.equal((await api.accepted('POST', '/v1/files/late.h5/datasets', { path: 'x', dtype: 'uint8', shape: [4] })).state, 'completed');
  // A write whose staged payload vanished before the worker got to it (disk cleaned,
  // operator error): the worker must fail the job clearly, not hang or crash the pool.
  const queue = new ShardQueues(stack.redis.url);
  const data: JobData = {
    v: 1,
    project: 'default',
    file: 'late.h5',
    acceptedAt: Date.now(),
    ops: [
      {
        op: 'write',
        path: '/x',
        dtype: 'uint8',
        payloadDtype: 'uint8',
        select: '[0:4]',
        hyperslab: { start: [0], stride: [1], count: [4] },
        staged: 'missing.bin',
        bytes: 4,
      },
    ],
  };
  const lost = await queue.add('lost-payload', data, { attempts: 1 });
  await queue.close();
  const failed = await api.waitJob(`/v1/jobs/${lost.id}`);
  assert.equal(failed.state, 'failed');
  assert.equal(failed.error.code, 'PH5_ERR_STAGING');

  const ok = await api.accepted('PUT', '/v1/files/late.h5/datasets/x/value', new Uint8Array([9, 8, 7, 6]));
  assert.equal(ok.state, 'completed', JSON.stringify(ok.error));
  assert.deepEqual(await h5py(stack.filePath('late.h5'), "out = h5py.File(path, 'r')['x'][()].tolist()"), [9, 8, 7, 6]);
  await writeFile(path.join(stack.dataDir, 'probe'), ''); // the data dir is still writable: nothing wedged
});
