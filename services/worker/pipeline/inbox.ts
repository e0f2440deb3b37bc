/**
 * Take: the jobs in this pool's hands, grouped by file, and the one door to BullMQ of the
 * worker's pipeline. One BullMQ Worker per shard this pool owns hands its jobs to `take`
 * (high concurrency): each waits here until an epoch settles it (`settle`), or goes back
 * to the queue (`giveBack*`): because its shard was given up, the pool drains, or its
 * predecessor is held elsewhere. A missing predecessor is brought to the head of the queue
 * (`promotePredecessor`). Every queue call of the pipeline is in this file, through the
 * BullMQ adapter (services/shared/queue/).
 */
import type { Redis } from 'ioredis';
import { jobsWithSeqs } from '../../shared/file-state.js';
import { queueName, shardOfJobId, formatFailure, type JobData, type JobResult } from '../../shared/jobs.js';
import { consumeShard, DelayedError, isDelayedError, jobById, UnrecoverableError, type QueuedJob, type ShardWorker } from '../../shared/queue/index.js';
import { validateFileName, validateProjectName } from '../../shared/names.js';
import { RankError } from '../apply.js';
import { promotionRun } from '../promotion.js';
import type { WorkerSettings } from '../settings.js';
import type { Logger } from '../log.js';
import type { Outcome } from './outcome.js';

type Ph5Job = QueuedJob;

/** A job in this pool's hands, waiting for an epoch. */
export interface Held {
  job: Ph5Job;
  token: string;
  /** The shard queue it came from. */
  shard: number;
  seq: number | null;
  acceptedAt: number;
  since: number;
  /** Since when it has waited for a predecessor this pool does not hold. */
  blockedSince: number | null;
  /** Write it in steps of its own (a coalesced step holding it failed). */
  alone: boolean;
  resolve(result: JobResult): void;
  reject(err: Error): void;
}

export interface FileInbox {
  key: string;
  project: string;
  file: string;
  held: Map<string, Held>;
  /** Do not try this file again before (lease busy, nothing ready). */
  retryAt: number;
  /** Last time the missing predecessor was moved to the head of the queue. */
  promotedAt: number;
  /** Its next epoch not before (epoch pacing; see scheduler.ts), unless its stream went quiet. */
  pacedUntil: number;
  /** When its last job arrived. */
  lastArrival: number;
  /** The last write step whose missing chunks were allocated (chunk-allocation.ts). */
  prepared: string | null;
}

export interface InboxOptions {
  redis: Redis;
  /** Shared by the shard Workers for their commands (each still has its own blocking connection). */
  workerRedis: Redis;
  settings: WorkerSettings;
  log: Logger;
  isStopping(): boolean;
  /** A job arrived, or a shard was given up: the scheduler looks again. */
  wake(): void;
  /** A job completed in Redis: its staged payload may go (staging-janitor.ts). */
  completed(data: JobData): void;
  /** Scheduler trace (PH5_DEBUG_SCHEDULER). */
  debug(msg: string): void;
}

/**
 * Lets a held job go from its file's inbox, unless the map now holds a newer delivery of the
 * same job (BullMQ delivered it again while this one ran in an epoch, see Inbox#take): deleting
 * by id alone would drop that delivery, whose promise would then never settle and whose job
 * would stay active. The newer delivery stays held; the next epoch finishes it by the cursor.
 */
export function releaseHeld(f: FileInbox, h: Held): void {
  if (f.held.get(String(h.job.id)) === h) f.held.delete(String(h.job.id));
}

export class Inbox {
  readonly files = new Map<string, FileInbox>();
  readonly #opts: InboxOptions;
  /** One BullMQ Worker per shard this pool owns. */
  readonly #workers = new Map<number, ShardWorker>();
  /** Workers of shards given up, until their close() settles (closeAll waits for them). */
  readonly #closing = new Set<Promise<void>>();

  constructor(opts: InboxOptions) {
    this.#opts = opts;
  }

  get #log(): Logger {
    return this.#opts.log;
  }

  /** The shards this pool consumes now, in order. */
  shards(): number[] {
    return [...this.#workers.keys()].sort((a, b) => a - b);
  }

  owns(shard: number): boolean {
    return this.#workers.has(shard);
  }

  /** Starts consuming a shard's queue. */
  startShard(shard: number): void {
    const s = this.#opts.settings;
    const worker = consumeShard(shard, (job, token) => this.#take(job, token, shard), {
      connection: this.#opts.workerRedis,
      // Many jobs in hand at once, so that an epoch can gather all the queued jobs of a
      // file; the ranks still run one epoch at a time (the scheduler loop).
      concurrency: s.takeConcurrency,
      lockDuration: s.lockMs,
      stalledInterval: s.stalledIntervalMs,
      maxStalledCount: s.maxStalledCount,
    });
    worker.on('error', (err) => this.#log.error(`queue ${queueName(shard)} error: ${err.message}`));
    worker.on('failed', (job, err) => {
      if (isDelayedError(err)) return;
      this.#log.warn(`job ${job?.id} failed: ${err.message}`);
    });
    // A payload is deleted only once its job is completed in Redis; a failed job's payload
    // stays for the retention period (the janitor), so a failure can be investigated.
    worker.on('completed', (job) => void this.#opts.completed(job.data));
    this.#workers.set(shard, worker);
  }

  /**
   * Stops consuming a shard. Its Worker stops fetching at once; close() settles when its
   * held jobs are settled: the scheduler gives them back (giveBackUnowned) as soon as no
   * epoch is running on them, so the close never waits on a promise nobody settles.
   */
  releaseShard(shard: number): void {
    const worker = this.#workers.get(shard);
    if (!worker) return;
    this.#workers.delete(shard);
    const closed: Promise<void> = worker
      .close()
      .catch((err: Error) => this.#log.warn(`closing ${queueName(shard)}: ${err.message}`))
      .finally(() => this.#closing.delete(closed));
    this.#closing.add(closed);
    this.#opts.wake();
  }

  /** Drain: every shard Worker stops fetching; answers the closes to wait for (after the held jobs are given back). */
  closeAll(): Promise<unknown> {
    const closing = [...this.#workers.values()].map((w) => w.close());
    this.#workers.clear();
    return Promise.all([...closing, ...this.#closing]);
  }

  /** BullMQ's processor: the job waits in the inbox; an epoch settles the promise. */
  #take(job: Ph5Job, token: string, shard: number): Promise<JobResult> {
    const data = job.data;
    let project: string;
    let file: string;
    try {
      if (data?.v !== 1 || !Array.isArray(data.ops) || data.ops.length === 0) {
        throw new RankError('PH5_ERR_JOB_DATA', `job ${job.id} has data this worker does not understand`);
      }
      // Job data is trusted only as far as it is checked: names are validated again here.
      project = validateProjectName(data.project);
      file = validateFileName(data.file);
    } catch (err) {
      const e = err as { code?: string; message: string };
      return Promise.reject(new UnrecoverableError(formatFailure(e.code ?? 'PH5_ERR_JOB_DATA', e.message)));
    }
    if (this.#opts.isStopping() || !this.#workers.has(shard)) return this.#giveBack(job, token);
    return new Promise<JobResult>((resolve, reject) => {
      const key = `${project}/${file}`;
      let inbox = this.files.get(key);
      if (!inbox) {
        inbox = { key, project, file, held: new Map(), retryAt: 0, promotedAt: 0, pacedUntil: 0, lastArrival: 0, prepared: null };
        this.files.set(key, inbox);
      }
      const seq = Number.isSafeInteger(data.seq) ? data.seq! : null;
      // Delivered again while held (its lock expired, e.g. Redis was away): the old
      // delivery's lock is void; settle it without touching Redis and keep the new one.
      inbox.held.get(String(job.id))?.reject(new DelayedError());
      inbox.held.set(String(job.id), {
        job,
        token,
        shard,
        seq,
        acceptedAt: data.acceptedAt,
        since: Date.now(),
        blockedSince: null,
        alone: job.attemptsMade > 0,
        resolve,
        reject,
      });
      inbox.retryAt = 0;
      inbox.lastArrival = Date.now();
      this.#opts.wake();
    });
  }

  /**
   * Settles a job in BullMQ by its outcome (not `pending`: that one stays held); the caller
   * has let it go from its file's inbox. Done resolves with its result, failed rejects for
   * good (UnrecoverableError: no retry), retry rejects so that BullMQ tries it again after
   * its back-off.
   */
  settle(h: Held, outcome: Exclude<Outcome, { kind: 'pending' }>, result: () => JobResult): void {
    if (outcome.kind === 'done') h.resolve(result());
    else if (outcome.kind === 'failed') h.reject(new UnrecoverableError(outcome.reason));
    else h.reject(new Error(outcome.reason));
  }

  /** Progress of a job written in several steps (percent). Not awaited. */
  progress(h: Held, percent: number): void {
    void h.job.updateProgress(percent).catch(() => {});
  }

  /**
   * Returns a held job to the queue. Through the delayed set, not straight to the head of
   * the wait list (where BullMQ's moveToWait puts it): this pool would fetch it again at
   * once, ahead of the predecessor it is waiting for.
   */
  async #giveBack(job: Ph5Job, token: string): Promise<never> {
    await job.moveToDelayed(Date.now() + 100 + Math.floor(Math.random() * 400), token).catch(() => {});
    throw new DelayedError();
  }

  async giveBackAll(): Promise<void> {
    const all = [...this.files.values()].flatMap((f) => [...f.held.values()]);
    this.files.clear();
    await Promise.all(all.map((h) => this.#giveBack(h.job, h.token).catch((err: Error) => h.reject(err))));
  }

  /**
   * Gives back jobs that waited too long for a predecessor held elsewhere. With every slot
   * of a shard's Worker taken, its newest waiting jobs go back at once (half the slots), so
   * that the predecessors can come in.
   */
  async giveBackBlocked(): Promise<void> {
    const { giveBackMs, takeConcurrency } = this.#opts.settings;
    const now = Date.now();
    const all = [...this.files.values()].flatMap((f) => [...f.held.values()].map((h) => ({ f, h })));
    const chosen: typeof all = [];
    for (const shard of new Set(all.map(({ h }) => h.shard))) {
      const mine = all.filter(({ h }) => h.shard === shard);
      const blocked = mine.filter(({ h }) => h.blockedSince !== null);
      let overdue = blocked.filter(({ h }) => now - h.blockedSince! >= giveBackMs);
      if (mine.length >= takeConcurrency && overdue.length === 0) {
        overdue = blocked.sort((a, b) => (b.h.seq ?? 0) - (a.h.seq ?? 0)).slice(0, Math.ceil(takeConcurrency / 2));
      }
      chosen.push(...overdue);
    }
    for (const { f, h } of chosen) {
      releaseHeld(f, h);
      this.#giveBack(h.job, h.token).catch((err: Error) => h.reject(err));
    }
  }

  /** Returns the held jobs of shards this pool gave up (called between epochs). */
  giveBackUnowned(): void {
    for (const f of this.files.values()) {
      for (const h of f.held.values()) {
        if (this.#workers.has(h.shard)) continue;
        releaseHeld(f, h);
        this.#giveBack(h.job, h.token).catch((err: Error) => h.reject(err));
      }
    }
  }

  /** Forgets files with no held job. */
  prune(): void {
    for (const [key, f] of this.files) if (f.held.size === 0) this.files.delete(key);
  }

  /**
   * The next jobs of a file are not in this pool: find them by their numbers and move those
   * waiting in the queue to its head, in order, so that this pool (or the shard's owner)
   * takes them next. A run of them, not only the first: after a crash the file's jobs are
   * scattered through the queue (jobs given back wait in the delayed set and then rejoin at
   * the *tail*, behind the whole backlog), and fetching one missing job per round made a
   * backlog of thousands drain at ~14 jobs/s. A delayed job is promoted first (which also
   * puts it at the tail), then moved to the head.
   */
  async promotePredecessor(inbox: FileInbox, seq: number): Promise<void> {
    if (Date.now() - inbox.promotedAt < 300) return;
    inbox.promotedAt = Date.now();
    const run = promotionRun(seq, inbox.held, Math.max(1, Math.floor(this.#opts.settings.takeConcurrency / 2)));
    const ids = await jobsWithSeqs(this.#opts.redis, inbox.project, inbox.file, run);
    const moved: string[] = [];
    // Highest number first: each move puts its job at the head, so the lowest ends up first.
    for (let i = run.length - 1; i >= 0; i--) {
      const id = ids[i];
      // Its shard is the file's: when this pool no longer owns it, the new owner promotes.
      const worker = id ? this.#workers.get(shardOfJobId(id) ?? -1) : undefined;
      if (!id || !worker) continue;
      const job = await jobById(worker, id);
      if (!job) continue;
      const state = await job.getState();
      // A delayed job that already failed an attempt waits out its back-off.
      if (state === 'delayed' && job.attemptsMade === 0) await job.promote().catch(() => {});
      if (state === 'waiting' || state === 'prioritized' || (state === 'delayed' && job.attemptsMade === 0)) {
        await job.changePriority({ priority: 0, lifo: true }).catch(() => {});
        moved.push(`${run[i]}`);
      }
    }
    this.#opts.debug(`${inbox.key}: moved ${moved.length} of the next ${run.length} jobs (from seq ${seq}) to the head of the queue`);
  }
}
