/**
 * The contract between the API (producer) and the worker (consumer): what a queued job
 * carries and what a finished one returns. Job data is JSON and never holds payload
 * bytes: writes point at a file in the staging area instead.
 */
import { randomUUID } from 'node:crypto';
import type { Hyperslab } from './selection.js';

export const QUEUE_PREFIX = 'ph5';
export const JOB_DATA_VERSION = 1;

/**
 * The write queue is sharded, like a topic's partitions: SHARDS BullMQ queues
 * `ph5-writes-0` .. `ph5-writes-f`, and every job of a file goes to the file's shard. Pools
 * divide the shards among themselves (services/worker/shards.ts), so a file's jobs reach
 * one pool and its lease is not handed back and forth. Correctness never depends on it:
 * the fenced write lease and the per-file order hold whoever consumes a shard.
 *
 * Fixed: a file's shard must not change while it has queued jobs (its order would span
 * two queues), so changing it means draining the queues first.
 */
export const SHARDS = 16;
const QUEUE_BASE = 'ph5-writes';

/** The BullMQ queue name of a shard. */
export function queueName(shard: number): string {
  return `${QUEUE_BASE}-${shard.toString(16)}`;
}

export function allQueueNames(): string[] {
  return Array.from({ length: SHARDS }, (_, s) => queueName(s));
}

/** A file's shard: FNV-1a (32 bit) of `project/file`, mod SHARDS. Stable everywhere. */
export function shardOfFile(project: string, file: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(`${project}/${file}`, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % SHARDS;
}

/**
 * Job ids are UUID v4 strings whose first hex digit is the shard (those bits are random in
 * a v4 UUID, so the id is still a valid, unique UUID). Every lookup by id (GET, ?wait,
 * events, cancel, quota) thus knows the one queue to ask without scanning all of them.
 */
export function newJobId(project: string, file: string): string {
  return shardOfFile(project, file).toString(16) + randomUUID().slice(1);
}

/** The shard a job id belongs to, or null for an id no ph5 job can have. */
export function shardOfJobId(id: string): number | null {
  const d = /^[0-9a-f]/.exec(id)?.[0];
  if (d === undefined) return null;
  const shard = parseInt(d, 16);
  return shard < SHARDS ? shard : null;
}

/** The queue holding a job, by its id alone (null: no ph5 job has this id). */
export function queueOfJobId(id: string): string | null {
  const shard = shardOfJobId(id);
  return shard === null ? null : queueName(shard);
}

export interface CreateDatasetOp {
  op: 'createDataset';
  path: string;
  /** Canonical dtype name (see dtype.ts). */
  dtype: string;
  shape: number[];
  /** Per dimension, null means unlimited. Defaults to shape. */
  maxshape?: (number | null)[];
  chunks?: number[];
  /** gzip (deflate) level 0..9; absent: no compression. */
  gzip?: number;
  /** Byte-shuffle before compression. */
  shuffle?: boolean;
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
  /**
   * Where this write's bytes start in the staged file. Small writes accepted together
   * share one staged file (one fsync for all of them); absent: 0.
   */
  stagedOffset?: number;
  bytes: number;
  /**
   * A point selection instead of a hyperslab (shared/points.ts): `count` points of `rank`
   * coordinates. The staged file holds, from `stagedOffset`, the coordinates (count × rank
   * uint64 little-endian, point after point) and right after them the values (`bytes`
   * bytes, in the order of the points). `hyperslab` is then the list itself,
   * `{start: [0], stride: [1], count: [count]}`: how its points are shared among ranks.
   */
  points?: { count: number; rank: number };
}

/** Creates the file if absent (the epoch's open does it); nothing else. */
export interface CreateFileOp {
  op: 'createFile';
  path: '/';
}

/** Creates a group, and any missing parents. */
export interface CreateGroupOp {
  op: 'createGroup';
  path: string;
}

/** Unlinks a group, dataset or link (a group takes its members with it). */
export interface DeleteOp {
  op: 'delete';
  path: string;
}

/** Changes a chunked dataset's extent (H5Dset_extent) within its maxshape. */
export interface ResizeOp {
  op: 'resize';
  path: string;
  shape: number[];
}

/**
 * An attribute's value as queued: elements of a fixed-size dtype (numbers, complex, enum,
 * compound; canonical text as dtype.ts formatDtype gives it) as raw bytes (base64), or
 * strings: variable-length (UTF-8, or ASCII with `charset`) or, with `length`, fixed-length
 * null-padded S<length>.
 */
export type AttributeData =
  { kind: 'numeric'; dtype: string; shape: number[]; data: string } | { kind: 'string'; value: string | string[]; length?: number; charset?: 'ascii' };

/** Creates or replaces an attribute of the object at `path` ('/' = the file). */
export interface SetAttributeOp {
  op: 'setAttribute';
  path: string;
  name: string;
  value: AttributeData;
}

export interface DeleteAttributeOp {
  op: 'deleteAttribute';
  path: string;
  name: string;
}

/**
 * Deletes the whole file. It ends its epoch: the worker unlinks the file after the jobs
 * before it, and jobs after it start a new file.
 */
export interface DeleteFileOp {
  op: 'deleteFile';
  path: '/';
}

/** Operations that change the file's structure or metadata (not its raw data). */
export type MetaOp = CreateFileOp | CreateGroupOp | DeleteOp | ResizeOp | SetAttributeOp | DeleteAttributeOp;

export type JobOp = CreateDatasetOp | WriteOp | MetaOp | DeleteFileOp;

export interface JobData {
  v: typeof JOB_DATA_VERSION;
  /**
   * Per-file sequence number, given by the API atomically with the enqueue (see
   * file-state.ts): the order the worker applies the file's jobs in. Absent on jobs added
   * by other producers, which are applied in arrival order. Kept in ph5's marks of the job,
   * not in BullMQ's data: the queue adapter (shared/queue/job-marks.ts) fills it in.
   */
  seq?: number;
  /**
   * Set (by the API, while the job waits) when a client cancelled it: the worker fails it
   * with PH5_ERR_CANCELLED without touching the file. A mark, like `seq`.
   */
  cancelled?: true;
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
  /** Hash: HDF5 path -> JSON RegistryRecord for objects with accepted, not yet visible changes. */
  datasets: (project: string, file: string) => `ph5:meta:{${project}/${file}}`,
  /** ZSET of live worker pools, score = last heartbeat (ms). */
  pools: 'ph5:pools',
  /** String (JSON PoolInfo) with a TTL, refreshed by the pool's heartbeat. */
  pool: (id: string) => `ph5:pool:${id}`,
  /** Counter: collective phases that passed their deadline (the watchdog ended a pool). */
  watchdogFired: 'ph5:stats:watchdog',
  /** Pub/sub channel: an epoch starts applying jobs of a file (JSON ApplyingEvent). */
  applyingChannel: 'ph5:applying',
};

/**
 * What the file state's `applying` field and the `applying` channel say: the pool `pool` is
 * applying the jobs of this file with sequence numbers first..last (an epoch in progress).
 * A job a pool merely holds (BullMQ 'active') is not being applied yet.
 */
export interface ApplyingEvent {
  project: string;
  file: string;
  first: number;
  last: number;
  pool: string;
}

/**
 * What the API remembers of an object it accepted a change for, until the file has it:
 * a dataset or group accepted for creation (or a dataset's new extent), or a deletion
 * (a tombstone: the path reads as absent even while the file still has it). A record
 * whose job failed is void.
 */
export interface DatasetRecord {
  kind?: 'dataset';
  dtype: string;
  shape: number[];
  maxshape?: (number | null)[];
  chunks?: number[];
  /** 'chunked' when HDF5 chose the chunks (a resize of such a dataset records it). */
  layout?: 'chunked';
  gzip?: number;
  shuffle?: boolean;
  /** One element in `dtype`, base64. */
  fillValue?: string;
  /** The job that creates (or last resized) it; if that job failed, the record is void. */
  jobId: string;
}

export interface GroupRecord {
  kind: 'group';
  jobId: string;
}

export interface DeletedRecord {
  kind: 'deleted';
  jobId: string;
}

/**
 * Every record also says when it was accepted (`at`, ms): a deletion of an ancestor (or of
 * the whole file, a record at '/') hides the records older than it, not the newer ones.
 */
export type RegistryRecord = (DatasetRecord | GroupRecord | DeletedRecord) & { at?: number };

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
  /** The shards this pool consumes, and the live pools it divided them among. */
  shards?: number[];
  peers?: string[];
}

/** A pool is alive if its heartbeat is younger than this. */
export const POOL_HEARTBEAT_MS = 2_000;
export const POOL_STALE_MS = 10_000;
