/**
 * Shutting down: long-polls would hold the server open for up to maxWaitSeconds, so they
 * are answered at once, and answers close their connection (no keep-alive to wait out).
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';

async function closingPlugin(app: FastifyInstance): Promise<void> {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    app.jobs.wakeAll();
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
}

export default fp(closingPlugin, { name: 'closing', dependencies: ['job-queue'] });
