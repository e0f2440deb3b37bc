/**
 * DELETE /v1/jobs/{id}: a waiting job is marked cancelled (atomically with BullMQ's own
 * hand-over to workers), a job a worker has taken is refused with 409, another project's
 * job is 404.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Worker } from 'bullmq';
import { QUEUE_PREFIX, queueName, shardOfFile } from '../../services/shared/jobs.js';
import { redisOptions } from '../../services/shared/redis.js';
import { startApi, type TestApi } from '../helpers/api.js';

let api: TestApi;
before(async () => {
  api = await startApi();
});
after(async () => {
  await api?.stop();
});

const create = async (path: string) => {
  const res = await api.app.inject({ method: 'POST', url: '/v1/files/c.h5/datasets', payload: { path, dtype: 'int8', shape: [2] } });
  assert.equal(res.statusCode, 202);
  return res.json().job.id as string;
};

test('a waiting job is marked cancelled; cancelling again is harmless; unknown jobs are 404', async () => {
  const id = await create('/a');
  const res = await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${id}` });
  assert.equal(res.statusCode, 202, res.body);
  const job = await api.app.jobs.job(id);
  assert.equal(job!.data.cancelled, true);
  assert.equal(job!.data.ops[0]!.op, 'createDataset', 'the rest of the data is intact');
  assert.equal((await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${id}` })).statusCode, 202);
  assert.equal((await api.app.inject({ method: 'DELETE', url: '/v1/jobs/nope' })).statusCode, 404);
});

test('a job a worker has taken cannot be cancelled (409), and keeps its data', async () => {
  await Promise.all(api.app.jobs.queues.map((q) => q.drain())); // only the next job is waiting
  const id = await create('/b');
  let release!: () => void;
  const taken = new Promise<void>((resolve) => {
    const worker = new Worker(
      queueName(shardOfFile('default', 'c.h5')),
      async () => {
        resolve();
        await new Promise<void>((r) => (release = r));
      },
      { connection: redisOptions(api.config.redisUrl!, 'consumer'), prefix: QUEUE_PREFIX },
    );
    after(() => worker.close());
  });
  await taken;
  const res = await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${id}` });
  assert.equal(res.statusCode, 409, res.body);
  assert.equal(res.json().code, 'PH5_ERR_NOT_CANCELLABLE');
  const job = await api.app.jobs.job(id);
  assert.equal(job!.data.cancelled, undefined);
  release();
});
