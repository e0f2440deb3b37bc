/**
 * The contract between ph5 and BullMQ, pinned: services/shared/queue (the adapter) is the
 * only code that touches BullMQ, and in four places it relies on more than BullMQ's
 * documented API (adding a job inside our MULTI; the job hash's key and `finishedOn`; the
 * lists of waiting jobs the cancel script reads; the event streams read with one XREAD).
 * This file asserts the exact BullMQ version and each of those behaviours on a real
 * redis-server, so an upgrade fails here, loudly, before it can break ordering silently.
 * When it fails after an upgrade: check the adapter against the new BullMQ, then update
 * the version below.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Job, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { fileStateKey } from '../../services/shared/file-state.js';
import { newJobId, queueName, QUEUE_PREFIX, shardOfFile, type JobData, type JobResult } from '../../services/shared/jobs.js';
import { redisOptions } from '../../services/shared/redis.js';
import {
  consumeShard,
  finishedOrGone,
  jobHashKey,
  jobMarksKey,
  markCancelledIfWaiting,
  ShardEvents,
  WriteQueues,
  type QueuedJob,
} from '../../services/shared/queue/index.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/** The BullMQ version the adapter was checked against. */
const BULLMQ_VERSION = '5.81.5';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const readJson = (...parts: string[]) => JSON.parse(readFileSync(path.join(root, ...parts), 'utf8'));

let redis: TestRedis;
let client: Redis;
let queues: WriteQueues;
const workers: Worker[] = [];

before(async () => {
  redis = await startRedis();
  client = new Redis({ ...redisOptions(redis.url, 'producer'), enableOfflineQueue: true });
  queues = new WriteQueues(client);
});
after(async () => {
  await Promise.allSettled(workers.map((w) => w.close()));
  await queues?.close();
  client?.disconnect();
  await redis?.stop();
});

const FILE = 'contract.h5';
const SHARD = shardOfFile('default', FILE);
const data = (path = '/d'): JobData => ({ v: 1, project: 'default', file: FILE, acceptedAt: Date.now(), ops: [{ op: 'createGroup', path }] });

/** A manual Worker on the file's shard: takes jobs only when asked (getNextJob). */
function manualWorker(): Worker<JobData, JobResult> {
  const w = new Worker<JobData, JobResult>(queueName(SHARD), null, { connection: redisOptions(redis.url, 'consumer'), prefix: QUEUE_PREFIX });
  workers.push(w);
  return w;
}

test('bullmq is pinned to the exact version this contract was checked against', () => {
  const pkg = readJson('package.json');
  assert.equal(pkg.dependencies.bullmq, BULLMQ_VERSION, 'package.json pins bullmq exactly (no range)');
  const lock = readJson('package-lock.json');
  assert.equal(lock.packages[''].dependencies.bullmq, BULLMQ_VERSION, 'package-lock.json root pins it too');
  assert.equal(lock.packages['node_modules/bullmq'].version, BULLMQ_VERSION, 'package-lock.json resolves that version');
  assert.equal(readJson('node_modules', 'bullmq', 'package.json').version, BULLMQ_VERSION, 'and it is the one installed');
});

test("Job#addJob queues exactly one command on a transaction of the Queue's client, and runs nothing before EXEC", async () => {
  const id = newJobId('default', FILE);
  const queue = queues.queueOf(id)!;
  const job = new Job<JobData, JobResult>(queue, 'n', data(), { jobId: id }, id);
  // BullMQ's client wraps ioredis: its multi() can run BullMQ's scripts (a plain ioredis
  // transaction cannot: addJob needs the wrapper's runCommand), which is why the adapter
  // takes the transaction from queue.client.
  const multi = ((await queue.client) as unknown as Redis).multi();
  await job.addJob(multi as never, { parentDependenciesKey: '' });
  assert.equal(multi.length, 2, 'MULTI and one command (the add script): the adapter finds its own reply at index 1');
  assert.equal(await client.exists(jobHashKey(id)), 0, 'nothing written before EXEC');
  const replies = await multi.exec();
  assert.equal(replies?.length, 1, "one reply, the add script's");
  assert.equal(replies?.[0]?.[0], null);
  assert.equal(replies?.[0]?.[1], id, 'the add script answers the job id');
  assert.equal(await queue.getJobState(id), 'waiting');
});

test("a job's hash: its key, and the fields BullMQ keeps the data and options in", async () => {
  const id = newJobId('default', FILE);
  const d = data('/hash');
  const { job } = await queues.addSequenced(d, id);
  assert.equal(jobHashKey(id), `${QUEUE_PREFIX}:${queueName(SHARD)}:${id}`);
  const hash = await client.hgetall(jobHashKey(id));
  assert.deepEqual(
    JSON.parse(hash.data!),
    { v: 1, project: 'default', file: FILE, acceptedAt: d.acceptedAt, ops: d.ops },
    "BullMQ's data is the job's data, without ph5's marks",
  );
  assert.equal(hash.name, 'default/contract.h5:createGroup');
  assert.equal(JSON.parse(hash.opts!).attempts, 3);
  assert.ok(!('finishedOn' in hash), 'no finishedOn before it finishes');
  // ph5's number lives in ph5's keys, written by the same transaction.
  assert.equal(await client.hget(jobMarksKey(id), 'seq'), String(job.data.seq));
  assert.equal(await client.hget(fileStateKey('default', FILE), `job:${job.data.seq}`), id);
  assert.equal(await client.ttl(jobMarksKey(id)), -1, 'no expiry while the job may still run');
});

test('adding a job again with the same id adds nothing and keeps its number (idempotent)', async () => {
  const id = newJobId('default', FILE);
  const first = await queues.addSequenced(data('/once'), id);
  const accepted = await client.hget(fileStateKey('default', FILE), 'accepted');
  const again = await queues.addSequenced(data('/twice'), id);
  assert.equal(again.job.data.seq, first.job.data.seq);
  assert.equal(await client.hget(fileStateKey('default', FILE), 'accepted'), accepted, 'no number handed out');
  const stored = await queues.getJob(id);
  assert.equal((stored!.data.ops[0] as { path: string }).path, '/once', 'BullMQ kept the first job');
  const numbers = [first.job.data.seq!, (await queues.addSequenced(data('/next'), newJobId('default', FILE))).job.data.seq!];
  assert.equal(numbers[1], numbers[0]! + 1, 'numbers are consecutive per file');
});

test('the waiting lists the cancel script reads: waiting, delayed, prioritized and paused jobs can be cancelled, an active one cannot', async () => {
  const queue = queues.queues[SHARD]!;
  await queue.drain(true);
  const waiting = (await queues.addSequenced(data('/w'), newJobId('default', FILE))).job;
  const delayed = await queue.add('x', data('/dl'), { jobId: newJobId('default', FILE), delay: 60_000 });
  const prioritized = await queue.add('x', data('/p'), { jobId: newJobId('default', FILE), priority: 5 });
  assert.equal(await client.lpos(`${QUEUE_PREFIX}:${queueName(SHARD)}:wait`, String(waiting.id)), 0);
  assert.notEqual(await client.zscore(`${QUEUE_PREFIX}:${queueName(SHARD)}:delayed`, String(delayed.id)), null);
  assert.notEqual(await client.zscore(`${QUEUE_PREFIX}:${queueName(SHARD)}:prioritized`, String(prioritized.id)), null);
  for (const job of [waiting, delayed, prioritized]) {
    assert.equal(await markCancelledIfWaiting(client, String(job.id)), true, `${await job.getState()} job is cancellable`);
    assert.equal((await queues.getJob(String(job.id)))!.data.cancelled, true);
  }
  assert.equal(await client.ttl(jobMarksKey(String(waiting.id))), -1, 'a numbered job keeps its marks until applied');
  assert.ok((await client.ttl(jobMarksKey(String(delayed.id)))) > 0, 'an unnumbered one gets a TTL');
  await queue.pause();
  try {
    const paused = await queue.add('x', data('/ps'), { jobId: newJobId('default', FILE) });
    assert.ok(['paused', 'waiting'].includes(await paused.getState()));
    const inWait = await client.lpos(`${QUEUE_PREFIX}:${queueName(SHARD)}:wait`, String(paused.id));
    const inPaused = await client.lpos(`${QUEUE_PREFIX}:${queueName(SHARD)}:paused`, String(paused.id));
    assert.ok(inWait !== null || inPaused !== null, 'a paused queue keeps its jobs in wait (or paused)');
    assert.equal(await markCancelledIfWaiting(client, String(paused.id)), true, 'a job of a paused queue is cancellable');
  } finally {
    await queue.resume();
  }
  await queue.drain(true);
  const taken = (await queues.addSequenced(data('/t'), newJobId('default', FILE))).job;
  const worker = manualWorker();
  const active = await worker.getNextJob('tok');
  assert.equal(active?.id, taken.id);
  assert.equal(await markCancelledIfWaiting(client, String(taken.id)), false, 'an active job is not');
  assert.equal((await queues.getJob(String(taken.id)))!.data.cancelled, undefined);
  assert.equal(await markCancelledIfWaiting(client, newJobId('default', FILE)), false, 'nor a job that does not exist');
  await active!.moveToCompleted({} as JobResult, 'tok', false);
});

test("the event stream's key and entries, as ShardEvents reads them; finishedOn once finished", async () => {
  const queue = queues.queues[SHARD]!;
  await queue.drain(true);
  const events = new ShardEvents(redisOptions(redis.url, 'consumer'));
  try {
    const seen: Array<{ event: string; args: Record<string, unknown> }> = [];
    for (const event of ['completed', 'failed']) events.on(event, (args: Record<string, unknown>) => seen.push({ event, args }));
    const worker = manualWorker();
    // Its reading starts at the streams' ends when it has connected: probe jobs complete
    // until one is heard, so the jobs below come after that start.
    for (let i = 0; i < 50 && seen.length === 0; i++) {
      await queues.addSequenced(data('/probe'), newJobId('default', FILE));
      await (await worker.getNextJob('tok'))!.moveToCompleted({} as JobResult, 'tok', false);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(seen.length > 0, 'ShardEvents hears a completion');
    seen.length = 0;
    const ok = (await queues.addSequenced(data('/ok'), newJobId('default', FILE))).job;
    const bad = (await queues.addSequenced(data('/bad'), newJobId('default', FILE))).job;
    const a = await worker.getNextJob('tok');
    await a!.moveToCompleted({ ranks: 2 } as unknown as JobResult, 'tok', false);
    const b = await worker.getNextJob('tok');
    b!.opts.attempts = 1;
    await b!.moveToFailed(new Error('PH5_ERR_TEST: no'), 'tok', false);

    const raw = await client.xrange(`${QUEUE_PREFIX}:${queueName(SHARD)}:events`, '-', '+');
    const entries = raw.map(([, fields]) => Object.fromEntries(fields.flatMap((_, i) => (i % 2 ? [] : [[fields[i]!, fields[i + 1]!]]))));
    const completed = entries.find((e) => e.event === 'completed' && e.jobId === String(ok.id));
    assert.ok(completed, 'a completed entry names the job');
    assert.deepEqual(JSON.parse(completed.returnvalue!), { ranks: 2 });
    const failed = entries.find((e) => e.event === 'failed' && e.jobId === String(bad.id));
    assert.equal(failed?.failedReason, 'PH5_ERR_TEST: no');

    const deadline = Date.now() + 10_000;
    const heard = () => seen.some((e) => e.args.jobId === String(ok.id)) && seen.some((e) => e.args.jobId === String(bad.id));
    while (!heard() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen.find((s) => s.event === 'completed' && s.args.jobId === String(ok.id))?.args, {
      jobId: String(ok.id),
      returnvalue: { ranks: 2 },
      prev: 'active',
    });
    assert.equal(seen.find((s) => s.event === 'failed' && s.args.jobId === String(bad.id))?.args.failedReason, 'PH5_ERR_TEST: no');

    const open = (await queues.addSequenced(data('/open'), newJobId('default', FILE))).job;
    const gone = newJobId('default', FILE);
    assert.ok((await client.hget(jobHashKey(String(ok.id)), 'finishedOn')) !== null, 'finishedOn is set when a job completes');
    assert.deepEqual(
      (await finishedOrGone(client, [String(ok.id), String(bad.id), String(open.id), gone])).sort(),
      [String(ok.id), String(bad.id), gone].sort(),
    );
  } finally {
    await events.close();
  }
});

test("a shard's worker is handed each job with ph5's marks filled in", async () => {
  const queue = queues.queues[SHARD]!;
  await queue.drain(true);
  const numbered = (await queues.addSequenced(data('/m1'), newJobId('default', FILE))).job;
  const cancelled = (await queues.addSequenced(data('/m2'), newJobId('default', FILE))).job;
  assert.equal(await markCancelledIfWaiting(client, String(cancelled.id)), true);
  const got = new Map<string, JobData>();
  const done = new Promise<void>((resolve) => {
    const worker = consumeShard(
      SHARD,
      async (job: QueuedJob) => {
        got.set(String(job.id), { ...job.data });
        if (got.size === 2) resolve();
        return {} as JobResult;
      },
      { connection: redisOptions(redis.url, 'consumer'), concurrency: 2, lockDuration: 30_000, stalledInterval: 30_000, maxStalledCount: 1 },
    );
    workers.push(worker);
  });
  await done;
  assert.equal(got.get(String(numbered.id))?.seq, numbered.data.seq);
  assert.equal(got.get(String(numbered.id))?.cancelled, undefined);
  assert.equal(got.get(String(cancelled.id))?.seq, cancelled.data.seq);
  assert.equal(got.get(String(cancelled.id))?.cancelled, true);
});
