/**
 * Entry point of every worker rank, started under mpirun/srun/jsrun:
 *   mpirun -n 4 node dist/services/worker/main.js
 * Rank 0 consumes the queue and coordinates; the other ranks follow its broadcasts.
 *
 * Drain: SIGUSR2 (which mpirun forwards to the ranks) or SIGTERM/SIGINT delivered to rank 0
 * finishes the job in hand, stops taking jobs, releases the other ranks and exits 0.
 * Ranks other than 0 ignore these signals and wait for rank 0's word, so that no rank
 * leaves a collective call half-done. SIGUSR1 does nothing (rank-signals.ts says why).
 */
// First import, so that its handlers are installed before anything else of the rank loads.
import { drainSignal } from './rank-signals.js';
import { mpi } from '../../native/lib/index.js';
import { loadConfig } from '../shared/config.js';
import { Coordinator, follow } from './coordinator.js';
import { joinDoorbell, openDoorbell } from './doorbell.js';
import { rankLogger } from './log.js';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long after the coordinator started a drain waits (see below). */
const STARTUP_SETTLE_MS = 1000;

async function main(): Promise<void> {
  const { rank, size } = mpi.init();
  const config = loadConfig();
  const log = rankLogger(rank, config.logLevel);

  if (rank !== 0) {
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
  await coordinator.start();
  const settled = sleep(STARTUP_SETTLE_MS);
  // A drain signal that came while the rank was starting is acted on now (stop() must not
  // race start()), and not before the queue connections had a moment to come up: BullMQ's
  // Worker.close() during its connection's start-up removes the connection's error
  // listeners, and the start-up's rejection ("Connection is closed") then crashes rank 0
  // (seen on Ctrl-C right after the pool started). The proper fix belongs in
  // Coordinator.stop() (wait for each Worker to be ready, or keep an error listener).
  const signal = await drainSignal;
  await settled;
  log.info(`${signal}: draining (finishing the job in hand)`);
  await coordinator.stop();
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
