/**
 * ph5's own services, decorated on the app as `app.ph5`: configuration, storage, the job
 * queue, file locks and the dataset registry. With `connect: false` (writing the OpenAPI
 * document) nothing connects to Redis and the services are absent.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../../../shared/config.js';
import { FileLocks } from '../../../shared/file-lock.js';
import { redisOptions } from '../../../shared/redis.js';
import { Datasets } from './datasets.js';
import { Jobs } from './jobs.js';
import { Storage } from './storage.js';

export interface Ph5Services {
  config: Config;
  storage: Storage;
  redis: Redis;
  jobs: Jobs;
  locks: FileLocks;
  datasets: Datasets;
  /** The project a request acts in. Auth (tokens -> project) will decide this. */
  project(request: FastifyRequest): string;
}

declare module 'fastify' {
  interface FastifyInstance {
    ph5: Ph5Services;
  }
}

export interface Ph5PluginOptions {
  config: Config;
  connect: boolean;
}

async function ph5Plugin(app: FastifyInstance, opts: Ph5PluginOptions): Promise<void> {
  const { config } = opts;
  if (!opts.connect) {
    // Only the route schemas are wanted (OpenAPI document); no request is ever served.
    app.decorate('ph5', {} as Ph5Services);
    return;
  }
  if (!config.redisUrl) throw new Error('PH5_REDIS_URL is not set');
  const storage = new Storage(config);
  await storage.init();
  const redis = new Redis(redisOptions(config.redisUrl, 'producer'));
  redis.on('error', (err) => app.log.debug({ err }, 'redis connection error'));
  const jobs = new Jobs(config.redisUrl);
  const locks = new FileLocks(redis);
  const datasets = new Datasets(redis, jobs, storage, locks);
  app.decorate('ph5', { config, storage, redis, jobs, locks, datasets, project: () => config.defaultProject });
  // Producers fail fast while disconnected (no offline queue), so give the connections a
  // moment to come up before serving; if Redis is down, start anyway and answer 503.
  const connected = Promise.all([
    redis.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => redis.once('ready', () => resolve())),
    jobs.queue.waitUntilReady().then(() => undefined),
  ]);
  const settled = await Promise.race([connected.then(() => true), sleep(5000).then(() => false)]).catch(() => false);
  if (!settled) app.log.warn(`Redis at ${config.redisUrl} is not reachable yet: requests that need it answer 503 until it is`);
  app.addHook('onClose', async () => {
    await jobs.close().catch(() => {});
    redis.disconnect();
  });
}

export default fp(ph5Plugin, { name: 'ph5' });
