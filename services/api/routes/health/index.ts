/** Liveness (the process answers) and readiness (Redis reachable, a worker pool alive). */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { keys, POOL_STALE_MS } from '../../../shared/jobs.js';
import { errors } from '../../errors.js';
import { problems } from '../../schemas/common.js';

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
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
        response: {
          200: Type.Object({ status: Type.Literal('ready'), pools: Type.Integer({ description: 'Worker pools with a fresh heartbeat.' }) }, { description: 'Ready to accept and run jobs.', examples: [{ status: 'ready', pools: 1 }] }),
          ...problems(503),
        },
      },
    },
    async () => {
      const { redis } = app.ph5;
      let pools: number;
      try {
        pools = await redis.zcount(keys.pools, Date.now() - POOL_STALE_MS, '+inf');
      } catch {
        throw new errors.NotReady('Redis is unreachable.');
      }
      if (pools === 0) throw new errors.NotReady('No worker pool has sent a heartbeat recently.');
      return { status: 'ready' as const, pools };
    },
  );
}
