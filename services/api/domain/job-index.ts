/**
 * Each project's jobs, newest first, for GET /v1/jobs: a Redis sorted set per project
 * (score = acceptance time) that the API adds to when it accepts a job. BullMQ itself has
 * no index by project, and scanning the whole queue would let one project's listing cost
 * grow with every other project's traffic.
 *
 * Jobs expire from BullMQ (removeOnComplete/removeOnFail); their ids are pruned from the
 * index when a listing meets them, and the index is trimmed to the retention window.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { QUEUE_PREFIX } from '../../shared/jobs.js';

/** Longest a job is kept (failed jobs: four weeks); older index entries are dropped. */
const RETENTION_MS = 28 * 24 * 3600 * 1000;

export class JobIndex {
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  static key(project: string): string {
    return `${QUEUE_PREFIX}:jobs:${project}`;
  }

  /** Records a job just accepted, as part of the caller's transaction. */
  add(project: string, jobId: string, acceptedAt: number, tx: ChainableCommander): void {
    const key = JobIndex.key(project);
    tx.zadd(key, acceptedAt, jobId).zremrangebyscore(key, '-inf', acceptedAt - RETENTION_MS);
  }

  /** Job ids of a project, newest first, accepted before `before` (ms; exclusive) when given. */
  async page(project: string, limit: number, before?: number): Promise<{ id: string; acceptedAt: number }[]> {
    const max = before === undefined ? '+inf' : `(${before}`;
    const flat = await this.#redis.zrevrangebyscore(JobIndex.key(project), max, '-inf', 'WITHSCORES', 'LIMIT', 0, limit);
    const out: { id: string; acceptedAt: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ id: flat[i]!, acceptedAt: Number(flat[i + 1]) });
    return out;
  }

  async remove(project: string, ...jobIds: string[]): Promise<void> {
    if (jobIds.length) await this.#redis.zrem(JobIndex.key(project), ...jobIds);
  }
}
