/** Swagger UI at /docs, showing the document that plugins/external/swagger.ts builds. */
import fp from 'fastify-plugin';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

export const DOCS_PREFIX = '/docs';

async function swaggerUiPlugin(app: FastifyInstance): Promise<void> {
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    uiConfig: { docExpansion: 'list', deepLinking: true },
  });
}

export default fp(swaggerUiPlugin, { name: 'swagger-ui', dependencies: ['swagger'] });
