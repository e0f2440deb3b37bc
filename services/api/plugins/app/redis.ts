/**
 * `app.redis`: the API's producer connection, shared by the queue, the registry, the file
 * locks, quotas and the rate limit. No offline queue: while Redis is down, requests that
 * need it fail at once with 503 + Retry-After.
 *
 * Building the app never waits for Redis; `ready` gives it a short moment so the first
 * requests do not fail needlessly, and carries on without it otherwise.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import type { FastifyInstance } from 'fastify';
import { redisOptions } from '../../../shared/redis.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The producer connection (fails fast while Redis is down). */
    redis: Redis;
  }
}

export interface RedisPluginOptions {
  /** How long `ready` waits for Redis before serving without it. Default 2000 ms. */
  connectWaitMs?: number;
}

async function redisPlugin(app: FastifyInstance, opts: RedisPluginOptions): Promise<void> {
  const { redisUrl } = app.config;
  if (!redisUrl) throw new Error('PH5_REDIS_URL is not set: the API needs Redis (npm start runs one for you).');
  const redis = new Redis(redisOptions(redisUrl, 'producer'));
  let warned = false;
  redis.on('error', (err) => {
    if (!warned) app.log.warn({ err: err.message }, 'Redis connection error; requests that need Redis answer 503 until it is back');
    warned = true;
  });
  redis.on('ready', () => {
    if (warned) app.log.info('Redis connection is back');
    warned = false;
  });
  app.decorate('redis', redis);

  app.addHook('onReady', async () => {
    if (redis.status === 'ready') return;
    const up = new Promise<boolean>((resolve) => redis.once('ready', () => resolve(true)));
    if (!(await Promise.race([up, sleep(opts.connectWaitMs ?? 2000, false)]))) {
      app.log.warn(`Redis at ${redisUrl} is not reachable yet; serving anyway (503 until it is)`);
    }
  });
  // Registered first among the services: closed last (fastify closes in reverse order).
  app.addHook('onClose', async () => {
    redis.disconnect();
  });
}

export default fp(redisPlugin, { name: 'redis', dependencies: ['config'] });
