/**
 * Request rate limit per client (@fastify/rate-limit): PH5_RATE_LIMIT_PER_MINUTE requests
 * per minute per bearer token (per address when auth is off). Beyond it: 429
 * PH5_ERR_RATE_LIMITED with Retry-After. Health probes and metrics are exempt.
 *
 * Where it is counted (PH5_RATE_LIMIT_STORE, countsInRedis below): in this process when it
 * is the only API process; in Redis when the API runs as several processes
 * (PH5_API_PROCESSES > 1) or on several hosts (PH5_RATE_LIMIT_STORE=redis, which a process
 * cannot guess: it does not see the other hosts), so that N processes do not allow N times
 * the limit: one Lua call per request (INCR + PEXPIRE of `ph5:ratelimit:<key>`, a fixed
 * one-minute window), on the API's producer connection. While Redis is unreachable
 * requests are let through (those that need Redis answer 503 anyway).
 */
import { createHash } from 'node:crypto';
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { Config, RateLimitStore } from '../../../shared/config.js';
import { QUEUE_PREFIX } from '../../../shared/jobs.js';
import { isApiWorker } from '../../cluster-worker.js';
import { errors } from '../../errors.js';
import { bearerToken } from '../app/auth.js';

const EXEMPT = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Whether the count is kept in Redis: when the setting says so, or (`auto`) when this is
 * one of several node:cluster API processes. A lone process keeps it in memory (no Redis
 * round trip per request).
 */
export function countsInRedis(store: RateLimitStore, clusterWorker: boolean): boolean {
  return store === 'redis' || (store === 'auto' && clusterWorker);
}

async function rateLimitPlugin(app: FastifyInstance, opts: { config: Config }): Promise<void> {
  const max = opts.config.limits.rateLimitPerMinute;
  if (max <= 0) return;
  // Registered after the redis plugin (app.ts), whose producer client it shares.
  const redis = countsInRedis(opts.config.limits.rateLimitStore, isApiWorker()) && app.hasDecorator('redis') ? app.redis : undefined;
  await app.register(rateLimit, {
    max,
    ...(redis ? { redis, nameSpace: `${QUEUE_PREFIX}:ratelimit:`, skipOnError: true } : {}),
    timeWindow: 60_000,
    allowList: (request) => EXEMPT.has(request.routeOptions.url ?? ''),
    // The token's hash, never the token itself, is kept as the key.
    keyGenerator: (request) => {
      const token = bearerToken(request);
      return token ? `t:${createHash('sha256').update(token).digest('hex').slice(0, 32)}` : `a:${request.ip}`;
    },
    errorResponseBuilder: (_request, context) =>
      new errors.RateLimited(`More than ${context.max} requests per minute; try again in ${Math.ceil(context.ttl / 1000)} s.`),
  });
}

export default fp(rateLimitPlugin, { name: 'rate-limit' });
