/**
 * Entry point of every worker rank, started under mpirun/srun/jsrun:
 *   mpirun -n 4 node dist/services/worker/main.js
 * Rank 0 consumes the queue and coordinates; the other ranks follow its broadcasts.
 *
 * Drain: SIGUSR1 (which mpirun forwards to the ranks) or SIGTERM/SIGINT delivered to rank 0
 * finishes the job in hand, stops taking jobs, releases the other ranks and exits 0.
 * Ranks other than 0 ignore these signals and wait for rank 0's word, so that no rank
 * leaves a collective call half-done.
 */
import { mpi } from '../../native/lib/index.js';
import { loadConfig } from '../shared/config.js';
import { Coordinator, follow } from './coordinator.js';
import { joinDoorbell, openDoorbell } from './doorbell.js';
import { rankLogger } from './log.js';

const DRAIN_SIGNALS = ['SIGUSR1', 'SIGTERM', 'SIGINT'] as const;

async function main(): Promise<void> {
  const { rank, size } = mpi.init();
  const config = loadConfig();
  const log = rankLogger(rank, config.logLevel);

  if (rank !== 0) {
    for (const s of DRAIN_SIGNALS) process.on(s, () => {});
    // Collective with rank 0's openDoorbell, before anything else is broadcast.
    const doorbell = await joinDoorbell(rank, log);
    await follow(rank, size, log, doorbell);
    doorbell.close();
    mpi.finalize();
    return;
  }

  if (!config.redisUrl) {
    log.error('PH5_REDIS_URL is not set: the worker needs the queue.');
    mpi.abort(2);
    return;
  }
  const doorbell = await openDoorbell(size, log);
  const coordinator = new Coordinator({ config, redisUrl: config.redisUrl, size, log, doorbell });
  const drained = new Promise<void>((resolve, reject) => {
    let draining = false;
    const drain = (signal: string) => {
      if (draining) return;
      draining = true;
      log.info(`${signal}: draining (finishing the job in hand)`);
      coordinator.stop().then(resolve, reject);
    };
    for (const s of DRAIN_SIGNALS) process.on(s, drain);
  });
  await coordinator.start();
  await drained;
  doorbell.close();
  log.info('drained; exiting');
  mpi.finalize();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`worker fatal: ${(err as Error)?.stack ?? String(err)}\n`);
    // A rank that dies on its own would leave the others blocked in a collective call.
    try {
      mpi.abort(1);
    } finally {
      process.exit(1);
    }
  },
);
