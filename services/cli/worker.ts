/**
 * `npm run worker` (later `ph5 worker`): one worker pool consuming the queue at PH5_REDIS_URL,
 * until it is told to stop.
 *   - ranks: PH5_RANKS, else SLURM_NTASKS inside a Slurm allocation, else 4;
 *   - launcher: PH5_LAUNCHER = mpirun (default) | srun (Slurm) | jsrun (LSF), extra
 *     launcher arguments in PH5_LAUNCHER_ARGS;
 *   - SIGTERM, SIGINT, SIGHUP, SIGUSR1 or SIGUSR2 = graceful drain: the ranks finish the job
 *     in hand, stop taking jobs, and the command exits 0. (The launcher gets SIGUSR2: mpirun
 *     forwards SIGUSR1/SIGUSR2 to the ranks and would kill them on SIGTERM; SIGUSR1 would
 *     open Node's inspector in a rank still starting.)
 *   - an external Redis is checked for AOF + noeviction first (PH5_REDIS_STRICT=1 refuses).
 */
// First: SIGUSR1 must never open the inspector, not even while the rest loads.
import './no-inspector.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drainTimeoutMs, loadConfig, resolveRanks } from '../shared/config.js';
import { checkRedisSettings, redactUrl } from '../shared/redis.js';
import { parseLauncher, WorkerPool, type Launcher } from '../worker/pool.js';

export interface WorkerCommandOptions {
  env?: NodeJS.ProcessEnv;
  /** Overrides PH5_RANKS. */
  ranks?: number;
  /** Overrides PH5_LAUNCHER. */
  launcher?: Launcher;
  log?: (msg: string) => void;
  /** Called once the pool is started (tests, the future CLI). */
  onStarted?: (pool: WorkerPool) => void;
}

// SIGHUP too: the terminal that started it closed, and the pool (own process group) would
// otherwise run on without its supervisor.
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const;

/** Runs a worker pool until it is drained; resolves with the process exit code. */
export async function runWorker(opts: WorkerCommandOptions = {}): Promise<number> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((msg: string) => process.stderr.write(`[ph5 worker] ${msg}\n`));
  const config = loadConfig(env);
  if (!config.redisUrl) {
    log('PH5_REDIS_URL is not set: a worker pool needs the queue (e.g. redis://queue-host:6379 or unix:///path/redis.sock).');
    return 2;
  }
  const ranks = opts.ranks ?? resolveRanks(env);
  const launcher = opts.launcher ?? parseLauncher(env.PH5_LAUNCHER);
  const timeoutMs = drainTimeoutMs(env);
  await checkRedisSettings(config.redisUrl, { strict: env.PH5_REDIS_STRICT === '1', warn: log });

  const pool = new WorkerPool({ ranks, launcher, env: { ...env, PH5_DATA_DIR: config.dataDir }, log });
  let stopping: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    log(`${signal}: draining the pool (the job in hand finishes; up to ${timeoutMs / 1000} s)`);
    stopping = pool.stop(timeoutMs);
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  try {
    pool.start();
    log(`pool of ${ranks} ranks via ${launcher}, queue at ${redactUrl(config.redisUrl)}, data in ${config.dataDir}`);
    opts.onStarted?.(pool);
    await pool.finished;
    await stopping;
    log('drained; exiting');
    return 0;
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runWorker().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`[ph5 worker] ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
