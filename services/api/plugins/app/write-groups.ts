/** `app.writeGroups`: small writes → one staged file and one job per group (domain/write-groups.ts). */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { WriteGroups } from '../../domain/write-groups.js';

declare module 'fastify' {
  interface FastifyInstance {
    writeGroups: WriteGroups;
  }
}

async function writeGroupsPlugin(app: FastifyInstance): Promise<void> {
  app.decorate('writeGroups', new WriteGroups({ storage: app.storage, operations: app.operations }, app.config.writeGroups));
}

export default fp(writeGroupsPlugin, { name: 'write-groups', dependencies: ['config', 'storage', 'operations'] });
