/**
 * Redis connection options for the two kinds of clients ph5 has. BullMQ needs
 * `maxRetriesPerRequest: null` on blocking (worker) connections; the API's producer uses
 * `enableOfflineQueue: false` so a request fails fast with 503 instead of hanging while
 * Redis is down.
 */
import type { RedisOptions } from 'ioredis';

export type RedisRole = 'producer' | 'consumer';

export function redisOptions(url: string, role: RedisRole): RedisOptions {
  const base: RedisOptions =
    url.startsWith('unix://') || url.startsWith('/')
      ? { path: url.replace(/^unix:\/\//, '') }
      : parseTcpUrl(url);
  if (role === 'consumer') return { ...base, maxRetriesPerRequest: null };
  return { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 };
}

function parseTcpUrl(url: string): RedisOptions {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`Unsupported Redis URL '${url}'`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db,
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}
