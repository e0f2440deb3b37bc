/**
 * `running` means an epoch of a live pool is applying the job, on every view: GET (and its
 * long-poll), the job list, and the SSE stream. A real BullMQ Worker stands in for the pool
 * and holds the jobs it takes (they are 'active'); the test writes what a pool's epoch and
 * heartbeat write (the file state's `applying` mark, the `ph5:applying` event, the pool's
 * record). Before, every held job read `running`.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { applyingMark, fileStateKey } from '../../services/shared/file-state.js';
import { keys, type ApplyingEvent, type JobResult } from '../../services/shared/jobs.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { ShardWorkers } from '../helpers/queues.js';

let api: TestApi;
let url: string;
let worker: ShardWorkers<JobResult>;
const releases = new Map<string, () => void>();
const RESULT: JobResult = { ranks: 1, pool: 'stand-in', ops: [], timings: { queuedMs: 0, openMs: 0, applyMs: 0, closeMs: 0, totalMs: 0 } };

before(async () => {
  api = await startApi();
  await api.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
  worker = new ShardWorkers<JobResult>(
    api.config.redisUrl!,
    async (job) => {
      await new Promise<void>((resolve) => releases.set(String(job.id), resolve));
      return RESULT;
    },
    { concurrency: 16 },
  );
});
after(async () => {
  releases.forEach((r) => r());
  await worker?.close();
  await api?.stop();
});

/** Queues `n` jobs on `file` (dataset creations) and waits until the stand-in holds them all. */
async function held(file: string, n: number): Promise<Array<{ id: string; seq: number }>> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const res = await api.app.inject({ method: 'POST', url: `/v1/files/${file}/datasets`, payload: { path: `/d${i}`, dtype: 'int8', shape: [2] } });
    assert.equal(res.statusCode, 202, res.body);
    const id = res.json().job.id as string;
    out.push({ id, seq: (await api.app.jobs.job(id))!.data.seq! });
  }
  for (let i = 0; i < 200 && !out.every((j) => releases.has(j.id)); i++) await sleep(20);
  assert.ok(
    out.every((j) => releases.has(j.id)),
    'the stand-in took every job',
  );
  return out;
}

/** What a pool's epoch does as it starts, and its heartbeat. */
async function epochStarts(file: string, first: number, last: number, pool: string, publish = true): Promise<void> {
  const { redis } = api.app;
  await redis.set(keys.pool(pool), '{}', 'PX', 60_000);
  await redis.hset(fileStateKey('default', file), 'applying', applyingMark(first, last, pool));
  const event: ApplyingEvent = { project: 'default', file, first, last, pool };
  if (publish) await redis.publish(keys.applyingChannel, JSON.stringify(event));
}

const state = async (id: string) => (await api.app.inject({ method: 'GET', url: `/v1/jobs/${id}` })).json().state;

test('GET and the list: only the jobs the live pool’s epoch covers are running; a dead pool’s mark makes nothing running', async () => {
  const jobs = await held('list.h5', 3);
  assert.deepEqual(await Promise.all(jobs.map((j) => state(j.id))), ['queued', 'queued', 'queued'], 'held, not applied');

  await epochStarts('list.h5', jobs[1]!.seq, jobs[1]!.seq, 'pool-live');
  assert.deepEqual(await Promise.all(jobs.map((j) => state(j.id))), ['queued', 'running', 'queued']);
  const list = (await api.app.inject({ method: 'GET', url: '/v1/jobs?file=list.h5' })).json();
  assert.deepEqual(
    list.jobs.map((j: any) => [j.id, j.state]),
    [...jobs].reverse().map((j, i) => [j.id, i === 1 ? 'running' : 'queued']),
  );
  const running = (await api.app.inject({ method: 'GET', url: '/v1/jobs?state=running&file=list.h5' })).json();
  assert.deepEqual(
    running.jobs.map((j: any) => j.id),
    [jobs[1]!.id],
  );

  // The pool's heartbeat record expires (it died, or its ranks are stopped): its mark stays, nothing runs.
  await api.app.redis.del(keys.pool('pool-live'));
  assert.deepEqual(await Promise.all(jobs.map((j) => state(j.id))), ['queued', 'queued', 'queued']);
  const none = (await api.app.inject({ method: 'GET', url: '/v1/jobs?state=running&file=list.h5' })).json();
  assert.deepEqual(none.jobs, []);

  // The epoch's commit: cursor past the job, mark gone; until BullMQ has it completed it stays running.
  await api.app.redis.hset(fileStateKey('default', 'list.h5'), 'applied', jobs[1]!.seq);
  await api.app.redis.hdel(fileStateKey('default', 'list.h5'), 'applying');
  assert.deepEqual(await Promise.all(jobs.map((j) => state(j.id))), ['running', 'running', 'queued']);
  for (const j of jobs) releases.get(j.id)!();
  const done = await api.app.inject({ method: 'GET', url: `/v1/jobs/${jobs[2]!.id}?wait=5` });
  assert.equal(done.json().state, 'completed');
});

/** Reads an SSE stream's events as they come. */
async function* sse(path: string): AsyncGenerator<{ event: string; data: any; at: number }> {
  const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(30_000) });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!block.startsWith('event:')) continue;
      const [e, d] = block.split('\n');
      yield { event: e!.slice(7), data: JSON.parse(d!.slice(6)), at: Date.now() };
    }
  }
}

test('the event stream says queued while the pool holds the job, running as soon as the epoch’s event arrives, then completed', async () => {
  const [job] = await held('stream.h5', 1);
  const events = sse(`/v1/jobs/${job!.id}/events`);
  const first = await events.next();
  assert.equal(first.value!.data.state, 'queued', 'held by the pool, not running');
  const opened = Date.now();

  // An epoch of ANOTHER file starting changes nothing for this stream.
  const other = await held('other.h5', 1);
  await epochStarts('other.h5', other[0]!.seq, other[0]!.seq, 'pool-s');
  // This file's epoch: the stream's own poll runs every 2 s, so an answer well within that
  // came from the event.
  await epochStarts('stream.h5', job!.seq, job!.seq, 'pool-s');
  const second = await events.next();
  assert.equal(second.value!.data.state, 'running', JSON.stringify(second.value));
  assert.ok(second.value!.at - opened < 1_200, `running ${second.value!.at - opened} ms after the event (the poll would take ~2 s)`);

  releases.get(job!.id)!();
  const third = await events.next();
  assert.equal(third.value!.data.state, 'completed');
  assert.equal((await events.next()).done, true, 'the stream ends after completed');
  releases.get(other[0]!.id)!();
});

test('all streams share ONE subscriber connection for epoch events', async () => {
  const subscribers = async () => ((await api.app.redis.client('LIST')) as string).split('\n').filter((l) => / sub=[1-9]/.test(l)).length;
  const jobs = await held('many.h5', 3);
  const streams = jobs.map((j) => sse(`/v1/jobs/${j.id}/events`));
  for (const s of streams) assert.equal((await s.next()).value!.data.state, 'queued');
  assert.equal(await subscribers(), 1);
  for (const j of jobs) releases.get(j.id)!();
  for (const s of streams) {
    for await (const e of s) if (e.data.state === 'completed') break;
  }
});
