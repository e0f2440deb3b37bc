/**
 * A job that fails late (its staged payload vanished before the worker got to it) fails
 * with a clear reason, and does not block the jobs after it: neither later jobs on the same
 * file (its sequence number still counts as applied) nor jobs on other files.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { Jobs } from '../../services/api/domain/jobs.js';
import type { JobData } from '../../services/shared/jobs.js';
import { redisOptions } from '../../services/shared/redis.js';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
before(async () => {
  stack = await startStack({ ranks: 2 });
});
after(async () => {
  await stack?.stop();
});

test('a late failure has a clear reason and blocks nothing after it', { timeout: 120_000 }, async () => {
  const api = client(stack.url);
  assert.equal((await api.accepted('POST', '/v1/files/o.h5/datasets', { path: 'v', dtype: 'int16', shape: [4] })).state, 'completed');
  assert.equal((await api.accepted('POST', '/v1/files/p.h5/datasets', { path: 'w', dtype: 'int16', shape: [4] })).state, 'completed');

  // Stamped and queued exactly as the API does, but pointing at a payload that is not there.
  const producer = new Redis(redisOptions(stack.redis.url, 'consumer'));
  const jobs = new Jobs(producer, redisOptions(stack.redis.url, 'consumer'));
  const data: JobData = {
    v: 1,
    project: 'default',
    file: 'o.h5',
    acceptedAt: Date.now(),
    ops: [
      {
        op: 'write',
        path: '/v',
        dtype: 'int16',
        payloadDtype: 'int16',
        select: '[0:4]',
        hyperslab: { start: [0], stride: [1], count: [4] },
        staged: 'vanished.bin',
        bytes: 8,
      },
    ],
  };
  const { job: lost } = await jobs.enqueue(data);
  assert.ok(Number.isInteger(lost.data.seq), 'the job carries its file sequence number');
  const next = await api.call('PUT', '/v1/files/o.h5/datasets/v/value', [1, 2, 3, 4]);
  const other = await api.call('PUT', '/v1/files/p.h5/datasets/w/value', [5, 6, 7, 8]);
  assert.equal(next.status, 202);
  assert.equal(other.status, 202);

  const failed = await api.waitJob(`/v1/jobs/${lost.id}`);
  assert.equal(failed.state, 'failed');
  assert.equal(failed.error.code, 'PH5_ERR_STAGING');
  assert.match(failed.error.message, /vanished\.bin/);
  assert.equal((await api.waitJob(next.headers.get('location')!)).state, 'completed');
  assert.equal((await api.waitJob(other.headers.get('location')!)).state, 'completed');
  assert.deepEqual(await h5py(stack.filePath('o.h5'), "out = h5py.File(path, 'r')['v'][()].tolist()"), [1, 2, 3, 4]);
  assert.deepEqual(await h5py(stack.filePath('p.h5'), "out = h5py.File(path, 'r')['w'][()].tolist()"), [5, 6, 7, 8]);
  await jobs.close();
  producer.disconnect();
});
