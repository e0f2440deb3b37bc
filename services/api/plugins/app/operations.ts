/**
 * `app.operations`: validated requests → one queued job, undone entirely if anything fails
 * (domain/operations.ts).
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Operations } from '../../domain/operations.js';

declare module 'fastify' {
  interface FastifyInstance {
    operations: Operations;
  }
}

async function operationsPlugin(app: FastifyInstance): Promise<void> {
  const { datasets, jobs, storage, quota, jobIndex, replication } = app;
  app.decorate('operations', new Operations({ datasets, jobs, storage, quota, jobIndex, replication, log: app.log }));
}

export default fp(operationsPlugin, { name: 'operations', dependencies: ['datasets', 'job-queue', 'storage', 'quota', 'job-index', 'replication'] });
