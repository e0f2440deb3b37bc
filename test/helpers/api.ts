/**
 * The API built in-process (fastify inject) against a real redis-server and a temp data dir.
 * Every answer it gives (inject or HTTP) is checked against openapi/openapi.json
 * (helpers/contract.ts); `stop()` fails if one broke it.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../services/api/app.js';
import { loadConfig, type Config } from '../../services/shared/config.js';
import { ContractChecker, assertContractKept, watchContract } from './contract.js';
import { startRedis, type TestRedis } from './redis.js';

const execFileP = promisify(execFile);

export interface TestApi {
  app: FastifyInstance;
  config: Config;
  redis: TestRedis;
  /** Files in the staging area: must be empty after every refused request. */
  staged(): Promise<string[]>;
  /** Jobs in the queue in any state. */
  jobCount(): Promise<number>;
  stop(): Promise<void>;
}

export async function startApi(env: NodeJS.ProcessEnv = {}): Promise<TestApi> {
  const redis = await startRedis();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ph5-api-'));
  const config = loadConfig({ PH5_DATA_DIR: dataDir, PH5_REDIS_URL: redis.url, PH5_LOG_LEVEL: 'silent', ...env });
  // The checker is built before the app: its synchronous set-up must not count as the
  // app's event-loop delay (under-pressure would answer 503).
  const checker = ContractChecker.fromFile();
  const app = await buildApp({ config, logger: false });
  watchContract(app, checker);
  await app.ready();
  return {
    app,
    config,
    redis,
    staged: async () => readdir(path.join(dataDir, '.staging')),
    jobCount: async () => {
      const counts = await app.jobs.counts();
      return Object.values(counts).reduce((a, b) => a + b, 0);
    },
    stop: async () => {
      await app.close();
      await redis.stop();
      await rm(dataDir, { recursive: true, force: true });
      assertContractKept(app);
    },
  };
}

/**
 * Makes `name` in the default project's data directory with an h5py program (run by
 * /usr/bin/python3; `sys.argv[1]` is the file's path): files as h5py users bring them.
 */
export async function writeWithH5py(api: TestApi, name: string, program: string): Promise<string> {
  const dir = path.join(api.config.dataDir, 'default');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, name);
  await execFileP('/usr/bin/python3', ['-c', program, file], { env: { PATH: process.env.PATH }, maxBuffer: 64 * 1024 * 1024 });
  return file;
}
