/**
 * Every environment variable ph5 reads, in one place, with its default. docs/configuration.md
 * documents the same list; keep them together.
 */
import path from 'node:path';
import os from 'node:os';

export interface Config {
  /** Root of all data: `<dataDir>/<project>/<file>`, staging in `<dataDir>/.staging`. */
  dataDir: string;
  /**
   * `redis://host:port/db`, `unix:///path/to/socket`, or through Redis Sentinel
   * `redis+sentinel://host1:26379,host2:26379/<primary name>` (shared/redis.ts). Unset:
   * `npm start` runs its own.
   */
  redisUrl: string | undefined;
  /** Replicated acceptance: a 202 only once the job reached this many Redis replicas. */
  replication: ReplicationSettings;
  host: string;
  port: number;
  /** Ranks of the local worker pool started by `npm start`. */
  ranks: number;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
  /** Largest `?wait=` a client may ask for, in seconds. */
  maxWaitSeconds: number;
  /** PH5_REDIS_STRICT=1: refuse to start on a Redis that could lose accepted jobs (no AOF, eviction); otherwise warn. */
  redisStrict: boolean;
  /** PH5_DEBUG_PID_HEADER=1 (tests only): every answer says which API process gave it (X-Ph5-Pid). */
  debugPidHeader: boolean;
  logLevel: string;
  /** Project used while auth is not configured. */
  defaultProject: string;
  /** JSON file of bearer tokens (see docs/configuration.md); unset: PH5_TOKENS or auth off. */
  tokensFile: string | undefined;
  /** The same JSON inline (for containers that pass secrets as env). */
  tokensJson: string | undefined;
  limits: Limits;
  writeGroups: WriteGroupSettings;
  /** Streamed reads (GET …/value): piece size and how long a read may hold its file. */
  reads: ReadSettings;
}

/**
 * With a replicated Redis (Sentinel), a job written to the primary but not yet to a replica
 * is lost if the primary's host dies and a replica is promoted. With `minReplicas` > 0 the
 * API sends WAIT after the job's transaction and answers 202 only once that many replicas
 * have it; otherwise 503 PH5_ERR_NOT_REPLICATED (the job may still exist: retry with the
 * same Idempotency-Key).
 */
export interface ReplicationSettings {
  /** Replicas that must have an accepted job before the 202. 0: no wait (one Redis). */
  minReplicas: number;
  /** How long to wait for them (ms) before answering 503. */
  waitMs: number;
}

/**
 * A read streams its selection in pieces while it holds the file's read lease (writers
 * wait meanwhile), so how long one read may hold it is bounded.
 */
export interface ReadSettings {
  /** Bytes of the selection read from HDF5 per piece (two pieces in memory per read). */
  pieceBytes: number;
  /** A read whose client takes no piece for this long is cut off (ms). */
  stallMs: number;
  /** A read that takes longer than this in all is cut off (ms). */
  maxMs: number;
}

/**
 * Group commit of small writes: writes of at most `maxWriteBytes` to one file that arrive
 * while the file's previous group is being committed are staged in one file (one fsync) and
 * queued as one job (one BullMQ job, one seq number), in arrival order.
 */
export interface WriteGroupSettings {
  /** Largest write (payload bytes) that may join a group. 0: every write is a job of its own. */
  maxWriteBytes: number;
  /** Most writes in one group. */
  maxWrites: number;
  /**
   * Groups of one file being staged at once. Staging a group waits for the disk (file and
   * directory fsync); the next group starts when a staging slot is free, while the one
   * before is still being queued. With more than one, the fsyncs overlap (lower latency on
   * slow disks); with one, writes gather into larger groups while the disk works: fewer
   * jobs, the least CPU per write. Enqueues go one after the other in arrival order.
   */
  inFlight: number;
}

/** Request limits: beyond them a request is refused (413/429) before anything changes. */
export interface Limits {
  /** Most dimensions a dataset may have (HDF5's own limit is 32). */
  maxDims: number;
  /** Most elements a dataset may have. */
  maxElements: number;
  /** Largest attribute value, in bytes. */
  maxAttributeBytes: number;
  /** Most jobs a project may have queued or running at once (429 beyond). 0: no limit. */
  maxQueuedPerProject: number;
  /** Requests per minute per token (or per client address with auth off). 0: no limit. */
  rateLimitPerMinute: number;
  /** Where the rate limit is counted (PH5_RATE_LIMIT_STORE); see rateLimitStore(). */
  rateLimitStore: RateLimitStore;
  /** Event-loop delay (ms) above which the API sheds load with 503. 0: never. */
  maxEventLoopDelayMs: number;
}

/** An integer setting: `fallback` when unset or empty; anything but a whole number >= `min` is refused. */
export function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got '${raw}'`);
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    dataDir: path.resolve(env.PH5_DATA_DIR || './data'),
    redisUrl: env.PH5_REDIS_URL || undefined,
    replication: {
      minReplicas: intFromEnv(env, 'PH5_REDIS_MIN_REPLICAS', 0, 0),
      waitMs: intFromEnv(env, 'PH5_REDIS_WAIT_MS', 1_000, 1),
    },
    host: env.PH5_HOST || '127.0.0.1',
    port: intFromEnv(env, 'PH5_PORT', 8080),
    ranks: intFromEnv(env, 'PH5_RANKS', 4, 1),
    maxBodyBytes: intFromEnv(env, 'PH5_MAX_BODY_BYTES', 8 * 1024 ** 3, 1),
    maxWaitSeconds: intFromEnv(env, 'PH5_MAX_WAIT_SECONDS', 60, 0),
    redisStrict: env.PH5_REDIS_STRICT === '1',
    debugPidHeader: env.PH5_DEBUG_PID_HEADER === '1',
    logLevel: logLevel(env),
    defaultProject: env.PH5_PROJECT || 'default',
    tokensFile: env.PH5_TOKENS_FILE || undefined,
    tokensJson: env.PH5_TOKENS || undefined,
    limits: {
      maxDims: intFromEnv(env, 'PH5_MAX_DIMS', 32, 1),
      maxElements: intFromEnv(env, 'PH5_MAX_ELEMENTS', 2 ** 48, 1),
      maxAttributeBytes: intFromEnv(env, 'PH5_MAX_ATTRIBUTE_BYTES', 64 * 1024, 1),
      maxQueuedPerProject: intFromEnv(env, 'PH5_MAX_QUEUED_PER_PROJECT', 10_000, 0),
      rateLimitPerMinute: intFromEnv(env, 'PH5_RATE_LIMIT_PER_MINUTE', 60_000, 0),
      rateLimitStore: rateLimitStore(env),
      maxEventLoopDelayMs: intFromEnv(env, 'PH5_MAX_EVENT_LOOP_DELAY_MS', 2_000, 0),
    },
    writeGroups: {
      maxWriteBytes: intFromEnv(env, 'PH5_GROUP_WRITE_BYTES', 64 * 1024, 0),
      maxWrites: intFromEnv(env, 'PH5_GROUP_MAX_WRITES', 256, 1),
      inFlight: intFromEnv(env, 'PH5_GROUP_COMMITS_IN_FLIGHT', 1, 1),
    },
    reads: {
      pieceBytes: intFromEnv(env, 'PH5_READ_PIECE_BYTES', 4 * 1024 ** 2, 4096),
      stallMs: intFromEnv(env, 'PH5_READ_STALL_MS', 15_000, 1),
      maxMs: intFromEnv(env, 'PH5_READ_MAX_MS', 300_000, 1),
    },
  };
}

/** PH5_LOG_LEVEL: pino's levels for the API; the worker ranks tell info, warn, error and silent apart. */
export function logLevel(env: NodeJS.ProcessEnv = process.env): string {
  return env.PH5_LOG_LEVEL || 'info';
}

/** What the `ph5` command-line client reads (its flags win): the API's URL and a bearer token. */
export function clientSettings(env: NodeJS.ProcessEnv = process.env): { url: string; token: string | undefined } {
  return { url: env.PH5_URL ?? 'http://127.0.0.1:8080', token: env.PH5_TOKEN };
}

/** PH5_RANKS (or, under Slurm, SLURM_NTASKS): the ranks of a worker pool started by `ph5 worker`. */
export function resolveRanks(env: NodeJS.ProcessEnv): number {
  return intFromEnv({ PH5_RANKS: env.PH5_RANKS || env.SLURM_NTASKS || '4' }, 'PH5_RANKS', 4, 1);
}

/** PH5_DRAIN_TIMEOUT: seconds a drain may take before the pool is killed (its job then returns to the queue). */
export function drainTimeoutMs(env: NodeJS.ProcessEnv): number {
  const raw = env.PH5_DRAIN_TIMEOUT || '100';
  const s = Number(raw);
  if (!Number.isFinite(s) || s <= 0) throw new Error(`PH5_DRAIN_TIMEOUT must be a number of seconds > 0, got '${raw}'`);
  return s * 1000;
}

export function stagingDir(config: Pick<Config, 'dataDir'>): string {
  return path.join(config.dataDir, '.staging');
}

/**
 * How many API processes serve PH5_PORT (services/api/cluster-primary.ts): an integer >= 1,
 * or `auto` = one per core, at most 4 (os.availableParallelism()). With more than one, a
 * primary process forks that many workers which share the listening socket (node:cluster).
 * Unset: 1 (see docs/configuration.md for the measurement behind the default).
 */
export function apiProcesses(env: NodeJS.ProcessEnv = process.env, cores: number = os.availableParallelism()): number {
  const raw = (env.PH5_API_PROCESSES ?? '').trim();
  if (raw === '') return DEFAULT_API_PROCESSES;
  if (raw === 'auto') return Math.max(1, Math.min(cores, MAX_AUTO_API_PROCESSES));
  return intFromEnv({ PH5_API_PROCESSES: raw }, 'PH5_API_PROCESSES', DEFAULT_API_PROCESSES, 1);
}

/** PH5_API_PROCESSES when unset. */
export const DEFAULT_API_PROCESSES = 1;
/** `auto` never starts more than this many: beyond, Redis and the pool need the cores. */
export const MAX_AUTO_API_PROCESSES = 4;

/**
 * Where the rate limit is counted (PH5_RATE_LIMIT_STORE):
 * - `redis`: in Redis, shared by every API process on that Redis: set it wherever several
 *   API hosts (or several API servers on one host) serve the same clients, or each would
 *   allow the full limit;
 * - `process`: in the API process's memory (no Redis round trip per request): right for
 *   one API process;
 * - `auto` (unset): `redis` when this process is one of several `node:cluster` API
 *   processes (PH5_API_PROCESSES > 1), `process` otherwise. An API cannot see other hosts,
 *   so separate API servers must say `redis` themselves.
 */
export type RateLimitStore = 'auto' | 'process' | 'redis';

export function rateLimitStore(env: NodeJS.ProcessEnv = process.env): RateLimitStore {
  const raw = (env.PH5_RATE_LIMIT_STORE ?? '').trim();
  if (raw === '') return 'auto';
  if (raw === 'auto' || raw === 'process' || raw === 'redis') return raw;
  throw new Error(`PH5_RATE_LIMIT_STORE must be auto, process or redis, got '${raw}'`);
}
