/**
 * The watchdog over an epoch's collective phases, on rank 0. A collective call that hangs
 * cannot be interrupted: when a phase misses its deadline, its jobs are charged one hang
 * each and the pool ends (a new one replays the epoch, or fails a job charged too often:
 * outcome.ts preflight). A rank that left a collective write with an HDF5 failure rings
 * the doorbell's alarm; the phase then gets a short deadline.
 */
import type { Redis } from 'ioredis';
import { recordHang } from '../../shared/file-state.js';
import { BROKEN_COLLECTIVE_GRACE_MS, Watchdog, type Phase } from '../watchdog.js';
import type { Logger } from '../log.js';
import { emitEvent } from './events.js';

export interface GuardedFile {
  key: string;
  project: string;
  file: string;
}

export class HangGuard {
  readonly #watchdog: Watchdog;
  /** The file whose epoch the watchdog guards. */
  #guarded: GuardedFile | null = null;

  constructor(
    readonly stepTimeoutMs: number,
    readonly redis: Redis,
    readonly log: Logger,
  ) {
    this.#watchdog = new Watchdog(stepTimeoutMs, (phase, elapsed) => this.#hung(phase, elapsed));
  }

  /** From now on the phases armed are of this file's epoch. */
  guard(file: GuardedFile): void {
    this.#guarded = file;
  }

  arm(phase: Phase, timeoutMs?: number): void {
    this.#watchdog.arm(phase, timeoutMs);
  }

  /** The epoch's collectives are over. */
  release(): void {
    this.#watchdog.disarm();
    this.#guarded = null;
  }

  /**
   * Another rank left a collective write with an HDF5 failure (doorbell alarm): the ranks
   * still in that collective may wait forever, so the phase gets a short deadline.
   */
  alarm(rank: number): void {
    const current = this.#watchdog.current;
    if (!current) return;
    this.log.warn(
      `rank ${rank}: HDF5 failed there inside a collective write during ${current.phase.name}; the other ranks get ${BROKEN_COLLECTIVE_GRACE_MS} ms to reach the agreement`,
    );
    this.#watchdog.arm({ name: `${current.phase.name}, which rank ${rank} left with an HDF5 failure`, seqs: current.phase.seqs }, BROKEN_COLLECTIVE_GRACE_MS);
  }

  /**
   * The watchdog fired: a collective phase has not finished in time, and cannot be
   * interrupted. Charge its jobs one hang each (best effort, bounded), then end this rank:
   * the launcher ends the others and the supervisor starts a new pool, which replays the
   * epoch (or fails a job charged too often). Everything else in Redis stays as it is: the
   * jobs are still active under this pool's locks and come back as stalled jobs.
   */
  #hung(phase: Phase, elapsedMs: number): void {
    const inbox = this.#guarded;
    this.log.error(
      `watchdog: ${phase.name} has not finished after ${elapsedMs} ms (PH5_STEP_TIMEOUT_MS=${this.stepTimeoutMs}); ` +
        `charging a hang to job seq ${phase.seqs.join(',') || '-'} of ${inbox?.key ?? '?'} and ending this pool so that a new one starts`,
    );
    emitEvent(this.log, 'error', { event: 'watchdog', phase: phase.name, file: inbox?.key ?? null, seqs: phase.seqs, elapsedMs });
    const charged = inbox ? recordHang(this.redis, inbox.project, inbox.file, phase.seqs) : Promise.resolve();
    const bounded = new Promise((resolve) => setTimeout(resolve, 2000).unref());
    void Promise.race([charged.catch((err: Error) => this.log.error(`watchdog: recording the hang failed: ${err.message}`)), bounded]).finally(() => {
      // SIGKILL of itself: a rank blocked in MPI may never run exit handlers.
      process.kill(process.pid, 'SIGKILL');
    });
  }
}
