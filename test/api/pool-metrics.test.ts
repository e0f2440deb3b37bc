/**
 * /metrics tells a hang from work: live pools (what /readyz counts), watchdog firings (the
 * pools' count in Redis), and unfinished jobs by phase — applying (an epoch of a live pool
 * writes them), held (a pool took them, their epoch has not started), waiting. A real
 * BullMQ Worker stands in for a pool and holds the jobs it takes; the test writes what a
 * pool's heartbeat, epoch start and watchdog write.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { jobPhases } from '../../services/api/plugins/app/metrics.js';
import { applyingMark, fileStateKey } from '../../services/shared/file-state.js';
import { keys, type ApplyingEvent, type JobResult } from '../../services/shared/jobs.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { ShardWorkers } from '../helpers/queues.js';

let api: TestApi;
let worker: ShardWorkers<JobResult> | undefined;
const releases = new Map<string, () => void>();

before(async () => {
  api = await startApi();
});
after(async () => {
  releases.forEach((r) => r());
  await worker?.close();
  await api?.stop();
});

const phaseCases: Array<[string, Record<string, number>, Array<{ first: number; last: number }>, { applying: number; held: number; waiting: number }]> = [
  ['idle', {}, [], { applying: 0, held: 0, waiting: 0 }],
  ['a pool holds 128, applies 10', { active: 128, waiting: 5 }, [{ first: 11, last: 20 }], { applying: 10, held: 118, waiting: 5 }],
  [
    'two files in epochs',
    { active: 30 },
    [
      { first: 1, last: 4 },
      { first: 7, last: 7 },
    ],
    { applying: 5, held: 25, waiting: 0 },
  ],
  ['a hang: everything held, nothing applied', { active: 256, waiting: 1000, delayed: 3 }, [], { applying: 0, held: 256, waiting: 1003 }],
  ['a range larger than the active jobs (some completed meanwhile) is capped', { active: 2 }, [{ first: 1, last: 9 }], { applying: 2, held: 0, waiting: 0 }],
  [
    'waiting counts prioritized, delayed, waiting-children and paused',
    { waiting: 1, prioritized: 2, delayed: 3, 'waiting-children': 4, paused: 5, completed: 99, failed: 7 },
    [],
    { applying: 0, held: 0, waiting: 15 },
  ],
];
for (const [name, counts, ranges, expected] of phaseCases) {
  test(`jobPhases: ${name}`, () => {
    assert.deepEqual(jobPhases(counts, ranges), expected);
  });
}

/** One sample of a scrape: `name{labels} value`. */
async function metric(name: string, labels = ''): Promise<number | null> {
  const res = await api.app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  const line = res.body.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? null : Number(line.split(' ').pop());
}

test('ph5_pools_live counts pools with a fresh heartbeat AND their record; /readyz agrees', async () => {
  const { redis } = api.app;
  assert.equal(await metric('ph5_pools_live'), 0);
  assert.equal((await api.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
  // What a heartbeat writes.
  await redis.multi().zadd(keys.pools, Date.now(), 'pool-a').set(keys.pool('pool-a'), '{}', 'PX', 10_000).exec();
  await redis.multi().zadd(keys.pools, Date.now(), 'pool-b').set(keys.pool('pool-b'), '{}', 'PX', 10_000).exec();
  assert.equal(await metric('ph5_pools_live'), 2);
  // pool-b's record expired (stopped, dead): no longer live, even with a recent score.
  await redis.del(keys.pool('pool-b'));
  assert.equal(await metric('ph5_pools_live'), 1);
  const ready = await api.app.inject({ method: 'GET', url: '/readyz' });
  assert.deepEqual(ready.json(), { status: 'ready', pools: 1 });
  await redis.multi().zrem(keys.pools, 'pool-a', 'pool-b').del(keys.pool('pool-a')).exec();
  assert.equal(await metric('ph5_pools_live'), 0);
  assert.equal((await api.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
});

test('ph5_watchdog_firings_total is the pools’ count of watchdog firings', async () => {
  assert.equal(await metric('ph5_watchdog_firings_total'), 0);
  await api.app.redis.incr(keys.watchdogFired);
  await api.app.redis.incr(keys.watchdogFired);
  assert.equal(await metric('ph5_watchdog_firings_total'), 2);
  const res = await api.app.inject({ method: 'GET', url: '/metrics' });
  assert.match(res.body, /# TYPE ph5_watchdog_firings_total counter/);
});

test('ph5_jobs_phase: held jobs are not counted as applying; an epoch of a live pool is; a dead pool’s is not', async () => {
  const { redis } = api.app;
  const ids: string[] = [];
  const seqs: number[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await api.app.inject({ method: 'POST', url: '/v1/files/ph.h5/datasets', payload: { path: `/d${i}`, dtype: 'int8', shape: [2] } });
    assert.equal(res.statusCode, 202, res.body);
    ids.push(res.json().job.id);
    seqs.push((await api.app.jobs.job(res.json().job.id))!.data.seq!);
  }
  const phase = (p: string) => metric('ph5_jobs_phase', `{phase="${p}"}`);
  assert.deepEqual([await phase('applying'), await phase('held'), await phase('waiting')], [0, 0, 4]);

  worker = new ShardWorkers<JobResult>(
    api.config.redisUrl!,
    async (job) => {
      await new Promise<void>((resolve) => releases.set(String(job.id), resolve));
      return { ranks: 1, pool: 'stand-in', ops: [], timings: { queuedMs: 0, openMs: 0, applyMs: 0, closeMs: 0, totalMs: 0 } };
    },
    { concurrency: 8 },
  );
  for (let i = 0; i < 200 && !ids.every((id) => releases.has(id)); i++) await sleep(20);
  assert.ok(
    ids.every((id) => releases.has(id)),
    'the stand-in holds all four',
  );
  assert.deepEqual([await phase('applying'), await phase('held'), await phase('waiting')], [0, 4, 0], 'held, none applied');

  // An epoch of a live pool starts on the first two.
  await redis.set(keys.pool('pool-m'), '{}', 'PX', 60_000);
  await redis.hset(fileStateKey('default', 'ph.h5'), 'applying', applyingMark(seqs[0]!, seqs[1]!, 'pool-m'));
  const event: ApplyingEvent = { project: 'default', file: 'ph.h5', first: seqs[0]!, last: seqs[1]!, pool: 'pool-m' };
  await redis.publish(keys.applyingChannel, JSON.stringify(event));
  await sleep(200); // the API's subscriber hears the event (it learns which files to look at)
  assert.deepEqual([await phase('applying'), await phase('held')], [2, 2]);

  // Its pool is gone (its record expired): the mark stays, but nothing is being applied.
  await redis.del(keys.pool('pool-m'));
  assert.deepEqual([await phase('applying'), await phase('held')], [0, 4]);

  for (const id of ids) releases.get(id)!();
});
