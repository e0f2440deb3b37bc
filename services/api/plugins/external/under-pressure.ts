/**
 * Load shedding (@fastify/under-pressure): when the event loop lags beyond
 * PH5_MAX_EVENT_LOOP_DELAY_MS, requests are refused at once with 503 + Retry-After
 * (PH5_ERR_OVERLOADED) instead of queueing up behind the lag.
 */
import fp from 'fastify-plugin';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../../shared/config.js';
import { errors } from '../../errors.js';

async function underPressurePlugin(app: FastifyInstance, opts: { config: Config }): Promise<void> {
  const maxDelay = opts.config.limits.maxEventLoopDelayMs;
  if (maxDelay <= 0) return;
  await app.register(underPressure, {
    maxEventLoopDelay: maxDelay,
    pressureHandler: async (_request, _reply, type, value) => {
      // No delay samples at all in the last interval (the plugin reports Infinity): one
      // long pause, not a measured lag - serve rather than refuse on a guess.
      if (type === 'eventLoopDelay' && !Number.isFinite(value)) return;
      throw new errors.Overloaded(`The API is overloaded (${type} ${Math.round(value ?? 0)} ms); try again shortly.`);
    },
  });
}

export default fp(underPressurePlugin, { name: 'under-pressure' });
