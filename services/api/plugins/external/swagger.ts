/** The OpenAPI 3.1 document (@fastify/swagger), built from the route schemas, served at /openapi.json. */
import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { implicitProblems } from '../../schemas/common.js';

export const API_VERSION = '0.1.0';

type OpenApiDoc = { paths?: Record<string, Record<string, unknown>> };

/** Shows octet-stream and .npy bodies and responses as binary strings (see schemas/common.ts BINARY). */
function markBinaryBodies(doc: OpenApiDoc): OpenApiDoc {
  const visit = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const content = (node as { content?: Record<string, { schema?: Record<string, unknown> }> }).content;
    for (const type of ['application/octet-stream', 'application/x-npy']) {
      const binary = content?.[type];
      if (binary) binary.schema = { type: 'string', format: 'binary', ...(binary.schema ?? {}) };
    }
    for (const child of Object.values(node)) visit(child);
  };
  visit(doc.paths);
  return doc;
}

/**
 * Headers declared with `required: true` next to their schema (schemas/common.ts): the
 * flag belongs to the OpenAPI header object, not to the schema @fastify/swagger copies it into.
 */
function liftRequiredHeaders(doc: OpenApiDoc): OpenApiDoc {
  for (const methods of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(methods) as {
      responses?: Record<string, { headers?: Record<string, { required?: boolean; schema?: Record<string, unknown> }> }>;
    }[]) {
      for (const response of Object.values(op.responses ?? {})) {
        for (const header of Object.values(response.headers ?? {})) {
          if (header.schema && typeof header.schema.required === 'boolean') {
            const { required, ...schema } = header.schema;
            header.schema = schema;
            if (required) header.required = true;
          }
        }
      }
    }
  }
  return doc;
}

/** What the rate limit (plugins/external/rate-limit.ts) adds to every answer of a route it counts. */
const RATE_LIMIT_HEADERS = {
  'X-RateLimit-Limit': {
    schema: { type: 'integer' },
    description: 'Requests allowed per minute for this token (PH5_RATE_LIMIT_PER_MINUTE; absent when 0, no limit).',
  },
  'X-RateLimit-Remaining': { schema: { type: 'integer', minimum: 0 }, description: 'Requests left in the current one-minute window.' },
  'X-RateLimit-Reset': { schema: { type: 'integer', minimum: 0 }, description: 'Seconds until the window starts again.' },
};

/** The rate limit's headers on the success answers of the routes it counts (those that need a token; not health, metrics). */
function declareRateLimitHeaders(doc: OpenApiDoc): OpenApiDoc {
  for (const methods of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(methods) as { security?: unknown[]; responses?: Record<string, { headers?: Record<string, unknown> }> }[]) {
      if (!op.security?.length) continue;
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        if (status.startsWith('2')) response.headers = { ...(response.headers ?? {}), ...RATE_LIMIT_HEADERS };
      }
    }
  }
  return doc;
}

async function swaggerPlugin(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'ph5',
        license: { name: 'MIT', identifier: 'MIT' },
        version: API_VERSION,
        description:
          'Remote parallel HDF5 writes. Writes are jobs: they answer 202 with the job and its URL in Location; ' +
          'GET the job (optionally with ?wait=SECONDS) to see it complete. Errors are application/problem+json with a stable code. ' +
          'Besides the answers each operation lists, any request may be refused before it reaches one, also as application/problem+json: ' +
          '400 PH5_ERR_HTTP (not well-formed HTTP) or PH5_ERR_URL (a URL that does not decode), 404 PH5_ERR_ROUTE (no such path), ' +
          '405 PH5_ERR_METHOD (the path exists for other methods, listed in Allow), 408 PH5_ERR_REQUEST_TIMEOUT (headers too slow), ' +
          '414 PH5_ERR_URI_TOO_LONG and 431 PH5_ERR_HEADERS_TOO_LARGE (16 KiB of request line and headers). Every 429 and 503 carries Retry-After.',
      },
      servers: [{ url: '/', description: 'The server this document is served by' }],
      tags: [
        { name: 'files', description: 'Your project’s HDF5 files: list, inspect, create, delete' },
        { name: 'groups', description: 'Groups inside a file' },
        { name: 'datasets', description: 'Create datasets, write and read their values, resize, delete' },
        { name: 'attributes', description: 'Attributes of files, groups and datasets' },
        { name: 'jobs', description: 'The state and result of accepted writes' },
        { name: 'workers', description: 'The worker pools that run jobs' },
        { name: 'health', description: 'Liveness, readiness and metrics' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description:
              'A token from the server’s token table (PH5_TOKENS_FILE); it names your project and role (read, write or admin). Without a token table, auth is off and the server listens on loopback only.',
          },
        },
      },
    },
    // Routes that need a role carry the bearer requirement and say which role.
    transform: ({ schema: routeSchema, url, route }) => {
      const role = (route.config as { role?: string } | undefined)?.role;
      if (!routeSchema) return { schema: routeSchema, url };
      const method = [route.method].flat()[0] ?? 'GET';
      const documented = (routeSchema as { response?: Record<string, unknown> }).response ?? {};
      const schema = { ...(routeSchema as object), response: { ...documented, ...implicitProblems(method, url, documented) } };
      if (!role) return { schema: { ...(schema as object), security: [] }, url }; // public: says so
      const s = schema as Record<string, unknown>;
      const description = typeof s.description === 'string' ? `${s.description} ` : '';
      return { schema: { ...s, security: [{ bearerAuth: [] }], description: `${description}Needs the '${role}' role.` }, url };
    },
    transformObject: (doc) =>
      ('openapiObject' in doc ? declareRateLimitHeaders(liftRequiredHeaders(markBinaryBodies(doc.openapiObject as OpenApiDoc))) : doc.swaggerObject) as never,
    refResolver: { buildLocalReference: (json, _base, _frag, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

export default fp(swaggerPlugin, { name: 'swagger' });
