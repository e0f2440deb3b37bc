/**
 * Which worker pools are live, as the API judges it for /readyz, /metrics and job states:
 * a heartbeat in the `ph5:pools` set younger than POOL_STALE_MS AND the pool's own record
 * (`ph5:pool:<id>`, written with a TTL of POOL_STALE_MS by every heartbeat). A pool that
 * drained removes both; one that died or hangs with its event loop stopped loses both
 * within POOL_STALE_MS. Requiring both means a stray set entry (a pool killed between the
 * two writes of its heartbeat) never counts.
 */
import type { Redis } from 'ioredis';
import { keys, POOL_STALE_MS } from '../../shared/jobs.js';

export async function livePools(redis: Redis, now = Date.now()): Promise<string[]> {
  const ids = await redis.zrangebyscore(keys.pools, now - POOL_STALE_MS, '+inf');
  if (ids.length === 0) return [];
  const records = await redis.mget(...ids.map((id) => keys.pool(id)));
  return ids.filter((_, i) => records[i] !== null);
}
