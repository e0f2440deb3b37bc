/**
 * ph5's own services, decorated on the app as `app.ph5`: configuration, storage, the job
 * queue, file locks and the dataset registry.
 *
 * Redis: one producer client (no offline queue: while Redis is down, requests that need it
 * fail at once with 503 + Retry-After) shared by the queue, the registry and the file
 * locks, plus the job-events stream's own blocking connection. Building the app never
 * waits for Redis; `ready` gives it a short moment so the first requests do not fail
 * needlessly, and carries on without it otherwise. With `connect: false` (writing the
 * OpenAPI document) no client is even created.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import fp from 'fastify-plugin';
import { Redis, type ChainableCommander } from 'ioredis';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../../../shared/config.js';
import { FileLocks } from '../../../shared/file-lock.js';
import { redisOptions } from '../../../shared/redis.js';
import { ReplicatedAcceptance } from '../../../shared/replicated-accept.js';
import { Datasets } from './datasets.js';
import { Jobs } from './jobs.js';
import { JobIndex } from './job-index.js';
import { Operations } from './operations.js';
import { ProjectQuota } from './quota.js';
import { Storage } from './storage.js';
import { WriteGroups } from './write-groups.js';

export interface Ph5Services {
  config: Config;
  storage: Storage;
  /** The producer connection (fails fast while Redis is down). */
  redis: Redis;
  jobs: Jobs;
  locks: FileLocks;
  datasets: Datasets;
  /** Per-project queue quota (429 beyond PH5_MAX_QUEUED_PER_PROJECT). */
  quota: ProjectQuota;
  /** Each project's jobs, newest first. */
  jobIndex: JobIndex;
  /** Validated requests → one queued job, undone entirely if anything fails. */
  operations: Operations;
  /** Small writes → one staged file and one job per group (group commit). */
  writeGroups: WriteGroups;
  /** The WAIT for Redis replicas before a 202 (PH5_REDIS_MIN_REPLICAS; off by default). */
  replication: ReplicatedAcceptance;
  /** Records a job being accepted (quota, project index), as commands of its enqueue transaction. */
  recordAccepted(project: string, jobId: string, acceptedAt: number, tx: ChainableCommander): void;
  /** The project a request acts in: its token's (plugins/app/auth.ts). */
  project(request: FastifyRequest): string;
}

declare module 'fastify' {
  interface FastifyInstance {
    ph5: Ph5Services;
  }
}

export interface Ph5PluginOptions {
  config: Config;
  /** false: no Redis client at all; only the route schemas are wanted (OpenAPI document). */
  connect: boolean;
  /** How long `ready` waits for Redis before serving without it. Default 2000 ms. */
  connectWaitMs?: number;
}

async function ph5Plugin(app: FastifyInstance, opts: Ph5PluginOptions): Promise<void> {
  const { config } = opts;
  if (!opts.connect) {
    app.decorate('ph5', null as unknown as Ph5Services);
    return;
  }
  if (!config.redisUrl) throw new Error('PH5_REDIS_URL is not set: the API needs Redis (npm start runs one for you).');
  const storage = new Storage(config);
  await storage.init((msg) => app.log.warn(msg));

  const redis = new Redis(redisOptions(config.redisUrl, 'producer'));
  let warned = false;
  redis.on('error', (err) => {
    if (!warned) app.log.warn({ err: err.message }, 'Redis connection error; requests that need Redis answer 503 until it is back');
    warned = true;
  });
  redis.on('ready', () => {
    if (warned) app.log.info('Redis connection is back');
    warned = false;
  });
  const jobs = new Jobs(redis, redisOptions(config.redisUrl, 'consumer'));
  const locks = new FileLocks(redis);
  const datasets = new Datasets(redis, jobs, storage, locks);
  const quota = new ProjectQuota(redis, config.limits.maxQueuedPerProject);
  const project = (request: FastifyRequest): string => {
    // Only routes that declare a role get a principal; a route that needs a project must.
    if (!request.principal) throw new Error(`route ${request.routeOptions.url} needs a role to know its project`);
    return request.principal.project;
  };
  const jobIndex = new JobIndex(redis);
  const recordAccepted = (proj: string, jobId: string, acceptedAt: number, tx: ChainableCommander): void => {
    quota.track(proj, jobId, tx);
    jobIndex.add(proj, jobId, acceptedAt, tx);
  };
  const replication = new ReplicatedAcceptance(redis, config.replication);
  const operations = new Operations(app);
  const writeGroups = new WriteGroups(app, config.writeGroups);
  app.decorate('ph5', { config, storage, redis, jobs, locks, datasets, quota, jobIndex, recordAccepted, replication, operations, writeGroups, project });

  app.addHook('onReady', async () => {
    jobs
      .listen()
      .on('completed', ({ jobId }: { jobId: string }) => quota.completed(jobId))
      .on('failed', ({ jobId }: { jobId: string }) => quota.failed(jobId));
    if (redis.status === 'ready') return;
    const up = new Promise<boolean>((resolve) => redis.once('ready', () => resolve(true)));
    if (!(await Promise.race([up, sleep(opts.connectWaitMs ?? 2000, false)]))) {
      app.log.warn(`Redis at ${config.redisUrl} is not reachable yet; serving anyway (503 until it is)`);
    }
  });
  // Shutting down: long-polls would hold the server open for up to maxWaitSeconds, so they
  // are answered at once, and answers close their connection (no keep-alive to wait out).
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    jobs.wakeAll();
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.addHook('onClose', async () => {
    storage.close();
    await jobs.close();
    redis.disconnect();
  });
}

export default fp(ph5Plugin, { name: 'ph5' });
