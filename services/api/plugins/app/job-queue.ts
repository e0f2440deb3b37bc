/**
 * `app.jobs`: the job queue (the Jobs class of jobs.ts) on the producer connection, with
 * its own blocking connection for job events, which it starts reading when the app is
 * ready.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { redisOptions } from '../../../shared/redis.js';
import { Jobs } from '../../domain/jobs.js';

declare module 'fastify' {
  interface FastifyInstance {
    jobs: Jobs;
  }
}

async function jobQueuePlugin(app: FastifyInstance): Promise<void> {
  const jobs = new Jobs(app.redis, redisOptions(app.config.redisUrl!, 'consumer'));
  app.decorate('jobs', jobs);
  app.addHook('onReady', async () => {
    jobs.listen();
  });
  app.addHook('onClose', async () => {
    await jobs.close();
  });
}

export default fp(jobQueuePlugin, { name: 'job-queue', dependencies: ['config', 'redis'] });
