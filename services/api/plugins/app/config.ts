/**
 * `app.config`: the configuration the API was built with (shared/config.ts reads it from
 * the environment, once, in server.ts; tests build it themselves).
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../../shared/config.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
  }
}

async function configPlugin(app: FastifyInstance, opts: { config: Config }): Promise<void> {
  app.decorate('config', opts.config);
}

export default fp(configPlugin, { name: 'config' });
