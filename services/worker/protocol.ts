/**
 * What rank 0 broadcasts to the other ranks. One message per epoch: all the work one pool
 * does on one file between opening and closing it. The ranks never talk to Redis
 * themselves, so a plan must carry everything they need.
 */
import type { CreateDatasetOp, MetaOp } from '../shared/jobs.js';
import type { Hyperslab } from '../shared/selection.js';

/** A byte range of one staged payload. */
export interface Segment {
  staged: string;
  offset: number;
  bytes: number;
}

/**
 * One collective H5Dwrite: the selection's bytes in C order are the concatenation of the
 * segments. Several jobs' writes may be coalesced into one step, and one large write may be
 * split into several (bounded memory per rank, progress between them).
 */
export interface WriteStep {
  op: 'write';
  path: string;
  payloadDtype: string;
  /** The selection; with `parts`, the first part (the step writes all the parts). */
  hyperslab: Hyperslab;
  /**
   * Scattered row blocks written by one collective H5Dwrite (a union of hyperslabs):
   * disjoint, sorted by first row, same other dimensions, first-axis stride 1. The
   * segments hold their bytes in the same order.
   */
  parts?: Hyperslab[];
  segments: Segment[];
  bytes: number;
  /**
   * A point write (never split or coalesced): `hyperslab` is the 1-D list of its points,
   * shared among the ranks like rows; `coords` the staged coordinates of all of them
   * (`rank` uint64 each), `segments` their values.
   */
  points?: { rank: number; coords: Segment };
  /** Indices into Plan.jobs of the jobs this step writes for. */
  jobs: number[];
}

export interface CreateStep {
  op: 'createDataset';
  create: CreateDatasetOp;
  jobs: number[];
}

/** A change of structure or metadata: groups, links, attributes, extents (meta-ops.ts). */
export interface MetaStep {
  op: 'meta';
  meta: MetaOp;
  jobs: number[];
}

export type Step = WriteStep | CreateStep | MetaStep;

export interface Plan {
  /** The fence of the write lease this epoch runs under (for logs). */
  epoch: number;
  /** Absolute path of the HDF5 file. */
  file: string;
  /** 'create' when rank 0 saw no file (H5F_ACC_EXCL), else 'rw'. */
  mode: 'create' | 'rw';
  /** Absolute path of the staging directory. */
  staging: string;
  jobs: Array<{ id: string; seq: number | null }>;
  steps: Step[];
}

export type Message = { type: 'plan'; plan: Plan } | { type: 'stop' };

export function encodeMessage(m: Message): Buffer {
  return Buffer.from(JSON.stringify(m));
}

export function decodeMessage(b: Buffer): Message {
  return JSON.parse(b.toString('utf8')) as Message;
}

/** Failures that no retry can fix: the job fails at once instead of burning attempts. */
export const PERMANENT_CODES = new Set([
  'PH5_ERR_EXISTS',
  'PH5_ERR_NOT_FOUND',
  'PH5_ERR_TYPE',
  'PH5_ERR_SELECTION',
  'PH5_ERR_ARGUMENT',
  'PH5_ERR_STAGING',
  'PH5_ERR_DTYPE',
  'PH5_ERR_FILE_NAME',
  'PH5_ERR_PROJECT_NAME',
  'PH5_ERR_H5_PATH',
  'PH5_ERR_JOB_DATA',
  'PH5_ERR_LAYOUT',
]);

/**
 * A step's status as the ranks agree on it (the minimum over the ranks, MPI allreduce), so
 * the worse status wins: ok, the step's one job failed for good (it alone is failed; the
 * epoch goes on), or abort (the epoch stops at this step). The ranks report the failed jobs
 * and the abort in their RankReport; rank 0 turns them into one Outcome per job
 * (pipeline/outcome.ts), which settles the job in BullMQ (pipeline/inbox.ts).
 */
export const StepStatus = { ok: 1, jobFailed: 0, abort: -1 } as const;
export type StepStatus = (typeof StepStatus)[keyof typeof StepStatus];

export interface RankFailure {
  code: string;
  message: string;
}

export interface StepReport {
  collective?: boolean;
  noCollectiveCause?: string[];
  bytes?: number;
}

/**
 * What each rank sends back to rank 0 after an epoch. Every rank took the same decisions
 * (the ranks agree on each step's outcome), so `failedJobs` and `abort` have the same keys
 * on every rank; only the rank that failed knows the real reason, the others say PH5_ERR_PEER.
 */
export interface RankReport {
  rank: number;
  /** Per step (index-aligned); absent for steps not run. */
  steps: Array<StepReport | null>;
  /** Jobs that failed for good at one of their steps (job index -> reason). */
  failedJobs: Record<number, RankFailure>;
  /** The epoch stopped at this step (-1: opening the file) and ran no later step. */
  abort?: { step: number } & RankFailure;
  openMs: number;
  applyMs: number;
  closeMs: number;
  /**
   * Where applyMs went on this rank (sums over the steps, ms): reading staged payloads
   * (readMs, some of it overlapped with writes), waiting for a read that was not done
   * when its write was due (readWaitMs), the collective H5Dwrite calls (writeMs), and the
   * agreements before and after each step (agreeMs); mappedBytes of the shares were
   * mapped from their staged files rather than read.
   */
  breakdown?: { readMs: number; readWaitMs: number; writeMs: number; agreeMs: number; mappedBytes: number };
}

/** A rank's report as sent in the gather to rank 0. */
export function encodeReport(r: RankReport): Buffer {
  return Buffer.from(JSON.stringify(r));
}

export function decodeReport(b: Buffer): RankReport {
  return JSON.parse(b.toString('utf8')) as RankReport;
}
