/**
 * `app.quota`: each project's queue quota (429 beyond PH5_MAX_QUEUED_PER_PROJECT,
 * domain/quota.ts). A job stops counting when the queue says it completed or failed.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { ProjectQuota } from '../../domain/quota.js';

declare module 'fastify' {
  interface FastifyInstance {
    quota: ProjectQuota;
  }
}

async function quotaPlugin(app: FastifyInstance): Promise<void> {
  const quota = new ProjectQuota(app.redis, app.config.limits.maxQueuedPerProject);
  app.decorate('quota', quota);
  app.addHook('onReady', async () => {
    app.jobs
      .listen()
      .on('completed', ({ jobId }: { jobId: string }) => quota.completed(jobId))
      .on('failed', ({ jobId }: { jobId: string }) => quota.failed(jobId));
  });
}

export default fp(quotaPlugin, { name: 'quota', dependencies: ['config', 'redis', 'job-queue'] });
