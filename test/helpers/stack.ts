/**
 * The whole ph5 stack for integration tests, all real: a redis-server, the API as its own
 * process on a free loopback port, and a worker pool under mpirun.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_NODE_FLAGS } from '../../services/api/node-flags.js';
import { WorkerPool } from '../../services/worker/pool.js';
import { startRedis, type TestRedis } from './redis.js';

const API_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'services', 'api', 'server.js');

export interface Stack {
  url: string;
  dataDir: string;
  /** Where a file of the default project lives on disk. */
  filePath(name: string): string;
  redis: TestRedis;
  pool: WorkerPool;
  api: ChildProcess;
  /** Everything the ranks and the API printed, for assertions and post-mortems. */
  logs(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export async function startStack(opts: { ranks: number; env?: NodeJS.ProcessEnv }): Promise<Stack> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ph5-data-'));
  const redis = await startRedis();
  const port = await freePort();
  let output = '';
  const env = {
    ...process.env,
    PH5_REDIS_URL: redis.url,
    PH5_DATA_DIR: dataDir,
    PH5_PORT: String(port),
    PH5_HOST: '127.0.0.1',
    PH5_LOG_LEVEL: process.env.PH5_LOG_LEVEL ?? 'warn',
    ...opts.env,
  };
  // PH5_TEST_API_NODE_ARGS: extra node flags for the API process, e.g. to profile it under a
  // benchmark ('--cpu-prof --cpu-prof-dir=/tmp/prof').
  const extra = (process.env.PH5_TEST_API_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const api = spawn(process.execPath, [...API_NODE_FLAGS, ...extra, API_ENTRY], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  api.stdout.on('data', (b: Buffer) => (output += b.toString()));
  api.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const pool = new WorkerPool({ ranks: opts.ranks, env, stdio: 'pipe', onOutput: (s) => (output += s), log: (s) => (output += `${s}\n`) });
  pool.start();
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await pool.stop(20_000);
    api.kill('SIGTERM');
    if (api.exitCode === null) await new Promise((r) => api.once('exit', r));
    await redis.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    // Ready means: API up, Redis reachable, and the pool's heartbeat seen.
    await waitFor(async () => (await fetch(`${url}/readyz`)).ok, 60_000, `the stack to be ready\n${output}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    dataDir,
    filePath: (name) => path.join(dataDir, 'default', name),
    redis,
    pool,
    api,
    logs: () => output,
    stop,
  };
}
