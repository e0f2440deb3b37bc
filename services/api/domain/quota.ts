/**
 * Per-project queue quota: a project may have at most `limit` jobs queued or running
 * (PH5_MAX_QUEUED_PER_PROJECT); beyond it, accepting routes answer 429 before staging
 * anything.
 *
 * Bookkeeping is a Redis set of the project's unfinished job ids. The API adds an id when
 * it enqueues and removes it when it hears the job finished; since an API process can miss
 * events (it restarts, several APIs share the queue), a set that looks full is first
 * reconciled against the jobs' own records (finished or gone ids are dropped), at most
 * once per second per project, so a full quota costs one SCARD per request.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { QUEUE_PREFIX } from '../../shared/jobs.js';
import { finishedOrGone } from '../../shared/queue/index.js';
import { errors } from '../errors.js';

const RECONCILE_EVERY_MS = 1_000;

export class ProjectQuota {
  readonly #redis: Redis;
  readonly #limit: number;
  readonly #lastReconcile = new Map<string, number>();
  /** Jobs this process enqueued and has not yet seen finish: id -> project. */
  readonly #mine = new Map<string, string>();

  constructor(redis: Redis, limit: number) {
    this.#redis = redis;
    this.#limit = limit;
  }

  static key(project: string): string {
    return `${QUEUE_PREFIX}:active:${project}`;
  }

  /** Throws 429 PH5_ERR_QUEUE_FULL when the project has `limit` unfinished jobs. */
  async check(project: string): Promise<void> {
    if (this.#limit <= 0) return;
    const key = ProjectQuota.key(project);
    if ((await this.#redis.scard(key)) < this.#limit) return;
    const last = this.#lastReconcile.get(project) ?? 0;
    if (Date.now() - last >= RECONCILE_EVERY_MS) {
      this.#lastReconcile.set(project, Date.now());
      await this.#reconcile(key);
      if ((await this.#redis.scard(key)) < this.#limit) return;
    }
    throw new errors.QueueFull(`Project '${project}' already has ${this.#limit} jobs queued or running (PH5_MAX_QUEUED_PER_PROJECT); wait for some to finish.`);
  }

  /** Records a job just enqueued, as part of the caller's transaction. */
  track(project: string, jobId: string, tx: ChainableCommander): void {
    if (this.#limit <= 0) return;
    tx.sadd(ProjectQuota.key(project), jobId);
    this.#mine.set(jobId, project);
  }

  /** Forgets a completed job this process enqueued (best effort: reconciliation catches the rest). */
  completed(jobId: string): void {
    const project = this.#mine.get(jobId);
    if (project === undefined) return;
    this.#mine.delete(jobId);
    this.#redis.srem(ProjectQuota.key(project), jobId).catch(() => {});
  }

  /**
   * A job this process enqueued failed an attempt: it is no longer tracked here (it may
   * be retried; reconciliation drops it from the set once it is finished), so the map of
   * this process's jobs does not grow with failures.
   */
  failed(jobId: string): void {
    this.#mine.delete(jobId);
  }

  /** Drops ids whose job has finished or no longer exists. */
  async #reconcile(key: string): Promise<void> {
    const ids = await this.#redis.smembers(key);
    const done = await finishedOrGone(this.#redis, ids);
    if (done.length) await this.#redis.srem(key, ...done);
  }
}
