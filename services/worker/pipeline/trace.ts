/**
 * PH5_DEBUG_SCHEDULER=<file>: the scheduler's decisions, appended to a file (not through
 * mpirun), and what rank 0 is doing now (`phase`, written there once a second).
 */
import { appendFileSync } from 'node:fs';

export class SchedulerTrace {
  phase = 'start';

  constructor(readonly poolId: string) {}

  get enabled(): boolean {
    return Boolean(process.env.PH5_DEBUG_SCHEDULER);
  }

  trace(msg: string): void {
    const file = process.env.PH5_DEBUG_SCHEDULER;
    if (file) appendFileSync(file, `${new Date().toISOString()} ${this.poolId} ${msg}\n`);
  }

  /** Records what rank 0 is doing now, and traces it. */
  debug(msg: string): void {
    this.phase = msg;
    this.trace(msg);
  }

  /** Once a second, that rank 0 is alive and where it is. */
  startHeartbeatTrace(): void {
    if (this.enabled) setInterval(() => this.trace(`alive: phase ${this.phase}`), 1000).unref();
  }
}
