/** Liveness (the process answers) and readiness (Redis reachable, a worker pool alive). */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { POOL_STALE_MS } from '../../../shared/jobs.js';
import { errors } from '../../errors.js';
import { livePools } from '../../domain/pools.js';
import { problems } from '../../schemas/common.js';

export default async function healthRoutes(fastify: FastifyInstance): Promise<void> {
  // Request types come from the route schemas (TypeBox), not written out again.
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'getHealth',
        tags: ['health'],
        summary: 'Liveness: the API process answers',
        response: { 200: Type.Object({ status: Type.Literal('ok') }, { description: 'The process is up.', examples: [{ status: 'ok' }] }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'getReadiness',
        tags: ['health'],
        summary: 'Readiness: Redis is reachable and at least one worker pool is alive',
        description:
          `503 PH5_ERR_NOT_READY (with Retry-After) when Redis does not answer, or when no worker pool is live: none has a heartbeat younger than ${POOL_STALE_MS / 1000} s ` +
          'and its heartbeat record. A pool whose collective step hangs is ended by its watchdog (PH5_STEP_TIMEOUT_MS) and stops counting once its heartbeat is stale.',
        response: {
          200: Type.Object(
            { status: Type.Literal('ready'), pools: Type.Integer({ description: 'Worker pools with a fresh heartbeat.' }) },
            { description: 'Ready to accept and run jobs.', examples: [{ status: 'ready', pools: 1 }] },
          ),
          ...problems(503),
        },
      },
    },
    async () => {
      const { redis } = app;
      let pools: number;
      try {
        pools = (await livePools(redis)).length;
      } catch {
        throw new errors.NotReady('Redis is unreachable.');
      }
      if (pools === 0) throw new errors.NotReady('No worker pool has sent a heartbeat recently.');
      return { status: 'ready' as const, pools };
    },
  );
}
