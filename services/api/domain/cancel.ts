/**
 * Cancelling a queued job: see shared/queue/cancel.ts (the mark lives in ph5's own record of
 * the job, made atomically with the check that the job still waits).
 */
import type { Redis } from 'ioredis';
import { markCancelledIfWaiting } from '../../shared/queue/index.js';

/** Marks a waiting job cancelled; false when it is not waiting (running, finished, gone). */
export async function cancelWaitingJob(redis: Redis, jobId: string): Promise<boolean> {
  return markCancelledIfWaiting(redis, jobId);
}
