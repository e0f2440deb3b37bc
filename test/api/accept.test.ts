/**
 * What an accepted write leaves behind: a queued job whose JSON data points at a staged
 * payload holding exactly the bytes the worker must write, and a Location to poll.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { JobData, WriteOp } from '../../services/shared/jobs.js';
import { startApi, type TestApi } from '../helpers/api.js';

let api: TestApi;
before(async () => {
  api = await startApi();
});
after(async () => {
  await api?.stop();
});

async function jobData(location: string): Promise<JobData> {
  const job = await api.app.ph5.jobs.queue.getJob(location.split('/').pop()!);
  assert.ok(job, `job ${location} is in Redis`);
  return job.data;
}

test('creating a dataset queues a createDataset job and answers 202 with Location', async () => {
  const res = await api.app.inject({ method: 'POST', url: '/v1/files/output.h5/datasets', payload: { path: 'test', dtype: '<i4', shape: [42] } });
  assert.equal(res.statusCode, 202, res.body);
  const body = res.json();
  assert.equal(body.job.state, 'queued');
  assert.equal(res.headers.location, `/v1/jobs/${body.job.id}`);
  const data = await jobData(res.headers.location!);
  assert.deepEqual(data.ops, [{ op: 'createDataset', path: '/test', dtype: 'int32', shape: [42] }]);
  assert.equal(data.project, 'default');
  assert.equal(data.file, 'output.h5');

  const meta = await api.app.inject({ method: 'GET', url: '/v1/files/output.h5/datasets/test' });
  assert.equal(meta.statusCode, 200);
  assert.equal(meta.json().state, 'pending');
  assert.deepEqual(meta.json().shape, [42]);
});

test('a JSON write is staged as little-endian bytes of the dataset dtype', async () => {
  const res = await api.app.inject({ method: 'PUT', url: '/v1/files/output.h5/datasets/test/value?select=[0:42]', payload: Array.from({ length: 42 }, (_, i) => i) });
  assert.equal(res.statusCode, 202, res.body);
  const op = (await jobData(res.headers.location!)).ops[0] as WriteOp;
  assert.equal(op.op, 'write');
  assert.deepEqual(op.hyperslab, { start: [0], stride: [1], count: [42] });
  const staged = await readFile(path.join(api.config.dataDir, '.staging', op.staged));
  assert.equal(staged.length, 168);
  for (let i = 0; i < 42; i++) assert.equal(staged.readInt32LE(i * 4), i);
});

test('a binary write is streamed to staging byte for byte, with its declared byte order', async () => {
  await api.app.inject({ method: 'POST', url: '/v1/files/b.h5/datasets', payload: { path: '/g/d', dtype: 'float64', shape: [4, 3] } });
  const bytes = Buffer.alloc(2 * 3 * 8);
  for (let i = 0; i < 6; i++) bytes.writeDoubleBE(i + 0.25, i * 8);
  const res = await api.app.inject({
    method: 'PUT',
    url: '/v1/files/b.h5/datasets/g%2Fd/value?select=[1:4:2,0:3]&dtype=%3Ef8',
    headers: { 'content-type': 'application/octet-stream' },
    payload: bytes,
  });
  assert.equal(res.statusCode, 202, res.body);
  const op = (await jobData(res.headers.location!)).ops[0] as WriteOp;
  assert.equal(op.path, '/g/d');
  assert.equal(op.payloadDtype, '>f8');
  assert.equal(op.dtype, 'float64');
  assert.deepEqual(op.hyperslab, { start: [1, 0], stride: [2, 1], count: [2, 3] });
  assert.deepEqual(await readFile(path.join(api.config.dataDir, '.staging', op.staged)), bytes);
});

test('job status maps BullMQ states and long-polls up to ?wait', async () => {
  const res = await api.app.inject({ method: 'POST', url: '/v1/files/w.h5/datasets', payload: { path: 'x', dtype: 'uint8', shape: [1] } });
  const t0 = Date.now();
  const job = await api.app.inject({ method: 'GET', url: `${res.headers.location}?wait=1` });
  assert.equal(job.statusCode, 200);
  assert.equal(job.json().state, 'queued');
  assert.ok(Date.now() - t0 >= 900, 'waited for the job before answering');
  const missing = await api.app.inject({ method: 'GET', url: '/v1/jobs/no-such-job' });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().code, 'PH5_ERR_JOB_NOT_FOUND');
});
