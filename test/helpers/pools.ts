/**
 * What the live worker pools publish in Redis (their heartbeat records): ids, and the
 * shards each consumes with the pools it divided them among.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { keys, POOL_STALE_MS, type PoolInfo } from '../../services/shared/jobs.js';
import { redisOptions } from '../../services/shared/redis.js';

export async function livePoolInfos(redis: Redis): Promise<PoolInfo[]> {
  const ids = await redis.zrangebyscore(keys.pools, Date.now() - POOL_STALE_MS, '+inf');
  const raw = ids.length ? await redis.mget(...ids.map((id) => keys.pool(id))) : [];
  return raw.filter((t): t is string => Boolean(t)).map((t) => JSON.parse(t) as PoolInfo);
}

/**
 * Waits until exactly `n` pools are live and each published the shards it chose from a
 * view of exactly those pools (so all computed from the same membership); returns pool id
 * -> shards. No timeout of its own: the caller's test or run bounds it.
 */
export async function stableShards(redisUrl: string, n: number): Promise<Map<string, number[]>> {
  const redis = new Redis(redisOptions(redisUrl, 'consumer'));
  try {
    for (;;) {
      const infos = await livePoolInfos(redis);
      const all = infos
        .map((i) => i.id)
        .sort()
        .join(',');
      if (infos.length === n && infos.every((i) => (i.peers ?? []).join(',') === all)) return new Map(infos.map((i) => [i.id, i.shards ?? []]));
      await sleep(200);
    }
  } finally {
    redis.disconnect();
  }
}
