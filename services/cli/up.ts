/**
 * `npm start`: the whole stack on one machine.
 *   - redis-server of our own in <dataDir>/.redis (AOF, fsync always, noeviction), unless
 *     PH5_REDIS_URL is set (then its settings are checked, see checkRedisSettings);
 *   - the API on PH5_HOST:PH5_PORT (127.0.0.1:8080);
 *   - a worker pool of PH5_RANKS ranks (4) under mpirun --oversubscribe.
 * Ctrl-C drains the pool (the job in hand finishes), stops the API, then Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../shared/config.js';
import { checkRedisSettings } from '../shared/redis.js';
import { API_NODE_FLAGS } from '../api/node-flags.js';
import { startRedisServer, type RedisServer } from '../shared/redis-server.js';
import { WorkerPool } from '../worker/pool.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const API_ENTRY = path.join(here, '..', 'api', 'server.js');

function say(msg: string): void {
  process.stderr.write(`[ph5] ${msg}\n`);
}

function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));
}

async function main(): Promise<void> {
  const config = loadConfig();
  let redis: RedisServer | undefined;
  let redisUrl = config.redisUrl;
  if (!redisUrl) {
    redis = await startRedisServer(path.join(config.dataDir, '.redis'));
    redisUrl = redis.url;
    say(`redis-server on ${redis.socket} (AOF in ${redis.dir})`);
  } else {
    // Someone else's Redis: make sure it keeps what we queue (PH5_REDIS_STRICT=1 refuses).
    await checkRedisSettings(redisUrl, { strict: process.env.PH5_REDIS_STRICT === '1', warn: say });
  }
  const env = { ...process.env, PH5_REDIS_URL: redisUrl, PH5_DATA_DIR: config.dataDir };

  const api = spawn(process.execPath, [...API_NODE_FLAGS, API_ENTRY], { env, stdio: 'inherit' });
  const pool = new WorkerPool({ ranks: config.ranks, env, log: say });
  pool.start();
  say(`worker pool: ${config.ranks} ranks under mpirun (data in ${config.dataDir})`);

  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    say(`${why}: stopping (draining the worker pool first)`);
    await pool.stop();
    api.kill('SIGTERM');
    await exited(api);
    await redis?.stop();
    say('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  api.once('exit', (code) => {
    if (!stopping) void shutdown(`the API exited (code ${code})`);
  });
}

main().catch((err: unknown) => {
  say(`failed to start: ${(err as Error).message}`);
  process.exit(1);
});
