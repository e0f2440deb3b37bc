/**
 * The job queue as the API sees it: enqueue (producer), look up, present, and wait for a
 * job to finish.
 *
 * The queue is sharded (see shared/jobs.ts): a job goes to its file's shard queue, and its
 * id says which, so every lookup by id asks one queue.
 *
 * BullMQ is reached only through shared/queue (the adapter), which keeps a job's sequence
 * number and cancellation in ph5's own keys and shows them as `data.seq` / `data.cancelled`.
 *
 * Connections: the shard Queues share the API's producer client (no offline queue, so a
 * request made while Redis is down fails at once with 503 instead of hanging). Waiting uses
 * ONE event reader per process for all shards (ShardEvents, one blocking connection), and
 * an in-memory map of waiters. A waiter registers first and re-reads the job's state afterwards, so a job that
 * finished in between is never missed; a slow poll backs the event stream up, so a lost
 * event can delay an answer by at most POLL_MS, never hang it.
 */
import { Redis as RedisClient, type ChainableCommander, type Redis, type RedisOptions } from 'ioredis';
import { fileStateKey, parseApplying } from '../../shared/file-state.js';
import { keys, newJobId, parseFailure, type ApplyingEvent, type JobData, type JobResult } from '../../shared/jobs.js';
import { ShardEvents, WriteQueues, type QueuedJob, type ShardQueue } from '../../shared/queue/index.js';
import { decideState, markCovers, needsFileState } from './job-state.js';
import type { JobView } from '../schemas/common.js';

export type Ph5Job = QueuedJob;
export { JOB_OPTIONS } from '../../shared/queue/index.js';

const TERMINAL = new Set(['completed', 'failed']);
const POLL_MS = 2_000;

/** What an epoch-start listener gets: the event, as published by the pool's rank 0. */
export type ApplyingListener = (event: ApplyingEvent) => void;

const fileKey = (project: string, file: string) => `${project}/${file}`;

/** A parsed ApplyingEvent, or null when the message is not one. */
export function parseApplyingEvent(message: string): ApplyingEvent | null {
  try {
    const e = JSON.parse(message) as Partial<ApplyingEvent>;
    if (typeof e.project !== 'string' || typeof e.file !== 'string' || typeof e.pool !== 'string') return null;
    if (!Number.isSafeInteger(e.first) || !Number.isSafeInteger(e.last)) return null;
    return e as ApplyingEvent;
  } catch {
    return null;
  }
}

export class Jobs {
  readonly #queues: WriteQueues;
  readonly #eventsConnection: RedisOptions;
  readonly #redis: Redis;
  #events: ShardEvents | undefined;
  /** ONE subscriber connection per process for the `applying` channel (not one per stream). */
  #applyingSub: RedisClient | undefined;
  /** Listeners by `project/file`: a stream hears only its own file's epochs. */
  readonly #applyingListeners = new Map<string, Set<ApplyingListener>>();
  /** Files an epoch was seen starting on, and not yet seen finished (for /metrics). */
  readonly #applyingFiles = new Map<string, { project: string; file: string }>();
  readonly #waiters = new Map<string, Set<() => void>>();
  /** Every pending wait, to answer them all at shutdown. */
  readonly #wakeAll = new Set<() => void>();

  /**
   * @param producer the API's shared producer client (the Queue does not close it)
   * @param eventsConnection options for the event reader's blocking connection (consumer role)
   */
  constructor(producer: Redis, eventsConnection: RedisOptions) {
    // Connection errors reach requests as 503s.
    this.#queues = new WriteQueues(producer);
    this.#eventsConnection = eventsConnection;
    this.#redis = producer;
  }

  /** A new job id for a job on this file (its first digit names the file's shard). */
  newId(project: string, file: string): string {
    return newJobId(project, file);
  }

  /** One Queue per shard, index = shard (tests reach BullMQ through these). */
  get queues(): ShardQueue[] {
    return this.#queues.queues;
  }

  /** The queue that holds (or would hold) the job with this id; null when no job can have it. */
  queueOf(id: string): ShardQueue | null {
    return this.#queues.queueOf(id);
  }

  /** The job with this id, whatever its project (null when absent). */
  async job(id: string): Promise<Ph5Job | null> {
    return this.#queues.getJob(id);
  }

  /** A job's BullMQ state ('unknown' when there is no such job). */
  async jobState(id: string): Promise<string> {
    return this.#queues.getState(id);
  }

  /** Job counts by state, summed over the shards. */
  async counts(): Promise<Record<string, number>> {
    return this.#queues.counts();
  }

  /**
   * Adds the job and gives it its file's next sequence number in ONE transaction
   * (MULTI/EXEC): the worker applies a file's jobs in that order and waits for a missing
   * number, so a number must never exist without its job, nor a job without its number.
   * The caller's records of the job (`bookkeeping`) ride in the same transaction: one round
   * trip and one AOF fsync for everything an accept writes.
   */
  async enqueue(
    data: JobData,
    id: string = this.newId(data.project, data.file),
    bookkeeping?: (tx: ChainableCommander) => void,
  ): Promise<{ job: Ph5Job; bookkeepingError: Error | null }> {
    const { job, extraError } = await this.#queues.addSequenced(data, id, bookkeeping);
    return { job, bookkeepingError: extraError };
  }

  /** The job if it exists and belongs to `project`; another project's job is "not found". */
  async get(id: string, project: string): Promise<Ph5Job | null> {
    const job = await this.job(id);
    if (!job || job.data?.project !== project) return null;
    return job;
  }

  async view(job: Ph5Job): Promise<JobView> {
    return (await this.views([job]))[0]!;
  }

  /**
   * Views of several jobs. BullMQ's state per job; then, for the active ones only, ONE HMGET
   * of each file's state (applying mark, cursor) and one EXISTS per pool named in a mark
   * that covers a job: what job-state.ts needs to tell `running` from merely held.
   */
  async views(list: Ph5Job[]): Promise<JobView[]> {
    const bullStates = await Promise.all(list.map((j) => j.getState()));
    const files = new Map<string, Promise<{ applying: ReturnType<typeof parseApplying>; applied: number }>>();
    const pools = new Map<string, Promise<boolean>>();
    const fileState = (data: JobData) => {
      const k = fileKey(data.project, data.file);
      let p = files.get(k);
      if (!p) {
        p = this.#redis
          .hmget(fileStateKey(data.project, data.file), 'applying', 'applied')
          .then(([applying, applied]) => ({ applying: parseApplying(applying), applied: Number(applied ?? 0) }));
        files.set(k, p);
      }
      return p;
    };
    const poolLive = (id: string) => {
      let p = pools.get(id);
      if (!p) {
        p = this.#redis.exists(keys.pool(id)).then((n) => n > 0);
        pools.set(id, p);
      }
      return p;
    };
    return Promise.all(
      list.map(async (job, i) => {
        const bullState = bullStates[i]!;
        if (!needsFileState(bullState) || typeof job.data.seq !== 'number')
          return present(job, decideState({ bullState, seq: job.data.seq, applying: null, poolLive: false, applied: 0 }));
        const { applying, applied } = await fileState(job.data);
        const seq = job.data.seq;
        // Only a mark that names the job makes its pool's liveness matter.
        const live = applying !== null && markCovers(applying, seq) ? await poolLive(applying.pool) : false;
        return present(job, decideState({ bullState, seq, applying, poolLive: live, applied }));
      }),
    );
  }

  /**
   * Calls `listener` whenever an epoch starts applying jobs of this file (the `applying`
   * channel). Returns the function that stops it. Starts the shared subscriber if needed.
   */
  onApplying(project: string, file: string, listener: ApplyingListener): () => void {
    this.#subscribeApplying();
    const k = fileKey(project, file);
    const set = this.#applyingListeners.get(k) ?? new Set<ApplyingListener>();
    set.add(listener);
    this.#applyingListeners.set(k, set);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#applyingListeners.get(k) === set) this.#applyingListeners.delete(k);
    };
  }

  /** Files an epoch was seen starting on since they were last found finished (metrics). */
  applyingFiles(): Array<{ project: string; file: string }> {
    return [...this.#applyingFiles.values()];
  }

  /** The file's epoch is over (its mark is gone): stop tracking it until the next one. */
  forgetApplying(project: string, file: string): void {
    this.#applyingFiles.delete(fileKey(project, file));
  }

  #subscribeApplying(): void {
    if (this.#applyingSub) return;
    // A subscriber connection can do nothing else; ioredis subscribes again after a reconnect.
    const sub = new RedisClient({ ...this.#eventsConnection, maxRetriesPerRequest: null });
    sub.on('error', () => {});
    sub.on('message', (_channel: string, message: string) => {
      const event = parseApplyingEvent(message);
      if (!event) return;
      const k = fileKey(event.project, event.file);
      // Bounded by the files with an epoch in progress: /metrics prunes finished ones.
      if (this.#applyingFiles.size < 100_000) this.#applyingFiles.set(k, { project: event.project, file: event.file });
      this.#applyingListeners.get(k)?.forEach((l) => l(event));
    });
    sub.subscribe(keys.applyingChannel).catch(() => {});
    this.#applyingSub = sub;
  }

  /**
   * The view of a job just added (no Redis round trip: nothing may fail after enqueueing).
   * `ownOp`: the request's own operation in a job it shares with other writes.
   */
  viewAccepted(job: Ph5Job, ownOp?: number): JobView {
    return present(job, 'queued', ownOp);
  }

  /** Starts listening for job events (idempotent). Called when the app is ready. */
  listen(): ShardEvents {
    this.#subscribeApplying();
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
      job.getState().then(
        (s) => TERMINAL.has(s) && done(),
        () => {},
      );
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
    this.#applyingSub?.disconnect();
    await Promise.allSettled([this.#events?.close(), this.#queues.close()]);
  }
}

/** A job as clients see it; `ownOp`: only that op (with its index), for a write sharing its job. */
function present(job: Ph5Job, state: JobView['state'], ownOp?: number): JobView {
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
