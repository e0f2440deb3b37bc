/**
 * The deadline of every collective phase of an epoch (open, each step, close, the plan's
 * broadcast and the reports' gather), kept by rank 0.
 *
 * A collective that never completes cannot be interrupted from inside: HDF5 and MPI wait
 * on a libuv thread (or spin) for a peer that will never come. Rank 0's JavaScript thread
 * is still free, so it keeps a timer; past the deadline it reports which jobs were in the
 * phase and ends its own process, which ends the MPI job (mpirun, srun --kill-on-bad-exit)
 * and lets the supervisor start a new pool. A job that keeps doing this is failed (poison).
 */
export interface Phase {
  /** What is running, for the log: 'open', 'step 3 (write /x)', 'close', ... */
  name: string;
  /** The sequence numbers of the jobs this phase works for (the suspects if it hangs). */
  seqs: number[];
}

export class Watchdog {
  #timer: NodeJS.Timeout | undefined;
  #phase: Phase | null = null;
  #since = 0;

  constructor(
    readonly timeoutMs: number,
    private readonly onExpire: (phase: Phase, elapsedMs: number) => void,
  ) {}

  /** Starts the deadline of a new phase (replacing the previous one's); `timeoutMs` shortens it. */
  arm(phase: Phase, timeoutMs = this.timeoutMs): void {
    clearTimeout(this.#timer);
    this.#phase = phase;
    this.#since = Date.now();
    this.#timer = setTimeout(() => this.onExpire(phase, Date.now() - this.#since), Math.min(timeoutMs, this.timeoutMs));
  }

  disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#phase = null;
  }

  /** The phase running and since when (for the pool's published state), or null when idle. */
  get current(): { phase: Phase; since: number } | null {
    return this.#phase ? { phase: this.#phase, since: this.#since } : null;
  }
}

/**
 * How long the other ranks get to reach the agreement after a step in which HDF5 failed on
 * this rank *inside* a collective write: HDF5 does not tell the others, which may stay in
 * that collective forever (a chunk that does not inflate on one rank, say). They either
 * arrive within this time or are stuck.
 */
export const BROKEN_COLLECTIVE_GRACE_MS = 15_000;

/**
 * What a held job's record of hangs means for its next epoch: run as planned, run alone
 * (it shared a step that hung: find out which job it was), or fail (it was in a hung phase
 * `limit` times already).
 */
export function hangVerdict(hangs: number, limit: number): 'run' | 'alone' | 'fail' {
  if (hangs <= 0) return 'run';
  return hangs >= limit ? 'fail' : 'alone';
}
