/** Prometheus scrape endpoint (plugins/app/metrics.ts defines what is measured). */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { clusterMetrics, isApiWorker } from '../../cluster-worker.js';

export default async function metricsRoutes(fastify: FastifyInstance): Promise<void> {
  // Request types come from the route schemas (TypeBox), not written out again.
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        tags: ['health'],
        summary: 'Prometheus metrics: requests, queue depth, jobs applying vs held, live pools, watchdog firings, job latency, bytes written',
        response: {
          200: {
            description: 'Prometheus text exposition format.',
            content: { 'text/plain': { schema: Type.String({ examples: ['# HELP ph5_bytes_written_total Payload bytes written by completed jobs.\n'] }) } },
          },
        },
      },
    },
    async (_request, reply) => {
      // One of several API processes: every process's metrics, gathered by the primary.
      const body = isApiWorker() ? await clusterMetrics() : await app.metrics.metrics();
      return reply.type(app.metrics.contentType).send(body);
    },
  );
}
