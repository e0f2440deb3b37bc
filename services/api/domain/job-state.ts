/**
 * What state a client is shown for a job: the decision alone, with no I/O (jobs.ts gathers
 * the inputs).
 *
 * BullMQ's 'active' only means a pool took the job: a pool holds up to 128 jobs per shard
 * while it applies the current epoch's, and in a hang (a dead or stopped pool whose locks
 * have not expired yet) every held job stayed 'active' although nothing applied it. So
 * `running` needs more than 'active': the file state's `applying` mark (set by the epoch
 * that applies the job, cleared by its commit) must cover the job's seq, and the pool
 * named in it must be live (its TTL'd heartbeat key exists). Otherwise an active job is
 * `queued`: held, waiting for its epoch.
 *
 * One exception, to keep states from going back: a job whose seq the file's cursor has
 * passed was applied (the commit moved the cursor and cleared the mark) and is being
 * completed in BullMQ, milliseconds later; it stays `running` rather than flicker back to
 * `queued` between the commit and its completion. (If its pool died in that gap, the job
 * reads `running` until its BullMQ lock expires and the next pool completes it without
 * writing: its data is already in the file.)
 */
import type { JobView } from '../schemas/common.js';

export interface StateInputs {
  /** BullMQ's state: waiting, delayed, prioritized, active, completed, failed, unknown... */
  bullState: string;
  /** The job's per-file sequence number (absent on jobs other producers added). */
  seq: number | undefined;
  /** The file state's `applying` mark, parsed (null when absent). */
  applying: { first: number; last: number; pool: string } | null;
  /** Whether the pool named in `applying` is live (ignored when applying is null). */
  poolLive: boolean;
  /** The file's cursor: every seq <= applied has been applied (0 before any). */
  applied: number;
}

/** Whether the inputs need the file state at all (only an active job does). */
export function needsFileState(bullState: string): boolean {
  return bullState === 'active';
}

/** Whether an `applying` mark names this seq (whether its pool is live is asked separately). */
export function markCovers(applying: StateInputs['applying'], seq: number): boolean {
  return applying !== null && applying.first <= seq && seq <= applying.last;
}

/** The state clients see. Pure: see the header for the rule. */
export function decideState(i: StateInputs): JobView['state'] {
  if (i.bullState === 'completed' || i.bullState === 'failed') return i.bullState;
  // waiting, delayed (backoff between attempts), prioritized, waiting-children, unknown
  if (i.bullState !== 'active') return 'queued';
  // A job without a seq cannot be matched to an epoch's mark: held, as far as anyone can tell.
  if (i.seq === undefined) return 'queued';
  if (i.seq <= i.applied) return 'running';
  if (i.poolLive && markCovers(i.applying, i.seq)) return 'running';
  return 'queued';
}
