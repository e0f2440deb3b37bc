/**
 * The contract between the API (producer) and the worker (consumer): what a queued job
 * carries and what a finished one returns. Job data is JSON and never holds payload
 * bytes: writes point at a file in the staging area instead.
 */
import type { Hyperslab } from './selection.js';

export const QUEUE_NAME = 'ph5-writes';
export const QUEUE_PREFIX = 'ph5';
export const JOB_DATA_VERSION = 1;

export interface CreateDatasetOp {
  op: 'createDataset';
  path: string;
  /** Canonical dtype name (see dtype.ts). */
  dtype: string;
  shape: number[];
  /** Per dimension, null means unlimited. Defaults to shape. */
  maxshape?: (number | null)[];
  chunks?: number[];
  /** Fill value as raw bytes of one element in `dtype`, base64. Absent: no fill pass. */
  fillValue?: string;
}

export interface WriteOp {
  op: 'write';
  path: string;
  /** dtype of the dataset at accept time. */
  dtype: string;
  /** dtype of the staged bytes (byte order may differ; HDF5 converts). */
  payloadDtype: string;
  /** The selection as the client wrote it, for reports. */
  select: string;
  hyperslab: Hyperslab;
  /** Staged payload, relative to the data root's staging directory. */
  staged: string;
  bytes: number;
}

export type JobOp = CreateDatasetOp | WriteOp;

export interface JobData {
  v: typeof JOB_DATA_VERSION;
  /**
   * Per-file sequence number, stamped by the API atomically with the enqueue (see
   * file-state.ts): the order the worker applies the file's jobs in. Absent on jobs added
   * by other producers, which are applied in arrival order.
   */
  seq?: number;
  project: string;
  /** File name inside the project's directory. */
  file: string;
  acceptedAt: number;
  ops: JobOp[];
}

export interface RankShare {
  rank: number;
  rows: number;
  /** The rank's part of the dataset as an HSDS selection, or null when it had none. */
  select: string | null;
  bytes: number;
}

export interface OpResult {
  op: JobOp['op'];
  path: string;
  bytes?: number;
  decomposition?: RankShare[];
  /** Whether HDF5 really performed collective I/O, and why not when it did not. */
  collective?: boolean;
  noCollectiveCause?: string[];
}

export interface JobResult {
  ranks: number;
  pool: string;
  ops: OpResult[];
  timings: {
    queuedMs: number;
    openMs: number;
    applyMs: number;
    closeMs: number;
    totalMs: number;
  };
}

export function jobName(data: JobData): string {
  return `${data.project}/${data.file}:${data.ops.map((o) => o.op).join('+')}`;
}

/**
 * BullMQ keeps a failed job's reason as one string. The worker writes it as
 * `PH5_ERR_SOMETHING: human message` so the API can give the stable code back.
 */
export function formatFailure(code: string, message: string): string {
  return `${code}: ${message}`;
}

export function parseFailure(reason: string | undefined | null): { code: string; message: string } | null {
  if (!reason) return null;
  const m = /^(PH5_ERR_[A-Z0-9_]+): ([\s\S]*)$/.exec(reason);
  return m ? { code: m[1]!, message: m[2]! } : { code: 'PH5_ERR_JOB_FAILED', message: reason };
}

/** Redis keys shared by API and worker (outside BullMQ's own). */
export const keys = {
  /** Hash: HDF5 path -> JSON DatasetRecord for datasets accepted for creation. */
  datasets: (project: string, file: string) => `ph5:meta:{${project}/${file}}`,
  /** ZSET of live worker pools, score = last heartbeat (ms). */
  pools: 'ph5:pools',
  /** String (JSON PoolInfo) with a TTL, refreshed by the pool's heartbeat. */
  pool: (id: string) => `ph5:pool:${id}`,
};

/** What the API remembers of a dataset it accepted for creation (before the file has it). */
export interface DatasetRecord {
  dtype: string;
  shape: number[];
  maxshape?: (number | null)[];
  chunks?: number[];
  /** The job that creates it; if that job failed, the record is void. */
  jobId: string;
}

export interface PoolInfo {
  id: string;
  host: string;
  ranks: number;
  pid: number;
  hdf5: string;
  mpi: string;
  startedAt: number;
  heartbeatAt: number;
  currentJob: string | null;
}

/** A pool is alive if its heartbeat is younger than this. */
export const POOL_HEARTBEAT_MS = 2_000;
export const POOL_STALE_MS = 10_000;
