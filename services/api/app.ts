/**
 * Builds the ph5 API: external plugins (OpenAPI document, Swagger UI), ph5's services,
 * routes, and the one error handler. Used by server.ts (listening), by the tests
 * (`app.inject`) and by scripts/write-openapi.ts (`connect: false`: no Redis needed).
 *
 * Building never waits for Redis: `ready` waits a moment for it, then serves anyway and
 * answers 503 + Retry-After to requests that need it until it is reachable.
 */
import type { ServerOptions } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from '../shared/config.js';
import { clientErrorHandler, frameworkErrorHandler, installErrorHandler, MAX_PARAM_LENGTH } from './errors.js';
import { buildValidator } from './validation.js';
import swaggerPlugin from './plugins/external/swagger.js';
import swaggerUiPlugin from './plugins/external/swagger-ui.js';
import underPressurePlugin from './plugins/external/under-pressure.js';
import rateLimitPlugin from './plugins/external/rate-limit.js';
import configPlugin from './plugins/app/config.js';
import authPlugin from './plugins/app/auth.js';
import redisPlugin from './plugins/app/redis.js';
import replicationPlugin from './plugins/app/replication.js';
import storagePlugin from './plugins/app/storage.js';
import jobQueuePlugin from './plugins/app/job-queue.js';
import locksPlugin from './plugins/app/locks.js';
import datasetsPlugin from './plugins/app/datasets.js';
import quotaPlugin from './plugins/app/quota.js';
import jobIndexPlugin from './plugins/app/job-index.js';
import operationsPlugin from './plugins/app/operations.js';
import writeGroupsPlugin from './plugins/app/write-groups.js';
import closingPlugin from './plugins/app/closing.js';
import metricsPlugin from './plugins/app/metrics.js';
import metricsRoutes from './routes/metrics/index.js';
import workerRoutes from './routes/workers/index.js';
import healthRoutes from './routes/health/index.js';
import fileRoutes from './routes/files/index.js';
import datasetRoutes from './routes/datasets/index.js';
import valueRoutes from './routes/values/index.js';
import groupRoutes from './routes/groups/index.js';
import attributeRoutes from './routes/attributes/index.js';
import jobRoutes from './routes/jobs/index.js';
import { Job, Problem } from './schemas/common.js';
import { DatasetInfo } from './schemas/datasets.js';
import { DTYPE_SCHEMAS } from './schemas/dtype.js';

export interface BuildOptions {
  config: Config;
  /** false: build without any Redis client (only to produce the OpenAPI document). Default true. */
  connect?: boolean;
  /** Fastify logger options; default: pino at config.logLevel. */
  logger?: FastifyServerOptions['logger'];
  /** How long `ready` waits for Redis before serving without it. Default 2000 ms. */
  connectWaitMs?: number;
  /**
   * Options of Node's HTTP server (headersTimeout, connectionsCheckingInterval…); Node's
   * defaults otherwise. Tests shorten the timeouts to see the 408 answer.
   */
  http?: ServerOptions;
}

/** JSON bodies are for convenience (parsed in memory); large data should be sent as binary. */
export const MAX_JSON_BODY_BYTES = 64 * 1024 * 1024;

export async function buildApp(opts: BuildOptions): Promise<FastifyInstance> {
  const { config } = opts;
  const app = Fastify({
    logger: opts.logger ?? { level: config.logLevel },
    // Applies to parsed (JSON) bodies; binary bodies are streamed and limited by the route.
    bodyLimit: Math.min(config.maxBodyBytes, MAX_JSON_BODY_BYTES),
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Every answer is application/problem+json, also those made before a route runs
    // (errors.ts says which way each comes in).
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    return503OnClosing: false,
    // Node answers an HTTP/1.1 request without Host with a bare 400 of its own; the
    // onRequest hook in errors.ts refuses it with a problem instead.
    http: { requireHostHeader: false, ...opts.http },
    // Query strings, parameters and headers are coerced to their types; JSON bodies never
    // are (validation.ts: coercion changed 64-bit integers sent as strings).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    schemaController: { compilersFactory: { buildValidator } },
  });
  // Bodies are JSON (or, on the value route, raw bytes and .npy): fastify's default
  // text/plain parser would hand a text body to a JSON route as a string; without it any
  // other media type is refused with 415 PH5_ERR_MEDIA_TYPE on every route.
  app.removeContentTypeParser('text/plain');
  installErrorHandler(app);
  app.addSchema(Problem);
  app.addSchema(Job);
  for (const schema of DTYPE_SCHEMAS) app.addSchema(schema);
  app.addSchema(DatasetInfo);
  await app.register(configPlugin, { config });
  await app.register(swaggerPlugin);
  await app.register(swaggerUiPlugin);
  await app.register(underPressurePlugin, { config });
  // Auth runs before the rate limit and every route; it decides the project of a request.
  await app.register(authPlugin);
  // ph5's services, one plugin and one decorator each (docs/architecture.md names them).
  // Without Redis (connect: false: only the route schemas are wanted, for the OpenAPI
  // document) none is built; routes use them only when they answer a request.
  if (opts.connect ?? true) {
    await app.register(redisPlugin, opts.connectWaitMs !== undefined ? { connectWaitMs: opts.connectWaitMs } : {});
    await app.register(replicationPlugin);
    await app.register(storagePlugin);
    await app.register(jobQueuePlugin);
    await app.register(locksPlugin);
    await app.register(datasetsPlugin);
    await app.register(quotaPlugin);
    await app.register(jobIndexPlugin);
    await app.register(operationsPlugin);
    await app.register(writeGroupsPlugin);
    await app.register(closingPlugin);
  }
  // After the services (several API processes count in Redis, on its client); auth's hook still runs first.
  await app.register(rateLimitPlugin, { config });
  await app.register(metricsPlugin);
  await app.register(healthRoutes);
  await app.register(metricsRoutes);
  await app.register(fileRoutes);
  await app.register(groupRoutes);
  await app.register(datasetRoutes);
  await app.register(valueRoutes);
  await app.register(attributeRoutes);
  await app.register(jobRoutes);
  await app.register(workerRoutes);
  return app;
}
