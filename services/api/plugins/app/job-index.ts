/** `app.jobIndex`: each project's jobs, newest first (domain/job-index.ts). */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { JobIndex } from '../../domain/job-index.js';

declare module 'fastify' {
  interface FastifyInstance {
    jobIndex: JobIndex;
  }
}

async function jobIndexPlugin(app: FastifyInstance): Promise<void> {
  app.decorate('jobIndex', new JobIndex(app.redis));
}

export default fp(jobIndexPlugin, { name: 'job-index', dependencies: ['redis'] });
