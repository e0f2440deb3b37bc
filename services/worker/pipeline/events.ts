/**
 * What the pool does that tests and operators observe, as one JSON line each with a stable
 * shape: `… worker[0] info event {"event":"lease",…}`. Tests read these (test/helpers/
 * worker-events.ts) instead of parsing prose, so the prose of the other log lines can change.
 */
import type { Logger } from '../log.js';

export type WorkerEvent =
  /** The write lease on a file: taken, given back, or found lost (renewal failed, commit refused). */
  | { event: 'lease'; action: 'acquire' | 'release' | 'lost'; file: string; fence: number; pool: string; t: number; cause?: string }
  /** The shards this pool consumes and the live pools it saw (logged when either changes). */
  | { event: 'shards'; pool: string; own: number[]; peers: string[]; t: number }
  /** An epoch committed: its jobs, steps, how the cursor moved, and the file's pacing wait (ms, null: none). */
  | { event: 'epoch'; file: string; fence: number; jobs: number; steps: number; from: number; through: number; ms: number; pacedMs: number | null }
  /** The watchdog fired: a collective phase did not finish in time; the pool ends. */
  | { event: 'watchdog'; phase: string; file: string | null; seqs: number[]; elapsedMs: number }
  /** Chunks a parallel write refused to allocate were allocated serially by rank 0. */
  | { event: 'chunks-allocated'; file: string; path: string; count: number; ms: number };

export type EventLevel = 'info' | 'warn' | 'error';

export function emitEvent(log: Logger, level: EventLevel, event: WorkerEvent): void {
  log[level](`event ${JSON.stringify(event)}`);
}
