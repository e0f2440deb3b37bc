/**
 * GET /v1/jobs/{id}: BullMQ states as clients see them, results, parsed failures, and
 * ?wait long-polling that returns as soon as the job finishes. Jobs are run by a real
 * BullMQ Worker on the same Redis (standing in for the MPI pool, which has its own tests).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { UnrecoverableError, type Job } from 'bullmq';
import { applyingMark, fileStateKey } from '../../services/shared/file-state.js';
import { formatFailure, keys, newJobId, shardOfJobId, type JobData, type JobResult } from '../../services/shared/jobs.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { ShardWorkers } from '../helpers/queues.js';

let api: TestApi;
let worker: ShardWorkers<JobResult> | undefined;
/** Jobs on 'slow.h5' wait until released. */
const releases = new Map<string, () => void>();

const RESULT: JobResult = {
  ranks: 4,
  pool: 'test-pool',
  ops: [{ op: 'createDataset', path: '/d' }],
  timings: { queuedMs: 1, openMs: 2, applyMs: 3, closeMs: 4, totalMs: 10 },
};

async function run(job: Job<JobData, JobResult>): Promise<JobResult> {
  const first = job.data.ops[0]!;
  switch (job.data.file) {
    case 'fail.h5':
      if (first.op === 'createDataset' && first.dtype === 'int8') return RESULT; // the second try
      throw new UnrecoverableError(formatFailure('PH5_ERR_HDF5', 'H5Dcreate2 failed: disk quota exceeded'));
    case 'plain-fail.h5':
      throw new UnrecoverableError('something without a code');
    case 'slow.h5':
      await new Promise<void>((resolve) => releases.set(String(job.id), resolve));
      return RESULT;
    default:
      return RESULT;
  }
}

function startWorker(): void {
  worker = new ShardWorkers<JobResult>(api.config.redisUrl!, run, { concurrency: 4 });
}

async function create(file: string, path = '/d'): Promise<string> {
  const res = await api.app.inject({ method: 'POST', url: `/v1/files/${file}/datasets`, payload: { path, dtype: 'int32', shape: [4] } });
  assert.equal(res.statusCode, 202, res.body);
  return res.headers.location as string;
}

async function getJob(location: string, query = ''): Promise<{ status: number; body: any; ms: number }> {
  const t0 = Date.now();
  const res = await api.app.inject({ method: 'GET', url: `${location}${query}` });
  return { status: res.statusCode, body: res.json(), ms: Date.now() - t0 };
}

before(async () => {
  api = await startApi({ PH5_MAX_WAIT_SECONDS: '5' });
});
after(async () => {
  releases.forEach((r) => r());
  await worker?.close();
  await api?.stop();
});

test('a new job is queued, with its ops, timings and no result yet', async () => {
  const location = await create('ok.h5');
  const { status, body } = await getJob(location);
  assert.equal(status, 200);
  assert.equal(body.state, 'queued');
  assert.equal(body.file, 'ok.h5');
  assert.deepEqual(body.ops, [{ op: 'createDataset', path: '/d' }]);
  assert.equal(body.result, null);
  assert.equal(body.error, null);
  assert.equal(body.ranks, null);
  assert.equal(typeof body.timings.acceptedAt, 'number');
  assert.equal(body.timings.startedAt, null);
});

test('?wait gives up after the wait when nothing runs the job, and is capped by the server', async () => {
  const location = await create('waiting.h5');
  const short = await getJob(location, '?wait=0.5');
  assert.equal(short.body.state, 'queued');
  assert.ok(short.ms >= 450 && short.ms < 2000, `waited ${short.ms} ms`);
});

test('?wait returns as soon as the job completes, with the worker’s result', async () => {
  const location = await create('ok2.h5');
  const waiting = getJob(location, '?wait=30'); // capped at PH5_MAX_WAIT_SECONDS=5
  await sleep(300);
  assert.equal(api.app.jobs.waiting, 1, 'the request is long-polling');
  startWorker();
  const { status, body, ms } = await waiting;
  assert.equal(status, 200);
  assert.equal(body.state, 'completed');
  assert.ok(ms < 4000, `answered after ${ms} ms, as soon as the job completed`);
  assert.deepEqual(body.result, RESULT);
  assert.equal(body.ranks, 4);
  assert.ok(body.timings.startedAt >= body.timings.acceptedAt);
  assert.ok(body.timings.finishedAt >= body.timings.startedAt);
  assert.equal(api.app.jobs.waiting, 0, 'the waiter is gone');
  // The earlier jobs ran too, now that a worker is there.
  const again = await getJob(location, '?wait=1');
  assert.equal(again.body.state, 'completed');
});

test('a job a pool holds is queued until an epoch of a live pool applies it, then running; ?wait on it returns when it finishes', async () => {
  const location = await create('slow.h5');
  const id = location.split('/').pop()!;
  for (let i = 0; i < 100 && !releases.has(id); i++) await sleep(20);
  assert.ok(releases.has(id), 'the worker took the job');
  // Taken (BullMQ 'active') but no epoch applies it: held, not running.
  assert.equal((await getJob(location)).body.state, 'queued');
  // What a pool's epoch writes as it starts (the mark) and its heartbeat (the pool's record).
  const { redis } = api.app;
  const seq = (await api.app.jobs.job(id))!.data.seq!;
  await redis.hset(fileStateKey('default', 'slow.h5'), 'applying', applyingMark(seq, seq, 'pool-slow'));
  assert.equal((await getJob(location)).body.state, 'queued', 'the marking pool is not live');
  await redis.set(keys.pool('pool-slow'), '{}', 'PX', 60_000);
  assert.equal((await getJob(location)).body.state, 'running');
  const waiting = getJob(location, '?wait=5');
  await sleep(200);
  releases.get(id)!();
  const { body, ms } = await waiting;
  assert.equal(body.state, 'completed');
  assert.ok(ms < 3000, `answered after ${ms} ms`);
});

test('a failed job reports the worker’s code and message', async () => {
  const location = await create('fail.h5');
  const { body } = await getJob(location, '?wait=5');
  assert.equal(body.state, 'failed');
  assert.deepEqual(body.error, { code: 'PH5_ERR_HDF5', message: 'H5Dcreate2 failed: disk quota exceeded' });
  assert.equal(body.result, null);
});

test('a failure without a code is reported as PH5_ERR_JOB_FAILED', async () => {
  const location = await create('plain-fail.h5');
  const { body } = await getJob(location, '?wait=5');
  assert.equal(body.state, 'failed');
  assert.deepEqual(body.error, { code: 'PH5_ERR_JOB_FAILED', message: 'something without a code' });
});

test('after a failed creation the dataset is void: it can be created again', async () => {
  const again = await api.app.inject({ method: 'POST', url: '/v1/files/fail.h5/datasets', payload: { path: '/d', dtype: 'int8', shape: [2] } });
  assert.equal(again.statusCode, 202, again.body);
  const write = await api.app.inject({ method: 'PUT', url: '/v1/files/fail.h5/datasets/d/value', payload: [1, 2] });
  assert.equal(write.statusCode, 202, 'the write is checked against the new shape [2] of int8');
});

test('unknown jobs, and jobs of another project, are not found', async () => {
  const missing = await getJob('/v1/jobs/9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.code, 'PH5_ERR_JOB_NOT_FOUND');
  const data: JobData = {
    v: 1,
    project: 'someone-else',
    file: 'x.h5',
    acceptedAt: Date.now(),
    ops: [{ op: 'createDataset', path: '/x', dtype: 'int8', shape: [1] }],
  };
  const otherId = newJobId('someone-else', 'x.h5');
  await api.app.jobs.queues[shardOfJobId(otherId)!]!.add('other', data, { jobId: otherId });
  const other = await getJob(`/v1/jobs/${otherId}`);
  assert.equal(other.status, 404);
  assert.equal(other.body.code, 'PH5_ERR_JOB_NOT_FOUND');
});

test('a bad ?wait is a validation error', async () => {
  const res = await getJob('/v1/jobs/whatever', '?wait=-1');
  assert.equal(res.status, 400);
  assert.equal(res.body.code, 'PH5_ERR_VALIDATION');
});
