/**
 * The scheduler loop of rank 0: the ranks run one epoch at a time, so it picks the file
 * whose oldest held job waited longest (and is not waiting: lease busy, nothing ready,
 * paced), runs its epoch, and between epochs gives back jobs that wait too long for a
 * predecessor held elsewhere or whose shard was given up. With nothing to do it sleeps
 * until a job arrives (no timers while no job is held: an idle pool is quiet).
 */
import type { WorkerSettings } from '../settings.js';
import type { Logger } from '../log.js';
import type { FileInbox, Inbox } from './inbox.js';
import type { SchedulerTrace } from './trace.js';

/** A paced file whose jobs stopped arriving this long ago has its epoch at once. */
export const PACING_QUIET_MS = 20;

/** When a paced file's wait ends: its pacing is over, or its stream has gone quiet. */
export function pacedAt(f: Pick<FileInbox, 'pacedUntil' | 'lastArrival'>): number {
  return Math.min(f.pacedUntil, f.lastArrival + PACING_QUIET_MS);
}

/**
 * Epoch pacing: a file that received jobs while its epoch ran is a stream; its next epoch
 * waits `epochPacing` times the last one's duration (capped), gathering what arrives
 * meanwhile. The ranks then spend at most about 1/(1+pacing) of their time on one busy
 * file, in epochs as large as the stream makes them, instead of running small epochs back
 * to back. A file whose jobs all went in its epoch (a lone client waiting for each write)
 * never waits, and the wait ends as soon as no job arrived for PACING_QUIET_MS (the
 * burst is over: nothing more to gather). Other files are not held up: pacing is per file.
 * Answers the wait (ms, 0: none).
 */
export function pacingWait(settings: Pick<WorkerSettings, 'epochPacing' | 'epochPacingMaxMs'>, stillHeld: number, epochMs: number): number {
  const { epochPacing, epochPacingMaxMs } = settings;
  if (epochPacing === 0 || stillHeld === 0) return 0;
  return Math.min(epochPacingMaxMs, epochPacing * Math.max(1, epochMs));
}

/** The file to run an epoch on next, or null. */
export function nextFile(files: Iterable<FileInbox>, now: number, maxEpochJobs: number): FileInbox | null {
  let best: FileInbox | null = null;
  let bestSince = Infinity;
  for (const f of files) {
    if (f.held.size === 0 || f.retryAt > now) continue;
    if (pacedAt(f) > now && f.held.size < maxEpochJobs) continue;
    const oldest = Math.min(...[...f.held.values()].map((h) => h.since));
    if (oldest < bestSince) {
      best = f;
      bestSince = oldest;
    }
  }
  return best;
}

export interface SchedulerOptions {
  inbox: Inbox;
  settings: WorkerSettings;
  log: Logger;
  trace: SchedulerTrace;
  isStopping(): boolean;
  /** Runs one epoch on the file (epoch-runner.ts). */
  epoch(f: FileInbox): Promise<void>;
}

export class Scheduler {
  readonly #opts: SchedulerOptions;
  #wake: () => void = () => {};

  constructor(opts: SchedulerOptions) {
    this.#opts = opts;
  }

  /** Ends the loop's idle wait (a job arrived, a shard was given up, the pool drains). */
  wake(): void {
    this.#wake();
  }

  async #idle(): Promise<void> {
    const waiting = [...this.#opts.inbox.files.values()].filter((f) => f.held.size > 0);
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
      // Only while jobs are held: an empty pool waits for BullMQ alone (no timers: quiet).
      if (waiting.length > 0) {
        const next = Math.min(...waiting.map((f) => Math.max(f.retryAt, pacedAt(f))));
        timer = setTimeout(resolve, Math.max(10, Math.min(500, next - Date.now())));
      }
    });
    this.#wake = () => {};
  }

  /** Runs until the pool drains. */
  async run(): Promise<void> {
    const { inbox, settings, trace, log } = this.#opts;
    let lastGiveBack = 0;
    while (!this.#opts.isStopping()) {
      const now = Date.now();
      if (now - lastGiveBack > 250) {
        lastGiveBack = now;
        await inbox.giveBackBlocked();
      }
      inbox.giveBackUnowned();
      inbox.prune();
      const next = nextFile(inbox.files.values(), now, settings.maxEpochJobs);
      if (trace.enabled) {
        trace.trace(`scheduler: ${[...inbox.files.values()].map((f) => `${f.key}:${f.held.size}@${f.retryAt - now}`).join(' ')} -> ${next?.key ?? 'idle'}`);
      }
      if (!next) {
        trace.phase = 'idle';
        await this.#idle();
        trace.phase = 'woke';
        continue;
      }
      try {
        trace.phase = `epoch ${next.key}`;
        await this.#opts.epoch(next);
      } catch (err) {
        log.error(`epoch on ${next.key} failed: ${(err as Error).stack ?? String(err)}`);
        next.retryAt = Date.now() + 500;
      }
    }
  }
}
