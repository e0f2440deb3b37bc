/** `app.datasets`: the dataset registry, what accepted jobs will leave in each file (domain/datasets.ts). */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Datasets } from '../../domain/datasets.js';

declare module 'fastify' {
  interface FastifyInstance {
    datasets: Datasets;
  }
}

async function datasetsPlugin(app: FastifyInstance): Promise<void> {
  app.decorate('datasets', new Datasets(app.redis, app.jobs, app.storage, app.locks));
}

export default fp(datasetsPlugin, { name: 'datasets', dependencies: ['redis', 'job-queue', 'storage', 'locks'] });
