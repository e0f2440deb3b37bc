/**
 * The job queue as the API sees it: enqueue, look up, present, and wait for completion.
 *
 * Waiting uses one QueueEvents stream per process (Redis stream, not polling); each waiting
 * request registers a callback, then re-reads the job, so a completion that happened
 * between the first read and the registration is never missed.
 */
import { randomUUID } from 'node:crypto';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { QUEUE_NAME, QUEUE_PREFIX, jobName, parseFailure, type JobData, type JobResult } from '../../../shared/jobs.js';
import { redisOptions } from '../../../shared/redis.js';
import type { JobView } from '../../schemas/common.js';

const TERMINAL = new Set(['completed', 'failed']);

function publicState(state: string): JobView['state'] {
  if (state === 'active') return 'running';
  if (state === 'completed' || state === 'failed') return state;
  return 'queued';
}

export class Jobs {
  readonly queue: Queue<JobData, JobResult>;
  readonly #redisUrl: string;
  #events: QueueEvents | undefined;
  readonly #waiters = new Map<string, Set<() => void>>();

  constructor(redisUrl: string) {
    this.#redisUrl = redisUrl;
    this.queue = new Queue<JobData, JobResult>(QUEUE_NAME, { connection: redisOptions(redisUrl, 'producer'), prefix: QUEUE_PREFIX });
    // Connection errors surface on requests as 503; here they would only be noise.
    this.queue.on('error', () => {});
  }

  newId(): string {
    return randomUUID();
  }

  async enqueue(data: JobData, id = this.newId()): Promise<Job<JobData, JobResult>> {
    return this.queue.add(jobName(data), data, {
      jobId: id,
      attempts: 3,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 7 * 24 * 3600, count: 100_000 },
      removeOnFail: { age: 30 * 24 * 3600 },
    });
  }

  /** The job if it exists and belongs to `project`; another project's job is "not found". */
  async get(id: string, project: string): Promise<Job<JobData, JobResult> | null> {
    const job = await this.queue.getJob(id);
    if (!job || job.data?.project !== project) return null;
    return job;
  }

  async view(job: Job<JobData, JobResult>): Promise<JobView> {
    const state = publicState(await job.getState());
    const result = state === 'completed' ? (job.returnvalue ?? null) : null;
    return {
      id: String(job.id),
      state,
      file: job.data.file,
      ops: job.data.ops.map((o) => ({ op: o.op, path: o.path, ...(o.op === 'write' ? { select: o.select } : {}) })),
      ranks: result?.ranks ?? null,
      progress: typeof job.progress === 'number' ? job.progress : 0,
      attempts: job.attemptsMade,
      result,
      error: state === 'failed' ? parseFailure(job.failedReason) : null,
      timings: { acceptedAt: job.data.acceptedAt, startedAt: job.processedOn ?? null, finishedAt: job.finishedOn ?? null },
    };
  }

  /** Resolves when the job is completed or failed, or after `seconds`. */
  async waitFinished(job: Job<JobData, JobResult>, seconds: number): Promise<void> {
    if (seconds <= 0 || TERMINAL.has(await job.getState())) return;
    const id = String(job.id);
    const events = this.#ensureEvents();
    await events.waitUntilReady();
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const set = this.#waiters.get(id) ?? new Set();
    set.add(wake);
    this.#waiters.set(id, set);
    const timer = setTimeout(wake, seconds * 1000);
    try {
      if (TERMINAL.has(await job.getState())) return;
      await woken;
    } finally {
      clearTimeout(timer);
      set.delete(wake);
      if (set.size === 0) this.#waiters.delete(id);
    }
  }

  #ensureEvents(): QueueEvents {
    if (!this.#events) {
      this.#events = new QueueEvents(QUEUE_NAME, { connection: redisOptions(this.#redisUrl, 'consumer'), prefix: QUEUE_PREFIX });
      this.#events.on('error', () => {});
      const notify = ({ jobId }: { jobId: string }) => this.#waiters.get(jobId)?.forEach((w) => w());
      this.#events.on('completed', notify);
      this.#events.on('failed', notify);
    }
    return this.#events;
  }

  async close(): Promise<void> {
    await this.#events?.close();
    await this.queue.close();
  }
}
