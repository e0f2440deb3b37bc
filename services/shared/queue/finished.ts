/**
 * Which of many jobs are finished (completed or failed for good) or gone, in two pipelined
 * round trips: the API's quota reconciles sets of thousands of ids, for which BullMQ's
 * per-job Queue.getJobState (one script each) would be far heavier. It reads the job hash's
 * `finishedOn`, which BullMQ sets when it finishes a job; pinned by
 * test/integration/bullmq-contract.test.ts.
 */
import type { Redis } from 'ioredis';
import { jobHashKey } from './keys.js';

export async function finishedOrGone(redis: Redis, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const finishedOn = (await redis.pipeline(ids.map((id) => ['hget', jobHashKey(id), 'finishedOn'])).exec()) ?? [];
  // A hash without finishedOn is unfinished; a missing hash reads null too, and EXISTS tells
  // them apart: a job removed from Redis is finished for the caller.
  const finished = ids.filter((_, i) => finishedOn[i]?.[1] != null);
  const unsure = ids.filter((_, i) => finishedOn[i]?.[1] == null);
  if (unsure.length === 0) return finished;
  const exists = (await redis.pipeline(unsure.map((id) => ['exists', jobHashKey(id)])).exec()) ?? [];
  return [...finished, ...unsure.filter((_, i) => exists[i]?.[1] === 0)];
}
