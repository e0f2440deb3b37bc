/**
 * The job queue as the API sees it: enqueue (producer), look up, present, and wait for a
 * job to finish.
 *
 * The queue is sharded (see shared/jobs.ts): a job goes to its file's shard queue, and its
 * id says which, so every lookup by id asks one queue.
 *
 * Connections: the shard Queues share the API's producer client (no offline queue, so a
 * request made while Redis is down fails at once with 503 instead of hanging). Waiting uses
 * ONE event reader per process for all shards (ShardEvents, one blocking connection), and
 * an in-memory map of waiters. A waiter registers first and re-reads the job's state afterwards, so a job that
 * finished in between is never missed; a slow poll backs the event stream up, so a lost
 * event can delay an answer by at most POLL_MS, never hang it.
 */
import { Job, Queue, type JobsOptions } from 'bullmq';
import type { ChainableCommander, Redis, RedisOptions } from 'ioredis';
import { fileStateKey, STAMP_SEQ } from '../../../shared/file-state.js';
import { QUEUE_PREFIX, SHARDS, jobName, newJobId, parseFailure, queueName, shardOfFile, shardOfJobId, type JobData, type JobResult } from '../../../shared/jobs.js';
import { ShardEvents } from './shard-events.js';
import type { JobView } from '../../schemas/common.js';

export type Ph5Job = Job<JobData, JobResult>;

const TERMINAL = new Set(['completed', 'failed']);
const POLL_MS = 2_000;
const WEEK_S = 7 * 24 * 3600;

/** Accepted writes are kept: retried 3 times, and their records kept for a week (failed: a month). */
export const JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: WEEK_S },
  removeOnFail: { age: 4 * WEEK_S },
};

/** BullMQ's states, as clients see them. */
export function publicState(state: string): JobView['state'] {
  if (state === 'active') return 'running';
  if (state === 'completed' || state === 'failed') return state;
  // waiting, delayed (backoff between attempts), prioritized, waiting-children, unknown
  return 'queued';
}

export class Jobs {
  /** One Queue per shard, index = shard. */
  readonly queues: Queue<JobData, JobResult>[];
  readonly #eventsConnection: RedisOptions;
  #events: ShardEvents | undefined;
  readonly #waiters = new Map<string, Set<() => void>>();
  /** Every pending wait, to answer them all at shutdown. */
  readonly #wakeAll = new Set<() => void>();

  /**
   * @param producer the API's shared producer client (the Queue does not close it)
   * @param eventsConnection options for the event reader's blocking connection (consumer role)
   */
  constructor(producer: Redis, eventsConnection: RedisOptions) {
    this.queues = Array.from({ length: SHARDS }, (_, shard) => {
      const queue = new Queue<JobData, JobResult>(queueName(shard), { connection: producer, prefix: QUEUE_PREFIX });
      // Connection errors reach requests as 503s; as events they would only be noise.
      queue.on('error', () => {});
      return queue;
    });
    this.#eventsConnection = eventsConnection;
  }

  /** A new job id for a job on this file (its first digit names the file's shard). */
  newId(project: string, file: string): string {
    return newJobId(project, file);
  }

  /** The queue that holds (or would hold) the job with this id; null when no job can have it. */
  queueOf(id: string): Queue<JobData, JobResult> | null {
    const shard = shardOfJobId(id);
    return shard === null ? null : this.queues[shard]!;
  }

  /** The job with this id, whatever its project (null when absent). */
  async job(id: string): Promise<Ph5Job | null> {
    return ((await this.queueOf(id)?.getJob(id)) as Ph5Job | undefined) ?? null;
  }

  /** A job's BullMQ state ('unknown' when there is no such job). */
  async jobState(id: string): Promise<string> {
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
   * Adds the job and stamps it with its file's next sequence number in ONE transaction
   * (MULTI/EXEC): the worker applies a file's jobs in that order and waits for a missing
   * number, so a number must never exist without its job, nor a job without its number.
   */
  async enqueue(data: JobData, id: string = this.newId(data.project, data.file), bookkeeping?: (tx: ChainableCommander) => void): Promise<{ job: Ph5Job; bookkeepingError: Error | null }> {
    const shard = shardOfFile(data.project, data.file);
    // The id must name the file's shard, or lookups by id would ask the wrong queue.
    if (shardOfJobId(id) !== shard) throw new Error(`job id ${id} is not of shard ${shard} (file ${data.project}/${data.file})`);
    const queue = this.queues[shard]!;
    const client = await queue.client;
    const job = new Job<JobData, JobResult>(queue, jobName(data), data, { ...JOB_OPTIONS, jobId: id }, id);
    const multi = (client as unknown as Redis).multi();
    // Queues BullMQ's add script on the transaction (as its FlowProducer does).
    await job.addJob(multi as never, { parentDependenciesKey: '' } as never);
    multi.eval(STAMP_SEQ, 2, fileStateKey(data.project, data.file), queue.toKey(id), id);
    // The caller's records of the job ride in the same transaction: one round trip and one
    // AOF fsync for everything an accept writes.
    bookkeeping?.(multi);
    const replies = await multi.exec();
    if (!replies) throw new Error('the enqueue transaction was aborted');
    for (const [err] of replies.slice(0, 2)) if (err) throw err;
    job.data.seq = Number(replies[1]![1]);
    const bookkeepingError = replies.slice(2).find(([err]) => err)?.[0] ?? null;
    return { job, bookkeepingError };
  }

  /** The job if it exists and belongs to `project`; another project's job is "not found". */
  async get(id: string, project: string): Promise<Ph5Job | null> {
    const job = await this.job(id);
    if (!job || job.data?.project !== project) return null;
    return job;
  }

  async view(job: Ph5Job): Promise<JobView> {
    return present(job, await job.getState());
  }

  /**
   * The view of a job just added (no Redis round trip: nothing may fail after enqueueing).
   * `ownOp`: the request's own operation in a job it shares with other writes.
   */
  viewAccepted(job: Ph5Job, ownOp?: number): JobView {
    return present(job, 'waiting', ownOp);
  }

  /** Starts listening for job events (idempotent). Called when the app is ready. */
  listen(): ShardEvents {
    if (!this.#events) {
      const events = new ShardEvents(this.#eventsConnection);
      const wake = ({ jobId }: { jobId: string }) => this.#waiters.get(jobId)?.forEach((w) => w());
      events.on('completed', wake);
      events.on('failed', wake);
      this.#events = events;
    }
    return this.#events;
  }

  /** Resolves when the job is completed or failed, or after `seconds`, whichever is first. */
  async waitFinished(job: Ph5Job, seconds: number): Promise<void> {
    if (seconds <= 0) return;
    this.listen();
    const id = String(job.id);
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    // An event (or the poll) only says "look again": a failed attempt that will be
    // retried also emits 'failed', so the state decides.
    const check = () => {
      job.getState().then((s) => TERMINAL.has(s) && done(), () => {});
    };
    const set = this.#waiters.get(id) ?? new Set<() => void>();
    set.add(check);
    this.#waiters.set(id, set);
    const deadline = setTimeout(done, seconds * 1000);
    const poll = setInterval(check, POLL_MS);
    this.#wakeAll.add(done);
    try {
      // Registered first, checked second: a job that finished meanwhile is seen here.
      if (TERMINAL.has(await job.getState())) return;
      await finished;
    } finally {
      clearTimeout(deadline);
      clearInterval(poll);
      this.#wakeAll.delete(done);
      set.delete(check);
      if (set.size === 0) this.#waiters.delete(id);
    }
  }

  /** Number of requests currently long-polling (for tests and metrics). */
  get waiting(): number {
    let n = 0;
    for (const s of this.#waiters.values()) n += s.size;
    return n;
  }

  /** Answers every long-poll now (with the job's current state): used when shutting down. */
  wakeAll(): void {
    this.#wakeAll.forEach((w) => w());
  }

  async close(): Promise<void> {
    this.wakeAll();
    await Promise.allSettled([this.#events?.close(), ...this.queues.map((q) => q.close())]);
  }
}

/** A job as clients see it; `ownOp`: only that op (with its index), for a write sharing its job. */
function present(job: Ph5Job, bullState: string, ownOp?: number): JobView {
  const state = publicState(bullState);
  const result = state === 'completed' ? ((job.returnvalue as JobResult | undefined) ?? null) : null;
  const view = (o: JobData['ops'][number]) => (o.op === 'write' ? { op: o.op, path: o.path, select: o.select } : { op: o.op, path: o.path });
  return {
    id: String(job.id),
    state,
    file: job.data.file,
    ops: ownOp === undefined ? job.data.ops.map(view) : [{ ...view(job.data.ops[ownOp]!), index: ownOp }],
    opCount: job.data.ops.length,
    ranks: result?.ranks ?? null,
    result,
    error: state === 'failed' ? parseFailure(job.failedReason) : null,
    progress: state === 'completed' ? 100 : typeof job.progress === 'number' ? job.progress : 0,
    attempts: job.attemptsMade,
    timings: { acceptedAt: job.data.acceptedAt, startedAt: job.processedOn ?? null, finishedAt: job.finishedOn ?? null },
  };
}
