/**
 * `app.replication`: replicated acceptance (PH5_REDIS_MIN_REPLICAS, off by default). A 202
 * waits until Redis replicas have the accepted job (WAIT on the producer connection that
 * wrote it), else answers 503 PH5_ERR_NOT_REPLICATED (shared/replicated-accept.ts).
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { ReplicatedAcceptance } from '../../../shared/replicated-accept.js';

declare module 'fastify' {
  interface FastifyInstance {
    replication: ReplicatedAcceptance;
  }
}

async function replicationPlugin(app: FastifyInstance): Promise<void> {
  app.decorate('replication', new ReplicatedAcceptance(app.redis, app.config.replication));
}

export default fp(replicationPlugin, { name: 'replication', dependencies: ['config', 'redis'] });
