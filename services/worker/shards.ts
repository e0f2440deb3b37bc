/**
 * Which pool consumes which shard queue (see SHARDS in shared/jobs.ts).
 *
 * Every pool computes the same answer from the same list of live pools (the `ph5:pools`
 * heartbeat set): rendezvous hashing (highest random weight: each shard prefers the pools
 * in the order of hash(pool, shard)) with bounded load (a pool takes at most
 * ceil(SHARDS / pools) shards, the next preferred pool gets the rest). Rendezvous moves few
 * shards when a pool comes or goes; the bound keeps two pools at 8 + 8 instead of whatever
 * split the hashes happen to give.
 *
 * Only speed depends on this. While pools disagree (one saw a membership change a
 * heartbeat before the other), a shard may have two consumers or none for a moment: the
 * fenced write lease and the per-file order keep that safe, and the next heartbeat ends it.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import type { Redis } from 'ioredis';
import { keys, POOL_STALE_MS, SHARDS, type PoolInfo } from '../shared/jobs.js';

function weight(pool: string, shard: number): number {
  return createHash('sha256').update(`${pool}\0${shard}`).digest().readUIntBE(0, 6);
}

/** Shards of every pool (pools without a shard are absent). Deterministic in the set of pools. */
export function assignShards(pools: readonly string[], shards = SHARDS): Map<string, number[]> {
  const members = [...new Set(pools)].sort();
  const out = new Map<string, number[]>();
  if (members.length === 0) return out;
  const cap = Math.ceil(shards / members.length);
  for (let shard = 0; shard < shards; shard++) {
    const ranked = members.map((p) => ({ p, w: weight(p, shard) })).sort((a, b) => b.w - a.w || (a.p < b.p ? -1 : 1));
    const owner = ranked.find(({ p }) => (out.get(p)?.length ?? 0) < cap)!.p;
    out.set(owner, [...(out.get(owner) ?? []), shard]);
  }
  return out;
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * The live pools: heartbeat younger than POOL_STALE_MS and a record. A pool on this host
 * whose process is gone (killed, restarted by its supervisor under a new id) is dropped at
 * once, not after the staleness period: otherwise a restarted pool would leave that pool's
 * shards unconsumed for POOL_STALE_MS.
 */
export async function livePools(redis: Redis, self: string): Promise<string[]> {
  const ids = (await redis.zrangebyscore(keys.pools, Date.now() - POOL_STALE_MS, '+inf')).filter((id) => id !== self);
  const raw = ids.length ? await redis.mget(...ids.map((id) => keys.pool(id))) : [];
  const live = [self];
  const host = os.hostname();
  for (const [i, id] of ids.entries()) {
    let info: PoolInfo | null = null;
    try {
      info = raw[i] ? (JSON.parse(raw[i]) as PoolInfo) : null;
    } catch {
      info = null;
    }
    if (!info) continue;
    if (info.host === host && info.pid !== process.pid && processGone(info.pid)) {
      await redis.multi().zrem(keys.pools, id).del(keys.pool(id)).exec();
      continue;
    }
    live.push(id);
  }
  return live;
}
