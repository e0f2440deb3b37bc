/**
 * The consumer side of the sharded write queue: a BullMQ Worker on a shard's queue that
 * hands the processor each job with ph5's marks (job-marks.ts) filled in, and the BullMQ
 * names the worker pool uses (its errors, finding a job by id). Public BullMQ API only.
 */
import { DelayedError, Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import { QUEUE_PREFIX, queueName, type JobData, type JobResult } from '../jobs.js';
import { applyJobMarks, readJobMarks } from './job-marks.js';
import type { QueuedJob } from './producer.js';

export { DelayedError, UnrecoverableError };
export type ShardWorker = Worker<JobData, JobResult>;

/** What a pool tunes of a shard's Worker (see services/worker for the values). */
export interface ConsumeOptions {
  connection: Redis | RedisOptions;
  concurrency: number;
  lockDuration: number;
  stalledInterval: number;
  maxStalledCount: number;
}

/** Gives a job back to the delayed set (for `delayMs`) and ends its processing there. */
export async function giveBack(job: QueuedJob, token: string, delayMs: number): Promise<never> {
  await job.moveToDelayed(Date.now() + delayMs, token).catch(() => {});
  throw new DelayedError();
}

/** Whether a processor's error only said "given back" (not a failure). */
export function isDelayedError(err: unknown): boolean {
  return err instanceof DelayedError || (err as Error | undefined)?.name === 'DelayedError';
}

/**
 * Starts consuming a shard's queue. The marks are read after BullMQ made the job active:
 * a cancellation is accepted only while the job waits (cancel.ts), so none can come later.
 * When they cannot be read (Redis away), the job is given back, not failed.
 */
export function consumeShard(shard: number, processor: (job: QueuedJob, token: string) => Promise<JobResult>, opts: ConsumeOptions): ShardWorker {
  const worker: ShardWorker = new Worker<JobData, JobResult>(
    queueName(shard),
    async (job, token) => {
      try {
        const [marks] = await readJobMarks((await worker.client) as unknown as Redis, [String(job.id)]);
        applyJobMarks(job.data, marks!);
      } catch {
        return giveBack(job, token ?? '', 1_000);
      }
      return processor(job, token ?? '');
    },
    { ...opts, prefix: QUEUE_PREFIX },
  );
  return worker;
}

/** A job of the worker's queue by id (as BullMQ stores it; no marks), or undefined. */
export function jobById(worker: ShardWorker, id: string): Promise<QueuedJob | undefined> {
  return Job.fromId<JobData, JobResult>(worker, id);
}
