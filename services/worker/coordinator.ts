/**
 * Rank 0 of a pool: the pipeline, in named steps.
 *
 *   take      BullMQ hands jobs to `#take` (high concurrency): each is held in the inbox,
 *             grouped by file, until an epoch finishes it.
 *   plan      `#epoch` picks a file, takes its write lease (fenced), reads the file's cursor,
 *             and plans the jobs that are next in the file's sequence as one epoch: one
 *             open, their ops in order (adjacent writes coalesced), one close.
 *   broadcast the plan goes to every rank (MPI_Bcast).
 *   write     every rank applies its share of every step (apply.ts); before each step
 *             rank 0 checks the fence in Redis, so a pool that lost its lease stops writing.
 *   report    the ranks' reports are gathered; the cursor moves past the epoch's jobs
 *             (fenced, atomically, after the file is closed), then each job is completed
 *             or failed in BullMQ, and the lease is released.
 *
 * Shards: the queue is SHARDS BullMQ queues, a file's jobs all in its shard's queue. The
 * live pools divide the shards among themselves (shards.ts), recomputed at every
 * heartbeat: this pool runs one BullMQ Worker per shard it owns, so a file's jobs reach
 * one pool and its lease stays there. A shard given up returns its held jobs to its queue
 * (the new owner takes them) and closes its Worker. Correctness never depends on the
 * assignment: two pools on one shard (for a heartbeat, while they disagree) are kept
 * apart per file by the lease and the per-file order.
 *
 * Order: a job runs only when every job of its file with a smaller sequence number has
 * been applied (the cursor). A held job whose predecessor is not in this pool waits a
 * little, then goes back to the queue, so waiting jobs never fill the pool's slots.
 * Crashes: the cursor moves before jobs complete, so a job redelivered after a crash whose
 * seq is already applied is completed without writing again.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { H5File, mpi, stagingIo, versions } from '../../native/lib/index.js';
import { stagingDir, type Config } from '../shared/config.js';
import { decompose } from '../shared/decompose.js';
import { parseDtype } from '../shared/dtype.js';
import { FileLocks, type WriteLease } from '../shared/file-lock.js';
import { applyingMark, commitEpoch, fileStateKey, jobsWithSeqs, readCursor, recordHang, recordedFailure, type Cursor } from '../shared/file-state.js';
import {
  queueName,
  shardOfJobId,
  formatFailure,
  keys,
  POOL_HEARTBEAT_MS,
  POOL_STALE_MS,
  type JobData,
  type JobResult,
  type OpResult,
  type PoolInfo,
  type ApplyingEvent,
} from '../shared/jobs.js';
import { isStagedName, validateFileName, validateProjectName } from '../shared/names.js';
import { consumeShard, DelayedError, isDelayedError, jobById, UnrecoverableError, type QueuedJob, type ShardWorker } from '../shared/queue/index.js';
import { COORDINATE_BYTES } from '../shared/points.js';
import { formatSelection } from '../shared/selection.js';
import { redisOptions } from '../shared/redis.js';
import { applyPlan, PERMANENT_CODES, RankError, readCoordinates } from './apply.js';
import { planSteps } from './epoch.js';
import { assignShards, livePools } from './shards.js';
import { decodeMessage, encodeMessage, type Plan, type RankFailure, type RankReport, type Step } from './protocol.js';
import { loadWorkerSettings, type WorkerSettings } from './settings.js';
import { BROKEN_COLLECTIVE_GRACE_MS, hangVerdict, Watchdog, type Phase } from './watchdog.js';
import { promotionRun } from './promotion.js';
import { removeFileDurably } from './remove-file.js';
import type { DoorbellListener, DoorbellRinger } from './doorbell.js';
import type { Logger } from './log.js';

const run = promisify(execFile);

export interface CoordinatorOptions {
  config: Config;
  redisUrl: string;
  size: number;
  log: Logger;
  settings?: WorkerSettings;
  /** Rung right before each bcast the other ranks wait for (see doorbell.ts). */
  doorbell?: DoorbellRinger;
}

type Ph5Job = QueuedJob;

/** A job in this pool's hands, waiting for an epoch. */
interface Held {
  job: Ph5Job;
  token: string;
  /** The shard queue it came from. */
  shard: number;
  seq: number | null;
  since: number;
  /** Since when it has waited for a predecessor this pool does not hold. */
  blockedSince: number | null;
  /** Write it in steps of its own (a coalesced step holding it failed). */
  alone: boolean;
  resolve(result: JobResult): void;
  reject(err: Error): void;
}

interface FileInbox {
  key: string;
  project: string;
  file: string;
  held: Map<string, Held>;
  /** Do not try this file again before (lease busy, nothing ready). */
  retryAt: number;
  /** Last time the missing predecessor was moved to the head of the queue. */
  promotedAt: number;
  /** Its next epoch not before (epoch pacing; see #pace), unless its stream went quiet. */
  pacedUntil: number;
  /** When its last job arrived. */
  lastArrival: number;
  /** The last write step whose missing chunks were allocated (#prepareChunks). */
  prepared: string | null;
}

/** A paced file whose jobs stopped arriving this long ago has its epoch at once. */
const PACING_QUIET_MS = 20;

type Outcome = { kind: 'done' } | { kind: 'failed'; reason: string } | { kind: 'retry'; reason: string } | { kind: 'pending' };

function bySeq(a: Held, b: Held): number {
  if (a.seq !== null && b.seq !== null) return a.seq - b.seq;
  if (a.seq !== null) return -1;
  if (b.seq !== null) return 1;
  return a.job.data.acceptedAt - b.job.data.acceptedAt;
}

export class Coordinator {
  readonly id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #opts: CoordinatorOptions;
  readonly #settings: WorkerSettings;
  readonly #redis: Redis;
  readonly #locks: FileLocks;
  readonly #files = new Map<string, FileInbox>();
  /** One BullMQ Worker per shard this pool owns. */
  readonly #workers = new Map<number, ShardWorker>();
  /** Workers of shards given up, until their close() settles (stop() waits for them). */
  readonly #closing = new Set<Promise<void>>();
  /** Shared by the shard Workers for their commands (each still has its own blocking connection). */
  readonly #workerRedis: Redis;
  #peers: string[] = [];
  #beating = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #janitor: NodeJS.Timeout | undefined;
  #current: string | null = null;
  #stopping = false;
  #wake: () => void = () => {};
  #loop: Promise<void> = Promise.resolve();
  readonly #startedAt = Date.now();
  /**
   * Read once, before any HDF5 call is in flight: the native call takes the addon's global
   * HDF5 lock on the main thread, so calling it in each heartbeat blocked the event loop for
   * as long as a collective write holding that lock hung (the watchdog's timer with it).
   */
  readonly #versions = versions();
  /** Deadline of the epoch's collective phase in progress (armed only during epochs). */
  readonly #watchdog: Watchdog;
  /** The file whose epoch the watchdog guards. */
  #guarded: FileInbox | null = null;
  /** Staged payloads of completed jobs, removed together at the next turn (a removal is scheduled while it is not empty). */
  readonly #toDrop = new Set<string>();

  constructor(opts: CoordinatorOptions) {
    this.#opts = opts;
    this.#settings = opts.settings ?? loadWorkerSettings();
    this.#watchdog = new Watchdog(this.#settings.stepTimeoutMs, (phase, elapsed) => this.#hung(phase, elapsed));
    this.#redis = new Redis(redisOptions(opts.redisUrl, 'consumer'));
    this.#locks = new FileLocks(this.#redis, this.#settings.leaseMs);
    // While Redis is away, commands fail and ioredis reconnects; say so once, not per retry.
    let warned = false;
    this.#redis.on('error', (err: Error) => {
      if (!warned) this.#opts.log.warn(`redis: ${err.message} (reconnecting)`);
      warned = true;
    });
    this.#redis.on('ready', () => (warned = false));
    this.#workerRedis = new Redis(redisOptions(opts.redisUrl, 'consumer'));
    this.#workerRedis.setMaxListeners(0);
    this.#workerRedis.on('error', () => {});
  }

  get #log(): Logger {
    return this.#opts.log;
  }

  async start(): Promise<void> {
    await mkdir(stagingDir(this.#opts.config), { recursive: true });
    this.#opts.doorbell?.onAlarm((rank) => this.#alarm(rank));
    await this.#beat();
    this.#heartbeat = setInterval(() => void this.#beat(), POOL_HEARTBEAT_MS);
    void this.#sweepStaging();
    this.#janitor = setInterval(() => void this.#sweepStaging(), 3600_000);
    this.#janitor.unref();
    this.#loop = this.#schedule();
    if (process.env.PH5_DEBUG_SCHEDULER) setInterval(() => this.#trace(`alive: phase ${this.#phase}`), 1000).unref();
    this.#log.info(`pool ${this.id}: ${this.#opts.size} ranks, consuming shards of '${queueName(0).slice(0, -2)}-*'`);
  }

  /** Starts consuming a shard's queue. */
  #startShard(shard: number): void {
    const s = this.#settings;
    const worker = consumeShard(shard, (job, token) => this.#take(job, token, shard), {
      connection: this.#workerRedis,
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
    worker.on('completed', (job) => void this.#dropStaged(job.data));
    this.#workers.set(shard, worker);
  }

  /**
   * Stops consuming a shard. Its Worker stops fetching at once; close() settles when its
   * held jobs are settled: the scheduler gives them back (#giveBackUnowned) as soon as no
   * epoch is running on them, so the close never waits on a promise nobody settles.
   */
  #releaseShard(shard: number): void {
    const worker = this.#workers.get(shard);
    if (!worker) return;
    this.#workers.delete(shard);
    const closed: Promise<void> = worker.close().catch((err: Error) => this.#log.warn(`closing ${queueName(shard)}: ${err.message}`)).finally(() => this.#closing.delete(closed));
    this.#closing.add(closed);
    this.#wake();
  }

  /** Makes the shard Workers match this pool's share of the shards among the live pools. */
  #rebalance(peers: string[]): void {
    if (this.#stopping) return;
    const mine = new Set(assignShards(peers).get(this.id) ?? []);
    const before = [...this.#workers.keys()];
    for (const shard of before) if (!mine.has(shard)) this.#releaseShard(shard);
    for (const shard of mine) if (!this.#workers.has(shard)) this.#startShard(shard);
    const changed = before.length !== mine.size || before.some((s) => !mine.has(s));
    const samePeers = peers.length === this.#peers.length && peers.every((p) => this.#peers.includes(p));
    this.#peers = peers;
    if (changed || !samePeers) {
      // Parsed by tests (two-pools): the shards each pool owns, and the pools it saw.
      this.#log.info(`shards pool=${this.id} own=${[...mine].sort((a, b) => a - b).join(',')} peers=${[...peers].sort().join(',')} t=${Date.now()}`);
    }
  }

  /** Drain: finishes the epoch in hand, gives back held jobs, stops taking, releases the ranks. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#heartbeat);
    // Out of the live set first: the other pools take over this pool's shards at their next
    // heartbeat, while it finishes its epoch.
    await this.#redis.multi().zrem(keys.pools, this.id).del(keys.pool(this.id)).exec().catch(() => {});
    this.#wake();
    const closing = [...this.#workers.values()].map((w) => w.close());
    this.#workers.clear();
    await this.#loop;
    await this.#giveBackAll();
    await Promise.all([...closing, ...this.#closing]);
    clearInterval(this.#janitor);
    const stop = encodeMessage({ type: 'stop' });
    this.#opts.doorbell?.ring();
    await mpi.bcast(stop, 0);
    await this.#redis.multi().zrem(keys.pools, this.id).del(keys.pool(this.id)).exec().catch(() => {});
    this.#redis.disconnect();
    this.#workerRedis.disconnect();
  }

  /** Heartbeat: publish this pool, then recompute its shards from the live pools. */
  async #beat(): Promise<void> {
    if (this.#beating || this.#stopping) return;
    this.#beating = true;
    try {
      await this.#publish();
      this.#rebalance(await livePools(this.#redis, this.id));
    } catch (err) {
      // Redis away: keep the shards as they are until the next heartbeat.
      this.#log.warn(`heartbeat failed: ${(err as Error).message}`);
    } finally {
      this.#beating = false;
    }
  }

  async #publish(): Promise<void> {
    const v = this.#versions;
    const info: PoolInfo = {
      id: this.id,
      host: os.hostname(),
      ranks: this.#opts.size,
      pid: process.pid,
      hdf5: v.hdf5,
      mpi: v.mpiLibrary,
      startedAt: this.#startedAt,
      heartbeatAt: Date.now(),
      currentJob: this.#current,
      shards: [...this.#workers.keys()].sort((a, b) => a - b),
      peers: [...this.#peers].sort(),
    };
    await this.#redis
      .multi()
      .zadd(keys.pools, info.heartbeatAt, this.id)
      .set(keys.pool(this.id), JSON.stringify(info), 'PX', POOL_STALE_MS)
      .zremrangebyscore(keys.pools, '-inf', info.heartbeatAt - 6 * POOL_STALE_MS)
      .exec();
  }

  // ---- take ---------------------------------------------------------------------------

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
    if (this.#stopping || !this.#workers.has(shard)) return this.#giveBack(job, token);
    return new Promise<JobResult>((resolve, reject) => {
      const key = `${project}/${file}`;
      let inbox = this.#files.get(key);
      if (!inbox) {
        inbox = { key, project, file, held: new Map(), retryAt: 0, promotedAt: 0, pacedUntil: 0, lastArrival: 0, prepared: null };
        this.#files.set(key, inbox);
      }
      const seq = Number.isSafeInteger(data.seq) ? data.seq! : null;
      // Delivered again while held (its lock expired, e.g. Redis was away): the old
      // delivery's lock is void; settle it without touching Redis and keep the new one.
      inbox.held.get(String(job.id))?.reject(new DelayedError());
      inbox.held.set(String(job.id), { job, token, shard, seq, since: Date.now(), blockedSince: null, alone: job.attemptsMade > 0, resolve, reject });
      inbox.retryAt = 0;
      inbox.lastArrival = Date.now();
      this.#wake();
    });
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

  async #giveBackAll(): Promise<void> {
    const all = [...this.#files.values()].flatMap((f) => [...f.held.values()]);
    this.#files.clear();
    await Promise.all(all.map((h) => this.#giveBack(h.job, h.token).catch((err: Error) => h.reject(err))));
  }

  /**
   * Gives back jobs that waited too long for a predecessor held elsewhere. With every slot
   * of a shard's Worker taken, its newest waiting jobs go back at once (half the slots), so
   * that the predecessors can come in.
   */
  async #giveBackBlocked(): Promise<void> {
    const now = Date.now();
    const all = [...this.#files.values()].flatMap((f) => [...f.held.values()].map((h) => ({ f, h })));
    const chosen: typeof all = [];
    for (const shard of new Set(all.map(({ h }) => h.shard))) {
      const mine = all.filter(({ h }) => h.shard === shard);
      const blocked = mine.filter(({ h }) => h.blockedSince !== null);
      let overdue = blocked.filter(({ h }) => now - h.blockedSince! >= this.#settings.giveBackMs);
      if (mine.length >= this.#settings.takeConcurrency && overdue.length === 0) {
        overdue = blocked.sort((a, b) => (b.h.seq ?? 0) - (a.h.seq ?? 0)).slice(0, Math.ceil(this.#settings.takeConcurrency / 2));
      }
      chosen.push(...overdue);
    }
    for (const { f, h } of chosen) {
      f.held.delete(String(h.job.id));
      this.#giveBack(h.job, h.token).catch((err: Error) => h.reject(err));
    }
  }

  /** Returns the held jobs of shards this pool gave up (called between epochs). */
  #giveBackUnowned(): void {
    for (const f of this.#files.values()) {
      for (const h of f.held.values()) {
        if (this.#workers.has(h.shard)) continue;
        f.held.delete(String(h.job.id));
        this.#giveBack(h.job, h.token).catch((err: Error) => h.reject(err));
      }
    }
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
  async #promotePredecessor(inbox: FileInbox, seq: number): Promise<void> {
    if (Date.now() - inbox.promotedAt < 300) return;
    inbox.promotedAt = Date.now();
    const run = promotionRun(seq, inbox.held, Math.max(1, Math.floor(this.#settings.takeConcurrency / 2)));
    const ids = await jobsWithSeqs(this.#redis, inbox.project, inbox.file, run);
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
    this.#debug(`${inbox.key}: moved ${moved.length} of the next ${run.length} jobs (from seq ${seq}) to the head of the queue`);
  }

  // ---- scheduler ----------------------------------------------------------------------

  #nextFile(now: number): FileInbox | null {
    let best: FileInbox | null = null;
    let bestSince = Infinity;
    for (const f of this.#files.values()) {
      if (f.held.size === 0 || f.retryAt > now) continue;
      if (this.#pacedAt(f) > now && f.held.size < this.#settings.maxEpochJobs) continue;
      const oldest = Math.min(...[...f.held.values()].map((h) => h.since));
      if (oldest < bestSince) {
        best = f;
        bestSince = oldest;
      }
    }
    return best;
  }

  /**
   * Epoch pacing: a file that received jobs while its epoch ran is a stream; its next epoch
   * waits `epochPacing` times the last one's duration (capped), gathering what arrives
   * meanwhile. The ranks then spend at most about 1/(1+pacing) of their time on one busy
   * file, in epochs as large as the stream makes them, instead of running small epochs back
   * to back. A file whose jobs all went in its epoch (a lone client waiting for each write)
   * never waits, and the wait ends as soon as no job arrived for PACING_QUIET_MS (the
   * burst is over: nothing more to gather). Other files are not held up: pacing is per file.
   */
  #pace(inbox: FileInbox, epochMs: number): number {
    const { epochPacing, epochPacingMaxMs } = this.#settings;
    if (epochPacing === 0 || inbox.held.size === 0) return 0;
    const wait = Math.min(epochPacingMaxMs, epochPacing * Math.max(1, epochMs));
    inbox.pacedUntil = Date.now() + wait;
    return wait;
  }

  /** When a paced file's wait ends: its pacing is over, or its stream has gone quiet. */
  #pacedAt(inbox: FileInbox): number {
    return Math.min(inbox.pacedUntil, inbox.lastArrival + PACING_QUIET_MS);
  }

  async #idle(): Promise<void> {
    const waiting = [...this.#files.values()].filter((f) => f.held.size > 0);
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
      // Only while jobs are held: an empty pool waits for BullMQ alone (no timers: quiet).
      if (waiting.length > 0) {
        const next = Math.min(...waiting.map((f) => Math.max(f.retryAt, this.#pacedAt(f))));
        timer = setTimeout(resolve, Math.max(10, Math.min(500, next - Date.now())));
      }
    });
    this.#wake = () => {};
  }

  async #schedule(): Promise<void> {
    let lastGiveBack = 0;
    while (!this.#stopping) {
      const now = Date.now();
      if (now - lastGiveBack > 250) {
        lastGiveBack = now;
        await this.#giveBackBlocked();
      }
      this.#giveBackUnowned();
      for (const [key, f] of this.#files) if (f.held.size === 0) this.#files.delete(key);
      const next = this.#nextFile(now);
      if (process.env.PH5_DEBUG_SCHEDULER) {
        this.#trace(`scheduler: ${[...this.#files.values()].map((f) => `${f.key}:${f.held.size}@${f.retryAt - now}`).join(' ')} -> ${next?.key ?? 'idle'}`);
      }
      if (!next) {
        this.#phase = 'idle';
        await this.#idle();
        this.#phase = 'woke';
        continue;
      }
      try {
        this.#phase = `epoch ${next.key}`;
        await this.#epoch(next);
      } catch (err) {
        this.#log.error(`epoch on ${next.key} failed: ${(err as Error).stack ?? err}`);
        next.retryAt = Date.now() + 500;
      }
    }
  }

  /** Splits a file's held jobs by the cursor: already applied, next in order, blocked. */
  #classify(inbox: FileInbox, cursor: Cursor): { applied: Held[]; ready: Held[]; blocked: Held[] } {
    const sorted = [...inbox.held.values()].sort(bySeq);
    const applied: Held[] = [];
    const ready: Held[] = [];
    const blocked: Held[] = [];
    let next = cursor.applied + 1;
    for (const h of sorted) {
      if (h.seq === null) ready.push(h);
      else if (h.seq <= cursor.applied) applied.push(h);
      else if (h.seq === next && ready.length < this.#settings.maxEpochJobs) {
        ready.push(h);
        next++;
      } else blocked.push(h);
    }
    const now = Date.now();
    for (const h of ready) h.blockedSince = null;
    for (const h of blocked) if (h.seq !== null && h.seq > next) h.blockedSince ??= now;
    return { applied, ready, blocked };
  }

  /** Jobs redelivered after a crash that the file already has: finish them as they ended. */
  async #finishApplied(inbox: FileInbox, jobs: Held[]): Promise<void> {
    for (const h of jobs) {
      inbox.held.delete(String(h.job.id));
      const reason = await recordedFailure(this.#redis, inbox.project, inbox.file, h.seq!);
      if (reason) h.reject(new UnrecoverableError(reason));
      else h.resolve({ ranks: this.#opts.size, pool: this.id, ops: h.job.data.ops.map((op) => ({ op: op.op, path: op.path })), timings: { queuedMs: 0, openMs: 0, applyMs: 0, closeMs: 0, totalMs: 0 } });
      this.#log.info(`job ${h.job.id} (seq ${h.seq} of ${inbox.key}) was applied before a restart; finished without writing again`);
    }
  }

  async #epoch(inbox: FileInbox): Promise<void> {
    // A look without the lease first: most waits end here, without touching the lock.
    let cursor = await readCursor(this.#redis, inbox.project, inbox.file);
    let split = this.#classify(inbox, cursor);
    if (split.applied.length) await this.#finishApplied(inbox, split.applied);
    if (split.ready.length === 0) {
      if (split.blocked.length) await this.#promotePredecessor(inbox, cursor.applied + 1);
      inbox.retryAt = Date.now() + 100;
      return;
    }
    this.#debug(`epoch? ${inbox.key}: ${split.ready.length} ready; lease`);
    const lease = await this.#locks.tryAcquireWrite(inbox.project, inbox.file, () => this.#log.warn(`lease lost file=${inbox.key} fence=${leaseFence} pool=${this.id} t=${Date.now()}`), this.id);
    if (!lease) {
      inbox.retryAt = Date.now() + 20 + Math.random() * 30;
      return;
    }
    const leaseFence = lease.fence;
    this.#log.info(`lease acquire file=${inbox.key} fence=${lease.fence} pool=${this.id} t=${Date.now()}`);
    try {
      cursor = await readCursor(this.#redis, inbox.project, inbox.file);
      split = this.#classify(inbox, cursor);
      if (split.applied.length) await this.#finishApplied(inbox, split.applied);
      if (split.ready.length === 0) {
        await commitEpoch(this.#redis, lease, inbox.project, inbox.file, cursor.applied, null, []);
        inbox.retryAt = Date.now() + 200;
        return;
      }
      this.#current = String(split.ready[0]!.job.id);
      await this.#runEpoch(inbox, lease, cursor, split.ready);
    } finally {
      this.#current = null;
      this.#log.info(`lease release file=${inbox.key} fence=${lease.fence} pool=${this.id} t=${Date.now()}`);
      await lease.release().catch(() => {});
    }
  }

  #phase = 'start';

  /** PH5_DEBUG_SCHEDULER=<file>: the scheduler's decisions, appended to a file (not through mpirun). */
  #trace(msg: string): void {
    const file = process.env.PH5_DEBUG_SCHEDULER;
    if (file) appendFileSync(file, `${new Date().toISOString()} ${this.id} ${msg}\n`);
  }

  #debug(msg: string): void {
    this.#phase = msg;
    this.#trace(msg);
  }

  async #runEpoch(inbox: FileInbox, lease: WriteLease, cursor: Cursor, ready: Held[]): Promise<void> {
    const started = Date.now();
    this.#debug(`epoch ${lease.fence}: ${ready.length} ready`);
    const config = this.#opts.config;
    const filePath = path.join(config.dataDir, inbox.project, inbox.file);
    await mkdir(path.dirname(filePath), { recursive: true });
    if (lease.previousDirty !== null && existsSync(filePath)) await this.#recover(filePath, lease.previousDirty);

    // Lost payloads fail their job before the epoch (the others still run). Writes staged
    // together share a file: each file is looked at once, all of them in one call.
    const outcomes = new Map<Held, Outcome>();
    const names = [...new Set(ready.flatMap((h) => h.job.data.ops.flatMap((op) => (op.op === 'write' && isStagedName(op.staged) ? [op.staged] : []))))];
    const found = names.length > 0 ? await stagingIo.fileSizes(names.map((name) => path.join(stagingDir(config), name))) : [];
    const sizes = new Map(names.map((name, i) => [name, found[i]!]));
    for (const h of ready) {
      for (const op of h.job.data.ops) {
        if (op.op !== 'write') continue;
        const offset = op.stagedOffset ?? 0;
        const size = Number.isSafeInteger(offset) && offset >= 0 ? (sizes.get(op.staged) ?? -1) : -1;
        // A point write's coordinates are staged before its values.
        const coordBytes = op.points ? op.points.count * op.points.rank * COORDINATE_BYTES : 0;
        if (size < offset + coordBytes + op.bytes) {
          outcomes.set(h, { kind: 'failed', reason: formatFailure('PH5_ERR_STAGING', `staged payload ${op.staged} of job ${h.job.id} is missing or short`) });
          break;
        }
      }
    }
    // Cancelled while waiting (the API marked it): fails without touching the file; the
    // file's order moves past it like past any job that failed for good.
    for (const h of ready) {
      if (h.job.data.cancelled && !outcomes.has(h)) outcomes.set(h, { kind: 'failed', reason: formatFailure('PH5_ERR_CANCELLED', 'the job was cancelled before it ran') });
    }
    // Jobs that were in phases that hung: fail those charged too often, run the others alone
    // (a coalesced step that hung does not say which of its jobs caused it).
    for (const h of ready) {
      if (outcomes.has(h) || h.seq === null) continue;
      const hangs = cursor.hung.get(h.seq) ?? 0;
      const verdict = hangVerdict(hangs, this.#settings.hungJobAttempts);
      if (verdict === 'alone') h.alone = true;
      if (verdict === 'fail') {
        const reason = formatFailure(
          'PH5_ERR_WATCHDOG',
          `a collective phase writing this job did not finish, ${hangs} times (within PH5_STEP_TIMEOUT_MS = ${this.#settings.stepTimeoutMs} ms, or ${BROKEN_COLLECTIVE_GRACE_MS} ms after HDF5 failed on a rank inside it, e.g. a chunk that does not inflate); the pool was restarted each time and the job is not tried again (PH5_HUNG_JOB_ATTEMPTS)`,
        );
        outcomes.set(h, { kind: 'failed', reason });
        this.#log.error(`job ${h.job.id} (seq ${h.seq} of ${inbox.key}) failed: it hung the pool ${hangs} times`);
      }
    }
    const planned = ready.filter((h) => !outcomes.has(h));
    // Deleting the file ends the epoch: the jobs after it start a new file in the next one.
    const deletion = planned.findIndex((h) => h.job.data.ops.some((op) => op.op === 'deleteFile'));
    if (deletion >= 0) for (const h of planned.splice(deletion + 1)) outcomes.set(h, { kind: 'pending' });
    const steps = planSteps(
      planned.map((h) => ({ data: h.job.data, alone: h.alone })),
      { maxStepBytes: this.#settings.maxStepBytes },
    );
    const plan: Plan = {
      epoch: lease.fence,
      file: filePath,
      mode: existsSync(filePath) ? 'rw' : 'create',
      staging: stagingDir(config),
      jobs: planned.map((h) => ({ id: String(h.job.id), seq: h.seq })),
      steps,
    };

    let reports: RankReport[] = [];
    if (steps.length > 0) {
      // Progress for jobs written in several steps (large writes are split).
      const stepsOf = planned.map((_, j) => steps.filter((s) => s.jobs.includes(j)).length);
      const doneSteps = planned.map(() => 0);
      this.#debug(`epoch ${lease.fence}: bcast ${steps.length} steps`);
      const message = encodeMessage({ type: 'plan', plan });
      const seqsOf = (jobs: Held[]) => jobs.flatMap((h) => (h.seq === null ? [] : [h.seq]));
      const stepSeqs = (p: number) => seqsOf(steps[p]!.jobs.map((j) => planned[j]!));
      const all = seqsOf(planned);
      this.#markApplying(inbox, all);
      this.#guarded = inbox;
      this.#watchdog.arm({ name: `the plan's broadcast (epoch ${lease.fence})`, seqs: all });
      this.#opts.doorbell?.ring();
      await mpi.bcast(message, 0);
      this.#debug(`epoch ${lease.fence}: apply`);
      const mine = await applyPlan(plan, 0, this.#opts.size, {
        phase: (p) => {
          if (typeof p !== 'number') return this.#watchdog.arm({ name: `${p} of ${inbox.key} (epoch ${lease.fence})`, seqs: all });
          const st = steps[p]!;
          this.#watchdog.arm({ name: `step ${p} (${st.op}${st.op === 'write' ? ` ${st.path}` : ''}) of epoch ${lease.fence} on ${inbox.key}`, seqs: stepSeqs(p) });
        },
        collectiveBroken: (p) => {
          this.#log.warn(`epoch ${lease.fence} on ${inbox.key}: HDF5 failed on this rank inside the collective write of step ${p}; the other ranks get ${BROKEN_COLLECTIVE_GRACE_MS} ms to reach the agreement`);
          this.#watchdog.arm({ name: `the agreement after a failed collective write (step ${p}, epoch ${lease.fence} on ${inbox.key})`, seqs: stepSeqs(p) }, BROKEN_COLLECTIVE_GRACE_MS);
        },
        beforeStep: async () => {
          if (!(await lease.check())) throw new RankError('PH5_ERR_LEASE_LOST', `the write lease on ${inbox.key} (fence ${lease.fence}) was lost`);
        },
        afterStep: (i) => {
          for (const j of steps[i]!.jobs) {
            doneSteps[j]!++;
            if (stepsOf[j]! > 1) void planned[j]!.job.updateProgress(Math.floor((100 * doneSteps[j]!) / stepsOf[j]!)).catch(() => {});
          }
        },
      });
      this.#debug(`epoch ${lease.fence}: gather`);
      // Not disarmed if something here throws: the other ranks would then be left in a
      // collective of this epoch, and ending the pool at the deadline is the way out.
      this.#watchdog.arm({ name: `the reports' gather (epoch ${lease.fence})`, seqs: all });
      const gathered = await mpi.gather(Buffer.from(JSON.stringify(mine)), 0);
      this.#watchdog.disarm();
      this.#guarded = null;
      reports = (gathered ?? []).map((b) => JSON.parse(b.toString('utf8')) as RankReport);
    }

    // Outcome of each planned job, from the ranks' agreed decisions.
    const real = (list: Array<RankFailure | undefined>) => list.find((f) => f && f.code !== 'PH5_ERR_PEER') ?? list.find(Boolean);
    const abortReport = reports.find((r) => r.abort)?.abort;
    let abort = abortReport ? { step: abortReport.step, ...real(reports.map((r) => r.abort))! } : undefined;
    // A stop that is no job's fault: the jobs from that step on simply run again.
    let blameless = abort?.code === 'PH5_ERR_LEASE_LOST';
    if (abort?.code === 'PH5_ERR_NEEDS_ALLOCATION') {
      // The file's chunks are allocated on demand (made by h5py, say). The file is closed on
      // every rank now: allocate the step's chunks serially and let the next epoch write
      // them in parallel. What fails here (or a second refusal of one step) is the step's.
      const failure = await this.#prepareChunks(inbox, filePath, lease, steps[abort.step]!);
      if (failure) abort = { step: abort.step, ...failure };
      blameless = !failure || failure.code === 'PH5_ERR_LEASE_LOST';
    }
    planned.forEach((h, j) => {
      const failed = real(reports.map((r) => r.failedJobs[j]));
      if (failed) return outcomes.set(h, { kind: 'failed', reason: formatFailure(failed.code, failed.message) });
      const mySteps = steps.map((s, i) => (s.jobs.includes(j) ? i : -1)).filter((i) => i >= 0);
      if (!abort || mySteps.every((i) => i < abort.step)) return outcomes.set(h, { kind: 'done' });
      outcomes.set(h, { kind: 'pending' });
    });
    if (abort && !blameless) {
      const culprits = abort.step >= 0 && abort.step < steps.length ? steps[abort.step]!.jobs.map((j) => planned[j]!) : planned.slice(0, 1);
      const reason = formatFailure(abort.code, abort.message);
      this.#log.warn(`epoch ${lease.fence} on ${inbox.key} stopped at step ${abort.step}: ${reason}`);
      if (culprits.length === 1 || abort.step < 0 || abort.step >= steps.length) {
        // One job to blame: it uses up an attempt (BullMQ retries it with backoff); on its
        // last attempt it fails for good, and the file's order moves on past it.
        const h = culprits[0]!;
        const last = h.job.attemptsMade + 1 >= (h.job.opts.attempts ?? 1);
        outcomes.set(h, PERMANENT_CODES.has(abort.code) || last ? { kind: 'failed', reason } : { kind: 'retry', reason });
      } else {
        // A coalesced step failed: write its jobs one by one next time, to find the culprit.
        for (const h of culprits) h.alone = true;
      }
    }

    // The file goes once everything before the deletion is in it and closed, still under the
    // lease and before the cursor moves: a crash in between replays the epoch (onto a new
    // file, since this one is gone) and deletes again.
    if (deletion >= 0 && outcomes.get(planned[deletion]!)?.kind === 'done') {
      if (!(await lease.check({ fresh: true }))) outcomes.set(planned[deletion]!, { kind: 'pending' });
      else {
        // Made durable before the cursor moves past it (a failed sync retries the deletion).
        await removeFileDurably(filePath).catch((err: Error) => {
          this.#log.warn(`deleting ${inbox.key}: ${err.message}; the deletion is retried`);
          outcomes.set(planned[deletion]!, { kind: 'retry', reason: `deleting the file: ${err.message}` });
        });
      }
    }
    // The cursor moves through the longest run of finished jobs in sequence order.
    let through = cursor.applied;
    const failures: Array<{ seq: number; reason: string }> = [];
    for (const h of ready) {
      if (h.seq === null) continue;
      const o = outcomes.get(h)!;
      if (h.seq !== through + 1 || (o.kind !== 'done' && o.kind !== 'failed')) break;
      through = h.seq;
      if (o.kind === 'failed') failures.push({ seq: h.seq, reason: o.reason });
    }
    this.#debug(`epoch ${lease.fence}: commit`);
    const committed = await commitEpoch(this.#redis, lease, inbox.project, inbox.file, cursor.applied, through, failures);
    if (committed !== 'committed') {
      this.#log.warn(`lease lost file=${inbox.key} fence=${lease.fence} pool=${this.id} t=${Date.now()} (commit refused: ${committed}); the epoch's jobs stay queued`);
      return;
    }
    const result = (h: Held, j: number) => this.#result(h.job, j, plan, reports, started);
    for (const h of ready) {
      const o = outcomes.get(h)!;
      const sequencedBeyond = h.seq !== null && h.seq > through;
      if (o.kind === 'pending' || (sequencedBeyond && o.kind !== 'retry')) continue;
      inbox.held.delete(String(h.job.id));
      if (o.kind === 'done') h.resolve(result(h, planned.indexOf(h)));
      else if (o.kind === 'failed') h.reject(new UnrecoverableError(o.reason));
      else h.reject(new Error(o.reason));
    }
    const n = ready.length;
    const took = Date.now() - started;
    const paced = this.#pace(inbox, took);
    // Parsed by tests (epoch-pacing): jobs per epoch, and whether the file's next one waits.
    this.#log.info(`epoch ${lease.fence} on ${inbox.key}: ${n} jobs, ${steps.length} steps, cursor ${cursor.applied} -> ${through}, ${took} ms${paced ? `; next epoch of this file in ${paced} ms (pacing)` : ''}`);
  }

  /**
   * Tells the API which jobs this epoch applies (they are `running`; the others held here
   * are still `queued`): the file state's `applying` field, cleared by the commit, and an
   * event for job streams. Not awaited: it must not delay the epoch, and a lost mark only
   * makes a job look queued a little longer.
   */
  #markApplying(inbox: FileInbox, seqs: number[]): void {
    if (seqs.length === 0) return;
    const first = Math.min(...seqs);
    const last = Math.max(...seqs);
    const event: ApplyingEvent = { project: inbox.project, file: inbox.file, first, last, pool: this.id };
    this.#redis
      .multi()
      .hset(fileStateKey(inbox.project, inbox.file), 'applying', applyingMark(first, last, this.id))
      .publish(keys.applyingChannel, JSON.stringify(event))
      .exec()
      .catch(() => {});
  }

  /**
   * Another rank left a collective write with an HDF5 failure (doorbell alarm): the ranks
   * still in that collective may wait forever, so the phase gets a short deadline.
   */
  #alarm(rank: number): void {
    const current = this.#watchdog.current;
    if (!current) return;
    this.#log.warn(`rank ${rank}: HDF5 failed there inside a collective write during ${current.phase.name}; the other ranks get ${BROKEN_COLLECTIVE_GRACE_MS} ms to reach the agreement`);
    this.#watchdog.arm({ name: `${current.phase.name}, which rank ${rank} left with an HDF5 failure`, seqs: current.phase.seqs }, BROKEN_COLLECTIVE_GRACE_MS);
  }

  /**
   * The watchdog fired: a collective phase has not finished in time, and cannot be
   * interrupted. Charge its jobs one hang each (best effort, bounded), then end this rank:
   * the launcher ends the others and the supervisor starts a new pool, which replays the
   * epoch (or fails a job charged too often). Everything else in Redis stays as it is: the
   * jobs are still active under this pool's locks and come back as stalled jobs.
   */
  #hung(phase: Phase, elapsedMs: number): void {
    const inbox = this.#guarded;
    this.#log.error(
      `watchdog: ${phase.name} has not finished after ${elapsedMs} ms (PH5_STEP_TIMEOUT_MS=${this.#settings.stepTimeoutMs}); ` +
        `charging a hang to job seq ${phase.seqs.join(',') || '-'} of ${inbox?.key ?? '?'} and ending this pool so that a new one starts`,
    );
    const charged = inbox ? recordHang(this.#redis, inbox.project, inbox.file, phase.seqs) : Promise.resolve();
    const bounded = new Promise((resolve) => setTimeout(resolve, 2000).unref());
    void Promise.race([charged.catch((err: Error) => this.#log.error(`watchdog: recording the hang failed: ${err.message}`)), bounded]).finally(() => {
      // SIGKILL of itself: a rank blocked in MPI may never run exit handlers.
      process.kill(process.pid, 'SIGKILL');
    });
  }

  /**
   * Allocates, on this rank alone and with the serial library, the chunks a write step needs
   * and a parallel write refused to touch (PH5_ERR_NEEDS_ALLOCATION). Answers the failure
   * to blame on the step, or null when the step can run again.
   */
  async #prepareChunks(inbox: FileInbox, filePath: string, lease: WriteLease, step: Step): Promise<RankFailure | null> {
    if (step.op !== 'write') return { code: 'PH5_ERR_WORKER', message: `step ${step.op} asked for chunk allocation` };
    const points = step.points;
    const key = points ? `${step.path} points ${points.coords.staged}@${points.coords.offset}` : `${step.path} ${JSON.stringify(step.parts ?? step.hyperslab)}`;
    if (inbox.prepared === key) return { code: 'PH5_ERR_LAYOUT', message: `the chunks of ${step.path} that this write needs could not be allocated` };
    if (!(await lease.check({ fresh: true }))) return { code: 'PH5_ERR_LEASE_LOST', message: `the write lease on ${inbox.key} (fence ${lease.fence}) was lost` };
    const started = Date.now();
    try {
      // A point write's chunks are those its points touch (all of the step's points).
      const selection = points ? { points: await readCoordinates({ staging: stagingDir(this.#opts.config) }, points.coords) } : (step.parts ?? step.hyperslab);
      const file = await H5File.open(filePath, { mode: 'rw', parallel: false });
      try {
        const allocated = await file.prepareChunks(step.path, selection);
        this.#log.info(`${inbox.key}:${step.path}: allocated ${allocated} missing chunks serially for a parallel write (${Date.now() - started} ms)`);
      } finally {
        await file.close();
      }
    } catch (err) {
      const e = err as { code?: string; message: string };
      return { code: e.code ?? 'PH5_ERR_WORKER', message: `allocating chunks of ${step.path}: ${e.message}` };
    }
    inbox.prepared = key;
    return null;
  }

  /**
   * The previous holder died with the file open, maybe in the middle of its close: then
   * some ranks had written their share of the new metadata (chunk index nodes pointing at
   * chunks the epoch wrote past the old end of the file) while the superblock still records
   * the old end of allocation (EOA). HDF5 would allocate the replay's chunks from that old
   * EOA, over chunks the index already names: gzip chunks that no longer inflate, and a
   * replay that fails on one rank and hangs the others. `h5clear --increment=0` moves the
   * EOA to the end of the file, so the replay allocates past everything the crashed epoch
   * wrote; together with files that never reuse freed space (native h5_files.cc), every
   * chunk any version of the index names stays intact. `-s` clears the status flags that
   * files with a v3 superblock (SWMR, made by other tools) keep set after a crash.
   */
  async #recover(filePath: string, fence: number): Promise<void> {
    try {
      await run('h5clear', ['-s', '--increment=0', filePath], { timeout: 30_000 });
      this.#log.warn(`recovered ${filePath} after an interrupted epoch (fence ${fence}): status flags cleared, end of allocation moved to the end of the file, replaying`);
    } catch (err) {
      this.#log.warn(`h5clear of ${filePath} after an interrupted epoch (fence ${fence}) failed: ${(err as Error).message}`);
    }
  }

  #result(job: Ph5Job, j: number, plan: Plan, reports: RankReport[], started: number): JobResult {
    const size = this.#opts.size;
    const mySteps = plan.steps.map((s, i) => (s.jobs.includes(j) ? i : -1)).filter((i) => i >= 0);
    const stepReports = reports.flatMap((r) => mySteps.map((i) => r.steps[i] ?? {}));
    const ops: OpResult[] = job.data.ops.map((op) => {
      if (op.op !== 'write') return { op: op.op, path: op.path };
      // A variable-length string write is made by rank 0 alone (apply.ts serialStringWrite).
      const slices = decompose(op.hyperslab, parseDtype(op.payloadDtype).size, parseDtype(op.dtype).kind === 'string' ? 1 : size);
      return {
        op: op.op,
        path: op.path,
        bytes: op.bytes,
        collective: stepReports.every((o) => o.collective !== false),
        noCollectiveCause: [...new Set(stepReports.flatMap((o) => o.noCollectiveCause ?? []))],
        decomposition: slices.map((s) => ({
          rank: s.rank,
          rows: s.rows,
          // A point write's share: a range of its list of points, e.g. points[0:5].
          select: s.hyperslab ? (op.points ? `points[${s.rowStart}:${s.rowStart + s.rows}]` : formatSelection(s.hyperslab)) : null,
          bytes: s.byteLength,
        })),
      };
    });
    const max = (pick: (r: RankReport) => number) => Math.max(0, ...reports.map(pick));
    return {
      ranks: size,
      pool: this.id,
      ops,
      timings: {
        queuedMs: Math.max(0, started - job.data.acceptedAt),
        openMs: max((r) => r.openMs),
        applyMs: max((r) => r.applyMs),
        closeMs: max((r) => r.closeMs),
        totalMs: Date.now() - started,
      },
    };
  }

  #dropStaged(data: JobData): void {
    const dir = stagingDir(this.#opts.config);
    // Writes accepted together name one shared staged file: removed once.
    const scheduled = this.#toDrop.size > 0;
    for (const op of data?.ops ?? []) if (op.op === 'write' && isStagedName(op.staged)) this.#toDrop.add(path.join(dir, op.staged));
    if (scheduled || this.#toDrop.size === 0) return;
    // The jobs of an epoch complete together: their files go in one unlink call (one trip
    // to the libuv pool for all of them, instead of two per file with fs.rm).
    setImmediate(() => {
      const paths = [...this.#toDrop];
      this.#toDrop.clear();
      stagingIo.unlinkFiles(paths).catch((err: Error) => this.#log.warn(`removing staged payloads: ${err.message}`));
    });
  }

  /** Deletes staged payloads older than the retention period (those of failed jobs). */
  async #sweepStaging(): Promise<void> {
    const dir = stagingDir(this.#opts.config);
    const cutoff = Date.now() - this.#settings.stagingRetentionS * 1000;
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      const st = await stat(path.join(dir, name)).catch(() => null);
      if (st?.isFile() && st.mtimeMs < cutoff) await rm(path.join(dir, name), { force: true }).catch(() => {});
    }
  }
}

/**
 * Ranks other than 0: wait for plans, apply them, report, until told to stop. Idle time is
 * spent blocked on the doorbell (no CPU); the bcast is entered once rank 0 rang.
 */
export async function follow(rank: number, size: number, log: Logger, doorbell?: DoorbellListener): Promise<void> {
  for (;;) {
    await doorbell?.wait();
    const message = decodeMessage(await mpi.bcast(null, 0));
    if (message.type === 'stop') return;
    // HDF5 failed here inside a collective write: rank 0 shortens the phase's deadline.
    const report = await applyPlan(message.plan, rank, size, { collectiveBroken: () => doorbell?.alarm() });
    // A step that needs chunks allocated is rank 0's to handle, not a failure.
    const own = [report.abort, ...Object.values(report.failedJobs)].find((f) => f && f.code !== 'PH5_ERR_PEER' && f.code !== 'PH5_ERR_NEEDS_ALLOCATION');
    if (own) log.warn(`epoch ${message.plan.epoch}: ${own.code}: ${own.message}`);
    await mpi.gather(Buffer.from(JSON.stringify(report)), 0);
  }
}
