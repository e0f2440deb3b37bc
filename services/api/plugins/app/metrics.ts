/**
 * Prometheus metrics (prom-client), served at /metrics: HTTP requests and their latency by
 * route, the queue's depth by state, and finished jobs (outcome, request-to-completion
 * latency, bytes written) as this API process hears of them; and what tells a hang from
 * work: live pools, watchdog firings, and the active jobs split into those an epoch is
 * applying and those a pool merely holds.
 *
 * Each app has its own registry, so several apps in one process (tests) do not collide.
 *
 * Several API processes (PH5_API_PROCESSES > 1): a scrape reaches one of them, which asks
 * the primary to gather every process's registry (cluster-primary.ts). Per-process counts
 * (requests, their latency, memory, CPU) are summed; what every process reads from Redis
 * (queue depth, live pools, phases, watchdog firings) is taken from the first to answer;
 * what every process hears for itself from the shared job events (finished jobs, their
 * latency, bytes written) is the largest count (the longest-lived process's: a process
 * started later has heard a subset of the same events). `ph5_api_processes` says how many
 * processes answered the scrape.
 */
import cluster from 'node:cluster';
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { fileStateKey, parseApplying } from '../../../shared/file-state.js';
import { keys, type JobResult } from '../../../shared/jobs.js';
import { livePools } from '../../domain/pools.js';

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

/**
 * Jobs by phase, from the queue's counts (all shards) and the epochs in progress (each an
 * `applying` range of a live pool): `applying` are being written, `held` were taken by a
 * pool and wait for their epoch (BullMQ 'active', not applied), `waiting` are in the queue
 * (waiting, prioritized, or delayed for a retry). An epoch's range never holds more jobs
 * than are active, so applying is capped by active.
 */
export function jobPhases(counts: Record<string, number>, ranges: Array<{ first: number; last: number }>): { applying: number; held: number; waiting: number } {
  const active = counts.active ?? 0;
  const inRanges = ranges.reduce((n, r) => n + Math.max(0, r.last - r.first + 1), 0);
  const applying = Math.min(active, inRanges);
  const waiting = (counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts.delayed ?? 0) + (counts['waiting-children'] ?? 0) + (counts.paused ?? 0);
  return { applying, held: active - applying, waiting };
}

async function metricsPlugin(app: FastifyInstance): Promise<void> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ph5_api_' });
  app.decorate('metrics', registry);
  if (cluster.isWorker) {
    // Answers the primary's requests for this process's metrics (prom-client's IPC).
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([registry]);
  }
  new Gauge({ name: 'ph5_api_processes', help: 'API processes whose metrics this scrape sums (PH5_API_PROCESSES).', registers: [registry] }).set(1);

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

  if (!app.hasDecorator('jobs')) return; // built without Redis (OpenAPI document): no queue metrics
  const { jobs, redis } = app;
  // One scrape reads the queue's counts and the live pools once, whichever metric asks
  // first: prom-client starts every collect() in the same turn of the event loop, so the
  // reads are shared within that turn and never reused by the next scrape.
  let scrape: { counts: Promise<Record<string, number>>; pools: Promise<string[]> } | null = null;
  const current = () => {
    if (!scrape) {
      scrape = { counts: jobs.counts(), pools: livePools(redis) };
      scrape.counts.catch(() => {});
      scrape.pools.catch(() => {});
      setImmediate(() => (scrape = null));
    }
    return scrape;
  };
  new Gauge({
    name: 'ph5_queue_jobs',
    help: 'Jobs in the queue (all shards), by state (waiting, active, delayed, completed, failed...).',
    labelNames: ['state'] as const,
    aggregator: 'first',
    registers: [registry],
    async collect() {
      if (redis.status !== 'ready') return;
      const counts = await current().counts;
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'ph5_pools_live',
    help: 'Worker pools alive: a heartbeat younger than 10 s and its record (what /readyz counts).',
    aggregator: 'first',
    registers: [registry],
    async collect() {
      if (redis.status !== 'ready') return;
      this.set((await current().pools).length);
    },
  });
  new Counter({
    name: 'ph5_watchdog_firings_total',
    help: 'Collective steps that passed PH5_STEP_TIMEOUT_MS, each of which ended its pool (all pools, since Redis holds the count).',
    aggregator: 'first',
    registers: [registry],
    async collect() {
      if (redis.status !== 'ready') return;
      // The count lives in Redis (the pools INCR it); a counter cannot be set, so reset + inc.
      const n = Number((await redis.get(keys.watchdogFired)) ?? 0);
      this.reset();
      if (Number.isFinite(n) && n > 0) this.inc(n);
    },
  });
  new Gauge({
    name: 'ph5_jobs_phase',
    help: 'Unfinished jobs by phase: applying (an epoch of a live pool writes them), held (taken by a pool, waiting for their epoch), waiting (in the queue).',
    labelNames: ['phase'] as const,
    aggregator: 'first',
    registers: [registry],
    async collect() {
      if (redis.status !== 'ready') return;
      const { counts } = current();
      // Files this process heard an epoch start on; those whose mark is gone are dropped.
      const files = jobs.applyingFiles();
      const replies = files.length ? ((await redis.pipeline(files.map((f) => ['hget', fileStateKey(f.project, f.file), 'applying'])).exec()) ?? []) : [];
      const marks = files.map((f, i) => {
        const [err, raw] = replies[i] ?? [null, null];
        const mark = err ? null : parseApplying(raw as string | null);
        if (!err && !mark) jobs.forgetApplying(f.project, f.file);
        return mark;
      });
      // Live as for job states: the marking pool's heartbeat record exists.
      const named = [...new Set(marks.filter((m) => m !== null).map((m) => m.pool))];
      const exists = named.length ? ((await redis.pipeline(named.map((id) => ['exists', keys.pool(id)])).exec()) ?? []) : [];
      const live = new Set(named.filter((_, i) => exists[i]?.[1] === 1));
      const ranges = marks.filter((m) => m !== null && live.has(m.pool)) as Array<{ first: number; last: number }>;
      const phases = jobPhases(await counts, ranges);
      for (const [phase, n] of Object.entries(phases)) this.set({ phase }, n);
    },
  });
  const finished = new Counter({
    name: 'ph5_jobs_finished_total',
    help: 'Jobs this API saw finish, by outcome (a failed attempt that will be retried counts as failed_attempt).',
    labelNames: ['outcome'] as const,
    aggregator: 'max',
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'ph5_job_latency_seconds',
    help: 'Time from acceptance to completion of completed jobs.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    aggregator: 'max',
    registers: [registry],
  });
  const bytes = new Counter({
    name: 'ph5_bytes_written_total',
    help: 'Payload bytes written by completed jobs.',
    aggregator: 'max',
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

export default fp(metricsPlugin, { name: 'metrics' });
