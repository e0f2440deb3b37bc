/** `app.storage`: where files and staged payloads live (domain/storage.ts). */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Storage } from '../../domain/storage.js';

declare module 'fastify' {
  interface FastifyInstance {
    storage: Storage;
  }
}

async function storagePlugin(app: FastifyInstance): Promise<void> {
  const storage = new Storage(app.config);
  await storage.init((msg) => app.log.warn(msg));
  app.decorate('storage', storage);
  app.addHook('onClose', async () => {
    storage.close();
  });
}

export default fp(storagePlugin, { name: 'storage', dependencies: ['config'] });
