/**
 * A rank's signal handling, installed before anything else of the rank runs: main.ts
 * imports this module FIRST, so its body runs before the native addon, MPI_Init, the
 * doorbell and the queue are even loaded.
 *
 *   - SIGUSR1 is ignored, always. Node's default for it is to open the inspector (a
 *     debugger on 127.0.0.1:9229: code execution for any local user, as the ranks' user),
 *     and Node 20 has no --disable-sigusr1. ph5 never sends SIGUSR1 to a rank; a stray one
 *     (a user signalling mpirun, which forwards it) must do nothing. Before this listener
 *     exists, the rank's --inspect-port (pool.ts, INSPECTOR_OFF_FLAG) makes the inspector
 *     fail to bind instead.
 *   - SIGUSR2, SIGTERM and SIGINT are the drain signals (SIGUSR2 from the supervisor through
 *     mpirun/srun, SIGTERM from Slurm's scancel to every process of the job). They are
 *     recorded from now on, so one that arrives while the rank is still starting is not
 *     lost (and does not kill it, their default), and handed to rank 0's drain once it can
 *     drain. Ranks other than 0 never act on them: they wait for rank 0's word, so that no
 *     rank leaves a collective call half-done.
 */
export const DRAIN_SIGNALS = ['SIGUSR2', 'SIGTERM', 'SIGINT'] as const;

let received: (signal: NodeJS.Signals) => void;
/** Resolves with the first drain signal, whenever it came (before or after this is read). */
export const drainSignal: Promise<NodeJS.Signals> = new Promise((resolve) => (received = resolve));

process.on('SIGUSR1', () => {
  process.stderr.write(`worker[pid ${process.pid}]: SIGUSR1 ignored (ranks drain on SIGUSR2)\n`);
});
for (const s of DRAIN_SIGNALS) process.on(s, () => received(s));
