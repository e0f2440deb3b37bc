/**
 * Pool membership: this pool's heartbeat in Redis (its PoolInfo, every POOL_HEARTBEAT_MS)
 * and its share of the shards, recomputed from the live pools at each heartbeat
 * (shards.ts: rendezvous hashing). The inbox starts and stops the shard Workers.
 */
import os from 'node:os';
import type { Redis } from 'ioredis';
import { versions } from '../../../native/lib/index.js';
import { keys, POOL_HEARTBEAT_MS, POOL_STALE_MS, type PoolInfo } from '../../shared/jobs.js';
import { assignShards, livePools } from '../shards.js';
import type { Logger } from '../log.js';
import { emitEvent } from './events.js';
import type { Inbox } from './inbox.js';

export interface MembershipOptions {
  id: string;
  redis: Redis;
  size: number;
  log: Logger;
  inbox: Inbox;
  isStopping(): boolean;
  /** The job whose epoch runs now (for the pool's record). */
  currentJob(): string | null;
}

export class Membership {
  readonly #opts: MembershipOptions;
  readonly #startedAt = Date.now();
  /**
   * Read once, before any HDF5 call is in flight: the native call takes the addon's global
   * HDF5 lock on the main thread, so calling it in each heartbeat blocked the event loop for
   * as long as a collective write holding that lock hung (the watchdog's timer with it).
   */
  readonly #versions = versions();
  #peers: string[] = [];
  #beating = false;
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(opts: MembershipOptions) {
    this.#opts = opts;
  }

  /** The first heartbeat (awaited), then one every POOL_HEARTBEAT_MS. */
  async start(): Promise<void> {
    await this.#beat();
    this.#heartbeat = setInterval(() => void this.#beat(), POOL_HEARTBEAT_MS);
  }

  stopBeating(): void {
    clearInterval(this.#heartbeat);
  }

  /** Out of the live set: the other pools take this pool's shards at their next heartbeat. */
  async leave(): Promise<void> {
    const { redis, id } = this.#opts;
    await redis
      .multi()
      .zrem(keys.pools, id)
      .del(keys.pool(id))
      .exec()
      .catch(() => {});
  }

  /** Heartbeat: publish this pool, then recompute its shards from the live pools. */
  async #beat(): Promise<void> {
    if (this.#beating || this.#opts.isStopping()) return;
    this.#beating = true;
    try {
      await this.#publish();
      this.#rebalance(await livePools(this.#opts.redis, this.#opts.id));
    } catch (err) {
      // Redis away: keep the shards as they are until the next heartbeat.
      this.#opts.log.warn(`heartbeat failed: ${(err as Error).message}`);
    } finally {
      this.#beating = false;
    }
  }

  async #publish(): Promise<void> {
    const v = this.#versions;
    const { id, redis } = this.#opts;
    const info: PoolInfo = {
      id,
      host: os.hostname(),
      ranks: this.#opts.size,
      pid: process.pid,
      hdf5: v.hdf5,
      mpi: v.mpiLibrary,
      startedAt: this.#startedAt,
      heartbeatAt: Date.now(),
      currentJob: this.#opts.currentJob(),
      shards: this.#opts.inbox.shards(),
      peers: [...this.#peers].sort(),
    };
    await redis
      .multi()
      .zadd(keys.pools, info.heartbeatAt, id)
      .set(keys.pool(id), JSON.stringify(info), 'PX', POOL_STALE_MS)
      .zremrangebyscore(keys.pools, '-inf', info.heartbeatAt - 6 * POOL_STALE_MS)
      .exec();
  }

  /** Makes the shard Workers match this pool's share of the shards among the live pools. */
  #rebalance(peers: string[]): void {
    if (this.#opts.isStopping()) return;
    const { inbox, id } = this.#opts;
    const mine = new Set(assignShards(peers).get(id) ?? []);
    const before = inbox.shards();
    for (const shard of before) if (!mine.has(shard)) inbox.releaseShard(shard);
    for (const shard of mine) if (!inbox.owns(shard)) inbox.startShard(shard);
    const changed = before.length !== mine.size || before.some((s) => !mine.has(s));
    const samePeers = peers.length === this.#peers.length && peers.every((p) => this.#peers.includes(p));
    this.#peers = peers;
    if (changed || !samePeers) {
      // Read by tests (two-pools): the shards each pool owns, and the pools it saw.
      emitEvent(this.#opts.log, 'info', { event: 'shards', pool: id, own: [...mine].sort((a, b) => a - b), peers: [...peers].sort(), t: Date.now() });
    }
  }
}
