/**
 * Cancelling a job that is still waiting: a mark in ph5's own record of the job
 * (job-marks.ts), never a change to BullMQ's job.
 *
 * The job cannot simply be removed: the worker applies a file's jobs in sequence-number
 * order and waits for a missing number, so the job must still reach the worker, which
 * then fails it with PH5_ERR_CANCELLED (moving the file's order past it) without touching
 * the file.
 *
 * Why a script of our own (the one place besides producer.ts where this adapter goes under
 * BullMQ's API): the mark must be made only while the job is waiting, atomically with
 * that check. BullMQ moves a job to active in one script, and the worker reads the marks
 * after that; so either the mark is made before the move (and the worker sees it), or the
 * job is already taken and the cancellation is refused. Queue.getJobState and a separate
 * write would leave a gap in which a worker could take the job unmarked after the API had
 * answered "cancelled". The script reads BullMQ's lists of waiting jobs (`wait`, `paused`,
 * `prioritized`, `delayed`), pinned by test/integration/bullmq-contract.test.ts.
 */
import type { Redis } from 'ioredis';
import { queueOfJobId } from '../jobs.js';
import { JOB_MARKS_TTL_S, jobMarksKey } from './job-marks.js';
import { bullKey } from './keys.js';

/** KEYS: wait, paused, prioritized, delayed, the job's hash, its marks. ARGV: id, TTL for a job without a number. */
const CANCEL = `
local id = ARGV[1]
local waiting = redis.call('LPOS', KEYS[1], id) or redis.call('LPOS', KEYS[2], id) or redis.call('ZSCORE', KEYS[3], id) or redis.call('ZSCORE', KEYS[4], id)
if not waiting then return 0 end
if redis.call('EXISTS', KEYS[5]) == 0 then return 0 end
redis.call('HSET', KEYS[6], 'cancelled', '1')
if redis.call('HEXISTS', KEYS[6], 'seq') == 0 then redis.call('EXPIRE', KEYS[6], ARGV[2]) end
return 1
`;

/** Marks a waiting job cancelled; false when it is not waiting (running, finished, gone). Cancelling twice is harmless. */
export async function markCancelledIfWaiting(redis: Redis, jobId: string): Promise<boolean> {
  const queue = queueOfJobId(jobId);
  if (queue === null) return false;
  const key = (type: string) => bullKey(queue, type);
  const done = await redis.eval(
    CANCEL,
    6,
    key('wait'),
    key('paused'),
    key('prioritized'),
    key('delayed'),
    key(jobId),
    jobMarksKey(jobId),
    jobId,
    JOB_MARKS_TTL_S,
  );
  return done === 1;
}
