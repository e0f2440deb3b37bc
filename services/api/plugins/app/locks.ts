/** `app.locks`: the per-file locks in Redis (shared/file-lock.ts) that keep readers out of a file being written. */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { FileLocks } from '../../../shared/file-lock.js';

declare module 'fastify' {
  interface FastifyInstance {
    locks: FileLocks;
  }
}

async function locksPlugin(app: FastifyInstance): Promise<void> {
  app.decorate('locks', new FileLocks(app.redis));
}

export default fp(locksPlugin, { name: 'locks', dependencies: ['redis'] });
