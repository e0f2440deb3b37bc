/**
 * ph5's marks of a job (`ph5:jobmarks:<id>`) over its life, on a real redis-server: written
 * with the enqueue, never in BullMQ's data, kept while the job may run, given their TTL by
 * the commit that moves the file's cursor past the job; and jobs queued by the version that
 * kept them in BullMQ's data are still read right.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { commitEpoch, fileStateKey } from '../../services/shared/file-state.js';
import { newJobId, type JobData } from '../../services/shared/jobs.js';
import { redisOptions } from '../../services/shared/redis.js';
import { JOB_MARKS_TTL_S, jobHashKey, jobMarksKey, WriteQueues } from '../../services/shared/queue/index.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let client: Redis;
let queues: WriteQueues;

before(async () => {
  redis = await startRedis();
  client = new Redis({ ...redisOptions(redis.url, 'producer'), enableOfflineQueue: true });
  queues = new WriteQueues(client);
});
after(async () => {
  await queues?.close();
  client?.disconnect();
  await redis?.stop();
});

const data = (file: string, extra: Partial<JobData> = {}): JobData => ({
  v: 1,
  project: 'default',
  file,
  acceptedAt: Date.now(),
  ops: [{ op: 'createGroup', path: '/g' }],
  ...extra,
});

test("marks are written with the job, never into BullMQ's data, even when the caller's data carries them", async () => {
  const id = newJobId('default', 'a.h5');
  const { job } = await queues.addSequenced(data('a.h5', { seq: 99, cancelled: true }), id);
  assert.equal(job.data.seq, 1, "the file's first number, not the caller's");
  const stored = JSON.parse((await client.hget(jobHashKey(id), 'data'))!);
  assert.equal('seq' in stored, false);
  assert.equal('cancelled' in stored, false);
  assert.deepEqual(await client.hgetall(jobMarksKey(id)), { seq: '1' });
  const read = await queues.getJob(id);
  assert.equal(read!.data.seq, 1);
  assert.equal(read!.data.cancelled, undefined);
});

test('the commit that moves the cursor past a job gives its marks their TTL; the jobs after it keep theirs', async () => {
  const ids = [newJobId('default', 'c.h5'), newJobId('default', 'c.h5'), newJobId('default', 'c.h5')];
  for (const id of ids) await queues.addSequenced(data('c.h5'), id);
  const lease = { lockKey: 'ph5:test-lock:c', token: 'tok', fence: 1 };
  await client.hset(lease.lockKey, 'writer', lease.token, 'writerExpires', Date.now() + 60_000, 'writerFence', '1');
  assert.equal(await commitEpoch(client, lease, 'default', 'c.h5', 0, 2, [{ seq: 2, reason: 'PH5_ERR_TEST: failed for good' }]), 'committed');
  for (const id of ids.slice(0, 2)) {
    const ttl = await client.ttl(jobMarksKey(id));
    assert.ok(ttl > JOB_MARKS_TTL_S - 60 && ttl <= JOB_MARKS_TTL_S, `applied (or failed for good): TTL ${ttl}`);
    assert.equal(await client.hget(jobMarksKey(id), 'seq'), String(ids.indexOf(id) + 1), 'still readable by a redelivery');
  }
  assert.equal(await client.ttl(jobMarksKey(ids[2]!)), -1, 'not yet applied: no expiry');
  assert.equal(await client.hget(fileStateKey('default', 'c.h5'), 'applied'), '2');

  await client.hset(lease.lockKey, 'writerFence', '2');
  assert.equal(await commitEpoch(client, lease, 'default', 'c.h5', 2, 3, []), 'lease-lost');
  assert.equal(await client.ttl(jobMarksKey(ids[2]!)), -1, 'a fenced-out commit changes nothing');
});

test('a job queued by the previous version (number and cancellation inside its data) is read as it was', async () => {
  const id = newJobId('default', 'old.h5');
  await queues.queueOf(id)!.add('old', data('old.h5', { seq: 5, cancelled: true }), { jobId: id });
  const read = await queues.getJob(id);
  assert.equal(read!.data.seq, 5);
  assert.equal(read!.data.cancelled, true);
});
