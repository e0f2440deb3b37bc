/**
 * A real redis-server for one test file: its own temp directory and unix socket (no port
 * clashes between test files), AOF on and `noeviction`, as in production.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startRedisServer, type RedisServer } from '../../services/shared/redis-server.js';

export type TestRedis = RedisServer;

export async function startRedis(): Promise<TestRedis> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ph5-redis-'));
  const server = await startRedisServer(dir);
  const stop = server.stop;
  return Object.assign(server, {
    async stop() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  });
}
