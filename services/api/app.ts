/**
 * Builds the ph5 API: external plugins (OpenAPI, Swagger UI), ph5's services, routes, and
 * the one error handler. `connect: false` builds it without Redis, to write the OpenAPI
 * document.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from '../shared/config.js';
import { installErrorHandler } from './errors.js';
import swaggerPlugin from './plugins/external/swagger.js';
import ph5Plugin from './plugins/app/ph5.js';
import healthRoutes from './routes/health/index.js';
import fileRoutes from './routes/files/index.js';
import jobRoutes from './routes/jobs/index.js';
import { Job, Problem } from './schemas/common.js';
import { DatasetInfo } from './schemas/datasets.js';

export interface BuildOptions {
  config: Config;
  connect?: boolean;
  logger?: boolean | object;
}

/** JSON bodies are for convenience; large data should be sent as binary. */
const JSON_BODY_LIMIT = 64 * 1024 * 1024;

export async function buildApp(opts: BuildOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? { level: opts.config.logLevel },
    bodyLimit: JSON_BODY_LIMIT,
    routerOptions: { maxParamLength: 2048 },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });
  installErrorHandler(app);
  app.addSchema(Problem);
  app.addSchema(Job);
  app.addSchema(DatasetInfo);
  await app.register(swaggerPlugin);
  await app.register(ph5Plugin, { config: opts.config, connect: opts.connect ?? true });
  await app.register(healthRoutes);
  await app.register(fileRoutes);
  await app.register(jobRoutes);
  return app;
}
