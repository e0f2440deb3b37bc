/**
 * Prometheus metrics (prom-client), served at /metrics: HTTP requests and their latency by
 * route, the queue's depth by state, and finished jobs (outcome, request-to-completion
 * latency, bytes written) as this API process hears of them.
 *
 * Each app has its own registry, so several apps in one process (tests) do not collide.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobResult } from '../../../shared/jobs.js';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry;
  }
}

/** Bytes a finished job wrote, from its result (writes only). */
export function bytesWritten(result: Partial<JobResult> | null | undefined): number {
  let total = 0;
  for (const op of result?.ops ?? []) if (op.op === 'write' && typeof op.bytes === 'number') total += op.bytes;
  return total;
}

/** Seconds from acceptance to completion, from a job's result timings. */
export function jobLatencySeconds(result: Partial<JobResult> | null | undefined): number | null {
  const t = result?.timings;
  if (!t || typeof t.queuedMs !== 'number' || typeof t.totalMs !== 'number') return null;
  return (t.queuedMs + t.totalMs) / 1000;
}

async function metricsPlugin(app: FastifyInstance): Promise<void> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ph5_api_' });
  app.decorate('metrics', registry);

  const requests = new Counter({
    name: 'ph5_http_requests_total',
    help: 'HTTP requests answered, by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'ph5_http_request_duration_seconds',
    help: 'Time to answer HTTP requests, by method and route (uploads included).',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, never the URL: file names must not become label values.
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  if (!app.ph5) return; // built without Redis (OpenAPI document): no queue metrics
  const { jobs, redis } = app.ph5;
  new Gauge({
    name: 'ph5_queue_jobs',
    help: 'Jobs in the queue (all shards), by state (waiting, active, delayed, completed, failed...).',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      if (redis.status !== 'ready') return;
      const counts = await jobs.counts();
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });
  const finished = new Counter({
    name: 'ph5_jobs_finished_total',
    help: 'Jobs this API saw finish, by outcome (a failed attempt that will be retried counts as failed_attempt).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'ph5_job_latency_seconds',
    help: 'Time from acceptance to completion of completed jobs.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const bytes = new Counter({
    name: 'ph5_bytes_written_total',
    help: 'Payload bytes written by completed jobs.',
    registers: [registry],
  });
  app.addHook('onReady', async () => {
    const events = jobs.listen();
    events.on('completed', ({ returnvalue }: { returnvalue: unknown }) => {
      let result: Partial<JobResult> | null = null;
      try {
        result = (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as Partial<JobResult>;
      } catch {
        /* not ours to judge: count the job anyway */
      }
      finished.inc({ outcome: 'completed' });
      const seconds = jobLatencySeconds(result);
      if (seconds !== null) latency.observe(seconds);
      bytes.inc(bytesWritten(result));
    });
    events.on('failed', () => finished.inc({ outcome: 'failed_attempt' }));
  });
}

export default fp(metricsPlugin, { name: 'ph5-metrics', dependencies: ['ph5'] });
