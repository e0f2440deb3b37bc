/**
 * The producer side of the sharded write queue: one BullMQ Queue per shard (shared/jobs.ts),
 * adding a job together with its per-file sequence number, and finding jobs by id with
 * ph5's marks (job-marks.ts) filled in.
 *
 * Why one use of BullMQ below its public API: the number and the job must be written in ONE
 * MULTI/EXEC (the worker applies a file's jobs in number order and waits for a missing
 * number, so a number must never exist without its job, nor a job without its number), and
 * Queue.add sends its own command. So the job's add script is queued on our transaction
 * with Job#addJob(multi), as BullMQ's own FlowProducer does. What that relies on (addJob
 * queues exactly one command on the client it is given; a duplicate id adds nothing; the
 * job's hash key) is pinned, with the exact BullMQ version, by
 * test/integration/bullmq-contract.test.ts: an upgrade that changes it fails there first.
 */
import { Job, Queue, type JobsOptions } from 'bullmq';
import type { ChainableCommander, Redis } from 'ioredis';
import { fileStateKey } from '../file-state.js';
import { QUEUE_PREFIX, SHARDS, jobName, queueName, shardOfFile, shardOfJobId, type JobData, type JobResult } from '../jobs.js';
import { applyJobMarks, jobMarksKey, readJobMarks } from './job-marks.js';

/** A write job as BullMQ holds it, with ph5's marks shown as `data.seq` / `data.cancelled`. */
export type QueuedJob = Job<JobData, JobResult>;
export type ShardQueue = Queue<JobData, JobResult>;

const WEEK_S = 7 * 24 * 3600;

/** Accepted writes are kept: retried 3 times, and their records kept for a week (failed: a month). */
export const JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: WEEK_S },
  removeOnFail: { age: 4 * WEEK_S },
};

/**
 * KEYS[1] = file state, KEYS[2] = the job's marks, KEYS[3] = BullMQ's hash of the job added
 * just before in the same transaction; ARGV[1] = job id. Idempotent: a job added again with
 * the same id (BullMQ then adds nothing) keeps its number.
 */
const STAMP_SEQ = `
if redis.call('EXISTS', KEYS[3]) == 0 then return redis.error_reply('PH5 job hash missing: cannot stamp a sequence number') end
local existing = redis.call('HGET', KEYS[2], 'seq')
if existing then return tonumber(existing) end
local s = redis.call('HINCRBY', KEYS[1], 'accepted', 1)
redis.call('HSET', KEYS[2], 'seq', s)
redis.call('HSET', KEYS[1], 'job:' .. s, ARGV[1])
return s
`;

export class WriteQueues {
  /** One Queue per shard, index = shard. */
  readonly queues: ShardQueue[];
  readonly #redis: Redis;

  /** @param producer a client the Queues share (they do not close it) */
  constructor(producer: Redis) {
    this.#redis = producer;
    this.queues = Array.from({ length: SHARDS }, (_, shard) => {
      const queue: ShardQueue = new Queue<JobData, JobResult>(queueName(shard), { connection: producer, prefix: QUEUE_PREFIX });
      // Connection errors reach callers as rejections; as events they would only be noise.
      queue.on('error', () => {});
      return queue;
    });
  }

  /** The queue that holds (or would hold) the job with this id; null when no job can have it. */
  queueOf(id: string): ShardQueue | null {
    const shard = shardOfJobId(id);
    return shard === null ? null : this.queues[shard]!;
  }

  /** The job with this id, marks filled in (null when absent). */
  async getJob(id: string): Promise<QueuedJob | null> {
    const queue = this.queueOf(id);
    if (!queue) return null;
    // Both on the producer connection: pipelined, one round trip.
    const [job, [marks]] = await Promise.all([queue.getJob(id) as Promise<QueuedJob | undefined>, readJobMarks(this.#redis, [id])]);
    if (!job) return null;
    applyJobMarks(job.data, marks!);
    return job;
  }

  /** A job's BullMQ state ('unknown' when there is no such job). */
  async getState(id: string): Promise<string> {
    return (await this.queueOf(id)?.getJobState(id)) ?? 'unknown';
  }

  /** Job counts by state, summed over the shards. */
  async counts(): Promise<Record<string, number>> {
    const all = await Promise.all(this.queues.map((q) => q.getJobCounts()));
    const sum: Record<string, number> = {};
    for (const counts of all) for (const [state, n] of Object.entries(counts)) sum[state] = (sum[state] ?? 0) + n;
    return sum;
  }

  /**
   * Adds the job and gives it its file's next sequence number in ONE transaction. `extra`
   * queues the caller's own records of the job on the same transaction (one round trip and
   * one AOF fsync for everything an accept writes); its errors are returned, not thrown,
   * since the job is in by then.
   */
  async addSequenced(data: JobData, id: string, extra?: (tx: ChainableCommander) => void): Promise<{ job: QueuedJob; extraError: Error | null }> {
    const shard = shardOfFile(data.project, data.file);
    // The id must name the file's shard, or lookups by id would ask the wrong queue.
    if (shardOfJobId(id) !== shard) throw new Error(`job id ${id} is not of shard ${shard} (file ${data.project}/${data.file})`);
    const queue = this.queues[shard]!;
    // ph5's marks never go into BullMQ's data.
    const clean: JobData = { ...data };
    delete clean.seq;
    delete clean.cancelled;
    const job: QueuedJob = new Job<JobData, JobResult>(queue, jobName(data), clean, { ...JOB_OPTIONS, jobId: id }, id);
    const multi = ((await queue.client) as unknown as Redis).multi();
    await job.addJob(multi as never, { parentDependenciesKey: '' });
    multi.eval(STAMP_SEQ, 3, fileStateKey(data.project, data.file), jobMarksKey(id), queue.toKey(id), id);
    extra?.(multi);
    const replies = await multi.exec();
    if (!replies) throw new Error('the enqueue transaction was aborted');
    for (const [err] of replies.slice(0, 2)) if (err) throw err;
    job.data.seq = Number(replies[1]![1]);
    const extraError = replies.slice(2).find(([err]) => err)?.[0] ?? null;
    return { job, extraError };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.queues.map((q) => q.close()));
  }
}
