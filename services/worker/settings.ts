/**
 * Tuning of the worker's queue consumption, leases and recovery, from the environment
 * (PH5_*). Defaults aim at recovery in seconds after a crash, not minutes.
 */
import { intFromEnv } from '../shared/config.js';

/**
 * PH5_FILE_SYNC: 'on' (default) or 'off'. On, every epoch's file is on stable storage
 * before its cursor moves, its jobs complete and their staged payloads are deleted (the
 * durable close, H5File.close({ sync: true })). 'off' is for scratch file systems whose
 * contents an OS crash may lose anyway: a completed job's data can then be lost with them.
 */
export function fileSync(env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = env.PH5_FILE_SYNC;
  if (raw === undefined || raw === '' || raw === 'on') return true;
  if (raw === 'off') return false;
  throw new Error(`PH5_FILE_SYNC must be 'on' or 'off', got '${raw}'`);
}

/**
 * PH5_CONTIGUOUS_WRITES: 'independent' (default) or 'collective'. A write step whose whole
 * selection is one contiguous run of a contiguous dataset (a block of whole rows) is
 * written with independent MPI-IO by default: every rank's share is then one plain write
 * of its own bytes, where collective I/O first copies them between ranks (two-phase I/O).
 * The ranks still agree before and after the step; chunked and filtered datasets and
 * other selections stay collective. 'collective' writes everything collectively (as h5py
 * with `dset.collective` does).
 */
export function contiguousWrites(env: NodeJS.ProcessEnv = process.env): 'independent' | 'collective' {
  const raw = env.PH5_CONTIGUOUS_WRITES;
  if (raw === undefined || raw === '' || raw === 'independent') return 'independent';
  if (raw === 'collective') return 'collective';
  throw new Error(`PH5_CONTIGUOUS_WRITES must be 'independent' or 'collective', got '${raw}'`);
}

/**
 * PH5_STAGED_READS: 'read' (default) or 'map'. 'map': a rank's share of a write step that
 * is one range of one staged file (1 MiB or more) is mapped (mmap) and handed to H5Dwrite
 * as is, so its bytes are copied once (into the HDF5 file) instead of twice. 'read': always
 * read into the rank's buffers. 'map' is off by default: with independent writes it
 * measured no faster. (The wrong element once blamed on it was MPI-IO filling a gap of a
 * collective write past the end of the file; see CoverAllocation in native/src.)
 */
export function stagedReads(env: NodeJS.ProcessEnv = process.env): 'map' | 'read' {
  const raw = env.PH5_STAGED_READS;
  if (raw === undefined || raw === '' || raw === 'read') return 'read';
  if (raw === 'map') return 'map';
  throw new Error(`PH5_STAGED_READS must be 'map' or 'read', got '${raw}'`);
}

export interface WorkerSettings {
  /** Jobs rank 0 holds at once (BullMQ concurrency): the pool an epoch is gathered from. */
  takeConcurrency: number;
  /** Most jobs in one epoch. */
  maxEpochJobs: number;
  /** Largest collective write step (bytes); larger writes are split, smaller ones coalesced up to it. */
  maxStepBytes: number;
  /** BullMQ job lock: a dead pool's jobs return to the queue after about this long. */
  lockMs: number;
  /** BullMQ stalled-job check interval. */
  stalledIntervalMs: number;
  /** A job given back this many times by dead pools fails (a job that kills the pool each time). */
  maxStalledCount: number;
  /** Write lease TTL (renewed at a quarter of it); a dead pool's file is free after this long. */
  leaseMs: number;
  /** A held job whose predecessor is not here goes back to the queue after this long. */
  giveBackMs: number;
  /** Staged payloads of failed jobs are deleted after this many seconds. */
  stagingRetentionS: number;
  /**
   * A file that got more jobs while its epoch ran waits this many times that epoch's
   * duration before its next epoch (0: never waits), so that a stream of small writes is
   * applied in few large epochs: an epoch costs the ranks about the same whatever its size.
   */
  epochPacing: number;
  /** The longest such wait (ms). */
  epochPacingMaxMs: number;
  /**
   * Deadline of every collective phase of an epoch (open, each write step, close, plan
   * broadcast, report gather). Past it rank 0 ends the pool (the supervisor starts a new
   * one) and the phase's jobs are charged a hang (watchdog.ts).
   */
  stepTimeoutMs: number;
  /** A job charged this many hangs is failed with PH5_ERR_WATCHDOG instead of run again. */
  hungJobAttempts: number;
  /** Sync each epoch's file to stable storage before its jobs complete (PH5_FILE_SYNC). */
  fileSync: boolean;
}

export function loadWorkerSettings(env: NodeJS.ProcessEnv = process.env): WorkerSettings {
  return {
    takeConcurrency: intFromEnv(env, 'PH5_TAKE_CONCURRENCY', 128, 1),
    maxEpochJobs: intFromEnv(env, 'PH5_EPOCH_MAX_JOBS', 512, 1),
    maxStepBytes: intFromEnv(env, 'PH5_STEP_MAX_BYTES', 64 * 1024 * 1024, 1),
    lockMs: intFromEnv(env, 'PH5_JOB_LOCK_MS', 6_000, 1000),
    stalledIntervalMs: intFromEnv(env, 'PH5_STALLED_INTERVAL_MS', 3_000, 500),
    maxStalledCount: intFromEnv(env, 'PH5_MAX_STALLED', 100, 1),
    leaseMs: intFromEnv(env, 'PH5_LEASE_MS', 6_000, 1000),
    giveBackMs: intFromEnv(env, 'PH5_GIVE_BACK_MS', 3_000, 0),
    stagingRetentionS: intFromEnv(env, 'PH5_STAGING_RETENTION_S', 7 * 24 * 3600, 0),
    epochPacing: intFromEnv(env, 'PH5_EPOCH_PACING', 4, 0),
    epochPacingMaxMs: intFromEnv(env, 'PH5_EPOCH_PACING_MAX_MS', 250, 0),
    stepTimeoutMs: intFromEnv(env, 'PH5_STEP_TIMEOUT_MS', 300_000, 1000),
    hungJobAttempts: intFromEnv(env, 'PH5_HUNG_JOB_ATTEMPTS', 2, 1),
    fileSync: fileSync(env),
  };
}
