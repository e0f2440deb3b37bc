/**
 * The sharded write queue, for tests and benchmarks that talk to BullMQ directly: a
 * Worker on every shard, and a producer that puts a job in its file's shard with an id of
 * that shard (as the API does), so every lookup by id finds it.
 */
import { Queue, Worker, type Processor, type WorkerOptions } from 'bullmq';
import { allQueueNames, newJobId, QUEUE_PREFIX, SHARDS, shardOfFile, shardOfJobId, queueName, type JobData } from '../../services/shared/jobs.js';
import type { Redis, RedisOptions } from 'ioredis';
import { applyJobMarks, readJobMarks } from '../../services/shared/queue/index.js';
import { redisOptions } from '../../services/shared/redis.js';

/**
 * Connection options for a test's or a benchmark's own producer: the API's (fail fast),
 * except that a command sent while the connection is (re)connecting waits for it instead
 * of failing: a helper that adds a job right after creating its Queue must not race the
 * connection's start.
 */
export function helperProducer(redisUrl: string): RedisOptions {
  return { ...redisOptions(redisUrl, 'producer'), enableOfflineQueue: true };
}

/** One Worker per shard queue, all running `processor`. */
export class ShardWorkers<R = unknown> {
  readonly workers: Worker<JobData, R>[];
  constructor(redisUrl: string, processor: Processor<JobData, R>, opts: Partial<WorkerOptions> = {}) {
    this.workers = allQueueNames().map(
      (name) => new Worker<JobData, R>(name, processor, { connection: redisOptions(redisUrl, 'consumer'), prefix: QUEUE_PREFIX, ...opts }),
    );
  }
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

/** A producer on every shard queue (jobs go to their file's shard). */
export class ShardQueues {
  readonly queues: Queue[];
  constructor(redisUrl: string) {
    this.queues = Array.from({ length: SHARDS }, (_, s) => new Queue(queueName(s), { connection: helperProducer(redisUrl), prefix: QUEUE_PREFIX }));
  }
  /** Adds a job to its file's shard, with an id of that shard unless one is given. */
  add(name: string, data: JobData, opts: { jobId?: string } & Record<string, unknown> = {}) {
    return this.forFile(data.project, data.file).add(name, data, { ...opts, jobId: opts.jobId ?? newJobId(data.project, data.file) });
  }
  forFile(project: string, file: string): Queue {
    return this.queues[shardOfFile(project, file)]!;
  }
  async counts(...states: string[]): Promise<Record<string, number>> {
    const sum: Record<string, number> = {};
    for (const q of this.queues) for (const [k, n] of Object.entries(await q.getJobCounts(...(states as never[])))) sum[k] = (sum[k] ?? 0) + n;
    return sum;
  }
  async pause(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.pause()));
  }
  async resume(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.resume()));
  }
  /** A job by id, from its shard's queue, with ph5's marks (seq, cancelled) filled in as the services see them. */
  async getJob(id: string) {
    const shard = shardOfJobId(id);
    if (shard === null) return undefined;
    const queue = this.queues[shard]!;
    const job = await queue.getJob(id);
    if (job) applyJobMarks(job.data as JobData, (await readJobMarks((await queue.client) as unknown as Redis, [id]))[0]!);
    return job;
  }
  async close(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.close()));
  }
}
