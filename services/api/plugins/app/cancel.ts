/**
 * Cancelling a queued job. A job cannot simply be removed: the worker applies a file's
 * jobs in sequence-number order and waits for a missing number, so the job must still
 * reach the worker, which then fails it with PH5_ERR_CANCELLED (moving the file's order
 * past it) without touching the file.
 *
 * The mark is made by one script that first checks the job is still waiting (wait or
 * paused list, prioritized or delayed set): BullMQ moves a job to active, and hands its
 * data to a worker, in one script too, so either the worker gets the data with the mark,
 * or the job is already taken and the cancellation is refused.
 */
import type { Redis } from 'ioredis';
import { queueKey, queueOfJobId } from '../../../shared/jobs.js';

const MARK = '{"cancelled":true,';

const CANCEL = `
local id = ARGV[1]
local waiting = redis.call('LPOS', KEYS[1], id) or redis.call('LPOS', KEYS[2], id) or redis.call('ZSCORE', KEYS[3], id) or redis.call('ZSCORE', KEYS[4], id)
if not waiting then return 0 end
local d = redis.call('HGET', KEYS[5], 'data')
if not d then return 0 end
if string.sub(d, 1, ${MARK.length}) == '${MARK}' then return 1 end
redis.call('HSET', KEYS[5], 'data', '${MARK}' .. string.sub(d, 2))
return 1
`;

/** Marks a waiting job cancelled; false when it is not waiting (running, finished, gone). */
export async function cancelWaitingJob(redis: Redis, jobId: string): Promise<boolean> {
  const queue = queueOfJobId(jobId);
  if (queue === null) return false;
  const key = (k: string) => queueKey(queue, k);
  const done = await redis.eval(CANCEL, 5, key('wait'), key('paused'), key('prioritized'), key('delayed'), key(jobId), jobId);
  return done === 1;
}
