/**
 * Rank 0: takes jobs from BullMQ, turns each into a plan, broadcasts it, applies its own
 * share like every other rank, gathers the ranks' reports and completes the job.
 *
 * Pipeline steps, named as in the docs: take -> plan -> broadcast -> write -> report.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Worker, UnrecoverableError, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { mpi, versions } from '../../native/lib/index.js';
import { stagingDir, type Config } from '../shared/config.js';
import { decompose } from '../shared/decompose.js';
import { parseDtype } from '../shared/dtype.js';
import { FileLocks } from '../shared/file-lock.js';
import {
  QUEUE_NAME,
  QUEUE_PREFIX,
  formatFailure,
  keys,
  POOL_HEARTBEAT_MS,
  POOL_STALE_MS,
  type JobData,
  type JobResult,
  type OpResult,
  type PoolInfo,
} from '../shared/jobs.js';
import { validateFileName, validateProjectName } from '../shared/names.js';
import { formatSelection } from '../shared/selection.js';
import { redisOptions } from '../shared/redis.js';
import { applyPlan } from './apply.js';
import { decodeMessage, encodeMessage, type Plan, type RankReport } from './protocol.js';
import type { Logger } from './log.js';

/** Failures that no retry can fix: the job fails at once instead of burning attempts. */
const PERMANENT_CODES = new Set([
  'PH5_ERR_EXISTS',
  'PH5_ERR_NOT_FOUND',
  'PH5_ERR_TYPE',
  'PH5_ERR_SELECTION',
  'PH5_ERR_ARGUMENT',
  'PH5_ERR_STAGING',
  'PH5_ERR_DTYPE',
  'PH5_ERR_FILE_NAME',
  'PH5_ERR_PROJECT_NAME',
  'PH5_ERR_H5_PATH',
  'PH5_ERR_JOB_DATA',
]);

export interface CoordinatorOptions {
  config: Config;
  redisUrl: string;
  size: number;
  log: Logger;
}

export class Coordinator {
  readonly id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #opts: CoordinatorOptions;
  readonly #redis: Redis;
  readonly #locks: FileLocks;
  #worker: Worker<JobData, JobResult> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #currentJob: string | null = null;
  readonly #startedAt = Date.now();

  constructor(opts: CoordinatorOptions) {
    this.#opts = opts;
    this.#redis = new Redis(redisOptions(opts.redisUrl, 'consumer'));
    this.#locks = new FileLocks(this.#redis);
  }

  async start(): Promise<void> {
    await mkdir(stagingDir(this.#opts.config), { recursive: true });
    this.#worker = new Worker<JobData, JobResult>(QUEUE_NAME, (job) => this.#process(job), {
      connection: redisOptions(this.#opts.redisUrl, 'consumer'),
      prefix: QUEUE_PREFIX,
      // One epoch at a time: the ranks are one collective unit, and jobs of one file
      // must apply in the order they were accepted.
      concurrency: 1,
      lockDuration: 30_000,
      maxStalledCount: 10,
    });
    this.#worker.on('error', (err) => this.#opts.log.error(`queue error: ${err.message}`));
    this.#worker.on('failed', (job, err) => this.#opts.log.warn(`job ${job?.id} failed: ${err.message}`));
    await this.#beat();
    this.#heartbeat = setInterval(() => void this.#beat(), POOL_HEARTBEAT_MS);
    this.#opts.log.info(`pool ${this.id}: ${this.#opts.size} ranks, consuming '${QUEUE_NAME}'`);
  }

  /** Finishes the job in hand, stops taking jobs, releases the other ranks. */
  async stop(): Promise<void> {
    clearInterval(this.#heartbeat);
    await this.#worker?.close();
    await mpi.bcast(encodeMessage({ type: 'stop' }), 0);
    await this.#redis.multi().zrem(keys.pools, this.id).del(keys.pool(this.id)).exec().catch(() => {});
    this.#redis.disconnect();
  }

  async #beat(): Promise<void> {
    const v = versions();
    const info: PoolInfo = {
      id: this.id,
      host: os.hostname(),
      ranks: this.#opts.size,
      pid: process.pid,
      hdf5: v.hdf5,
      mpi: v.mpiLibrary,
      startedAt: this.#startedAt,
      heartbeatAt: Date.now(),
      currentJob: this.#currentJob,
    };
    await this.#redis
      .multi()
      .zadd(keys.pools, info.heartbeatAt, this.id)
      .set(keys.pool(this.id), JSON.stringify(info), 'PX', POOL_STALE_MS)
      .zremrangebyscore(keys.pools, '-inf', info.heartbeatAt - 6 * POOL_STALE_MS)
      .exec()
      .catch((err: Error) => this.#opts.log.warn(`heartbeat failed: ${err.message}`));
  }

  #plan(job: Job<JobData>): Plan {
    const data = job.data;
    if (data?.v !== 1 || !Array.isArray(data.ops) || data.ops.length === 0) {
      throw new UnrecoverableError(formatFailure('PH5_ERR_JOB_DATA', `job ${job.id} has data this worker does not understand`));
    }
    // Job data is trusted only as far as it is checked: names are validated again here.
    const project = validateProjectName(data.project);
    const file = validateFileName(data.file);
    const filePath = path.join(this.#opts.config.dataDir, project, file);
    return {
      jobId: String(job.id),
      file: filePath,
      // Decided under the file's write lease (see #process): another pool may create it.
      mode: 'rw',
      staging: stagingDir(this.#opts.config),
      ops: data.ops,
    };
  }

  async #process(job: Job<JobData, JobResult>): Promise<JobResult> {
    const started = Date.now();
    this.#currentJob = String(job.id);
    try {
      let plan: Plan;
      try {
        plan = this.#plan(job);
      } catch (err) {
        if (err instanceof UnrecoverableError) throw err;
        const e = err as { code?: string; message: string };
        throw new UnrecoverableError(formatFailure(e.code ?? 'PH5_ERR_JOB_DATA', e.message));
      }
      await mkdir(path.dirname(plan.file), { recursive: true });
      const lease = await this.#locks.acquireWrite(job.data.project, job.data.file, () =>
        this.#opts.log.error(`lost the write lease on ${plan.file} during job ${job.id}`),
      );
      let reports: RankReport[];
      try {
        plan.mode = existsSync(plan.file) ? 'rw' : 'create';
        await mpi.bcast(encodeMessage({ type: 'plan', plan }), 0);
        const mine = await applyPlan(plan, 0, this.#opts.size);
        const gathered = await mpi.gather(Buffer.from(JSON.stringify(mine)), 0);
        reports = (gathered ?? []).map((b) => JSON.parse(b.toString('utf8')) as RankReport);
      } finally {
        await lease.release();
      }
      const failed = reports.find((r) => !r.ok && r.error?.code !== 'PH5_ERR_PEER') ?? reports.find((r) => !r.ok);
      if (failed?.error) {
        const reason = formatFailure(failed.error.code, failed.error.message);
        if (PERMANENT_CODES.has(failed.error.code)) {
          await this.#dropStaged(job.data);
          throw new UnrecoverableError(reason);
        }
        if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) await this.#dropStaged(job.data);
        throw new Error(reason);
      }
      const result = this.#result(job, reports, started);
      await this.#dropStaged(job.data);
      await job.updateProgress(100);
      return result;
    } finally {
      this.#currentJob = null;
    }
  }

  #result(job: Job<JobData>, reports: RankReport[], started: number): JobResult {
    const size = this.#opts.size;
    const ops: OpResult[] = job.data.ops.map((op, i) => {
      if (op.op !== 'write') return { op: op.op, path: op.path };
      const slices = decompose(op.hyperslab, parseDtype(op.payloadDtype).size, size);
      const rankOps = reports.map((r) => r.ops[i] ?? {});
      const causes = [...new Set(rankOps.flatMap((o) => o.noCollectiveCause ?? []))];
      return {
        op: op.op,
        path: op.path,
        bytes: op.bytes,
        collective: rankOps.every((o) => o.collective !== false),
        noCollectiveCause: causes,
        decomposition: slices.map((s) => ({
          rank: s.rank,
          rows: s.rows,
          select: s.hyperslab ? formatSelection(s.hyperslab) : null,
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

  async #dropStaged(data: JobData): Promise<void> {
    const dir = stagingDir(this.#opts.config);
    for (const op of data.ops) {
      if (op.op === 'write' && path.basename(op.staged) === op.staged) {
        await rm(path.join(dir, op.staged), { force: true }).catch(() => {});
      }
    }
  }
}

/** Ranks other than 0: wait for plans, apply them, report, until told to stop. */
export async function follow(rank: number, size: number, log: Logger): Promise<void> {
  for (;;) {
    const message = decodeMessage(await mpi.bcast(null, 0));
    if (message.type === 'stop') return;
    const report = await applyPlan(message.plan, rank, size);
    if (!report.ok && report.error?.code !== 'PH5_ERR_PEER') log.warn(`job ${message.plan.jobId}: ${report.error?.message}`);
    await mpi.gather(Buffer.from(JSON.stringify(report)), 0);
  }
}
