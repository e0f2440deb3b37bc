/**
 * Rank 0 of a pool: the composition root of the pipeline, whose steps live in pipeline/:
 *
 *   take      inbox.ts: BullMQ hands jobs to the inbox (high concurrency): each is held,
 *             grouped by file, until an epoch settles it; the pipeline's only BullMQ calls.
 *   plan      epoch-runner.ts: the scheduler (scheduler.ts) picks a file; the runner takes
 *             its write lease (fenced), reads the file's cursor, and plans the jobs that are
 *             next in the file's sequence as one epoch: one open, their ops in order
 *             (adjacent writes coalesced), one close.
 *   broadcast the plan goes to every rank (MPI_Bcast; protocol.ts); the others follow it
 *             (follower.ts).
 *   write     every rank applies its share of every step (apply.ts); before each step
 *             rank 0 checks the fence in Redis, so a pool that lost its lease stops writing;
 *             the watchdog guards each collective phase (hang-guard.ts).
 *   report    the ranks' reports are gathered; outcome.ts decides each job's outcome and how
 *             far the cursor moves (fenced, atomically, after the file is closed); then each
 *             job is completed or failed in BullMQ, and the lease is released.
 *
 * Shards: the queue is SHARDS BullMQ queues, a file's jobs all in its shard's queue. The
 * live pools divide the shards among themselves (membership.ts, shards.ts), recomputed at
 * every heartbeat: this pool runs one BullMQ Worker per shard it owns, so a file's jobs
 * reach one pool and its lease stays there. A shard given up returns its held jobs to its
 * queue (the new owner takes them) and closes its Worker. Correctness never depends on the
 * assignment: two pools on one shard (for a heartbeat, while they disagree) are kept
 * apart per file by the lease and the per-file order.
 *
 * Order: a job runs only when every job of its file with a smaller sequence number has
 * been applied (the cursor). A held job whose predecessor is not in this pool waits a
 * little, then goes back to the queue, so waiting jobs never fill the pool's slots.
 * Crashes: the cursor moves before jobs complete, so a job redelivered after a crash whose
 * seq is already applied is completed without writing again.
 */
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { mpi } from '../../native/lib/index.js';
import { stagingDir, type Config } from '../shared/config.js';
import { FileLocks } from '../shared/file-lock.js';
import { queueName } from '../shared/jobs.js';
import { redisOptions } from '../shared/redis.js';
import { encodeMessage } from './protocol.js';
import { loadWorkerSettings, type WorkerSettings } from './settings.js';
import type { DoorbellRinger } from './doorbell.js';
import type { Logger } from './log.js';
import { EpochRunner } from './pipeline/epoch-runner.js';
import { HangGuard } from './pipeline/hang-guard.js';
import { Inbox } from './pipeline/inbox.js';
import { Membership } from './pipeline/membership.js';
import { Scheduler } from './pipeline/scheduler.js';
import { StagingJanitor } from './pipeline/staging-janitor.js';
import { SchedulerTrace } from './pipeline/trace.js';

export { follow } from './pipeline/follower.js';

export interface CoordinatorOptions {
  config: Config;
  redisUrl: string;
  size: number;
  log: Logger;
  settings?: WorkerSettings;
  /** Rung right before each bcast the other ranks wait for (see doorbell.ts). */
  doorbell?: DoorbellRinger;
}

export class Coordinator {
  readonly id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #opts: CoordinatorOptions;
  readonly #redis: Redis;
  /** Shared by the shard Workers for their commands (each still has its own blocking connection). */
  readonly #workerRedis: Redis;
  readonly #inbox: Inbox;
  readonly #membership: Membership;
  readonly #scheduler: Scheduler;
  readonly #runner: EpochRunner;
  readonly #guard: HangGuard;
  readonly #janitor: StagingJanitor;
  readonly #trace: SchedulerTrace;
  #stopping = false;
  #loop: Promise<void> = Promise.resolve();

  constructor(opts: CoordinatorOptions) {
    this.#opts = opts;
    const settings = opts.settings ?? loadWorkerSettings();
    const log = opts.log;
    const isStopping = () => this.#stopping;
    this.#redis = new Redis(redisOptions(opts.redisUrl, 'consumer'));
    this.#guard = new HangGuard(settings.stepTimeoutMs, this.#redis, log);
    const locks = new FileLocks(this.#redis, settings.leaseMs);
    // While Redis is away, commands fail and ioredis reconnects; say so once, not per retry.
    let warned = false;
    this.#redis.on('error', (err: Error) => {
      if (!warned) log.warn(`redis: ${err.message} (reconnecting)`);
      warned = true;
    });
    this.#redis.on('ready', () => (warned = false));
    this.#workerRedis = new Redis(redisOptions(opts.redisUrl, 'consumer'));
    this.#workerRedis.setMaxListeners(0);
    this.#workerRedis.on('error', () => {});

    this.#trace = new SchedulerTrace(this.id);
    this.#janitor = new StagingJanitor(stagingDir(opts.config), settings.stagingRetentionS, log);
    this.#inbox = new Inbox({
      redis: this.#redis,
      workerRedis: this.#workerRedis,
      settings,
      log,
      isStopping,
      wake: () => this.#scheduler.wake(),
      completed: (data) => this.#janitor.drop(data),
      debug: (msg) => this.#trace.debug(msg),
    });
    this.#runner = new EpochRunner({
      poolId: this.id,
      size: opts.size,
      config: opts.config,
      settings,
      redis: this.#redis,
      locks,
      inbox: this.#inbox,
      guard: this.#guard,
      trace: this.#trace,
      log,
      doorbell: opts.doorbell,
    });
    this.#membership = new Membership({
      id: this.id,
      redis: this.#redis,
      size: opts.size,
      log,
      inbox: this.#inbox,
      isStopping,
      currentJob: () => this.#runner.current,
    });
    this.#scheduler = new Scheduler({ inbox: this.#inbox, settings, log, trace: this.#trace, isStopping, epoch: (f) => this.#runner.epoch(f) });
  }

  async start(): Promise<void> {
    await this.#janitor.prepare();
    this.#opts.doorbell?.onAlarm((rank) => this.#guard.alarm(rank));
    await this.#membership.start();
    this.#janitor.start();
    this.#loop = this.#scheduler.run();
    this.#trace.startHeartbeatTrace();
    this.#opts.log.info(`pool ${this.id}: ${this.#opts.size} ranks, consuming shards of '${queueName(0).slice(0, -2)}-*'`);
  }

  /** Drain: finishes the epoch in hand, gives back held jobs, stops taking, releases the ranks. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#membership.stopBeating();
    // Out of the live set first: the other pools take over this pool's shards at their next
    // heartbeat, while it finishes its epoch.
    await this.#membership.leave();
    this.#scheduler.wake();
    const closing = this.#inbox.closeAll();
    await this.#loop;
    await this.#inbox.giveBackAll();
    await closing;
    this.#janitor.stop();
    const stop = encodeMessage({ type: 'stop' });
    this.#opts.doorbell?.ring();
    await mpi.bcast(stop, 0);
    await this.#membership.leave();
    this.#redis.disconnect();
    this.#workerRedis.disconnect();
  }
}
