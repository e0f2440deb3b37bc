/**
 * What the API knows about a dataset: the registry of accepted creations (Redis hash
 * `keys.datasets(project, file)`, field = normalized HDF5 path, value = DatasetRecord) and
 * the file itself.
 *
 * A client may create a dataset and write to it in the very next request, before the
 * creation job has run, so writes are validated against the registry first and the file
 * second. A record whose creation job failed is void and is removed when met.
 *
 * The file is only ever opened serially, read-only, inside `FileLocks.withRead`, which a
 * worker's write lease excludes: a read never sees a half-applied job.
 */
import type { Redis } from 'ioredis';
import type { DatasetInfo as NativeInfo, H5File } from '../../../../native/lib/index.js';
import { formatDtype } from '../../../shared/dtype.js';
import { InputError } from '../../../shared/input-error.js';
import type { FileLocks } from '../../../shared/file-lock.js';
import { keys, type DatasetRecord } from '../../../shared/jobs.js';
import type { Jobs } from './jobs.js';
import type { Storage } from './storage.js';

export interface DatasetMeta {
  path: string;
  dtype: string;
  shape: number[];
  /** null = unlimited. */
  maxshape: (number | null)[];
  layout: 'contiguous' | 'chunked' | 'compact';
  /** null when contiguous, or (pending) when the worker will choose. */
  chunks: number[] | null;
  /** 'pending': accepted, the creation job has not run yet. */
  state: 'ready' | 'pending';
}

type NativeBinding = typeof import('../../../../native/lib/index.js');
let binding: Promise<NativeBinding> | undefined;
/**
 * The native binding, loaded on first use: the API starts, accepts writes and serves its
 * documentation even where the addon is not built (yet); only reading files needs it.
 */
function native(): Promise<NativeBinding> {
  binding ??= import('../../../../native/lib/index.js').catch((err: unknown) => {
    binding = undefined;
    throw Object.assign(
      new InputError('PH5_ERR_READS_UNAVAILABLE', 'Reading HDF5 files is unavailable on this server right now (its native HDF5 binding could not be loaded).', 503),
      { cause: err },
    );
  });
  return binding;
}

/** A Ph5NativeError with this code (checked by shape: the class lives in the lazily loaded binding). */
export function isNativeError(err: unknown, code: string): boolean {
  return err instanceof Error && err.name === 'Ph5NativeError' && (err as Error & { code?: string }).code === code;
}

// Replace a field only if it still holds what we read (compare-and-set), or delete it.
const HASH_CAS = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1
`;

interface RegistryEntry {
  raw: string;
  record: DatasetRecord;
  /** BullMQ state of the creating job; 'unknown' once the job record has expired. */
  jobState: string;
}

export class Datasets {
  constructor(
    private readonly redis: Redis,
    private readonly jobs: Jobs,
    private readonly storage: Storage,
    private readonly locks: FileLocks,
  ) {}

  /**
   * Runs `fn` with the project's file open serially read-only, while no writer has it
   * open. Null when the file does not exist.
   */
  async withFile<T>(project: string, file: string, fn: (f: H5File) => Promise<T>): Promise<T | null> {
    const { path, exists } = await this.storage.resolve(project, file);
    if (!exists) return null;
    const { H5File } = await native();
    return this.locks.withRead(project, file, async () => {
      let f: H5File;
      try {
        f = await H5File.open(path, { mode: 'r', parallel: false });
      } catch (err) {
        // Someone's other file under an HDF5-looking name is the caller's problem, not a 500.
        if (!(await this.storage.looksLikeHdf5(path).catch(() => true))) {
          throw new InputError('PH5_ERR_NOT_HDF5', `'${file}' exists in this project but is not an HDF5 file.`, 409);
        }
        throw err;
      }
      try {
        return await fn(f);
      } finally {
        await f.close();
      }
    });
  }

  /** The dataset in the file, or null (no file, nothing there). A group at the path is PH5_ERR_TYPE. */
  async onDisk(project: string, file: string, h5path: string): Promise<DatasetMeta | null> {
    const info = await this.withFile(project, file, async (f) => {
      try {
        return await f.datasetInfo(h5path);
      } catch (err) {
        if (isNativeError(err, 'PH5_ERR_NOT_FOUND')) return null;
        throw err;
      }
    });
    return info ? fromNative(h5path, info) : null;
  }

  /**
   * For writes: the dataset as accepted (registry, unless its creation failed) or as in
   * the file. Null when neither knows it.
   */
  async forWrite(project: string, file: string, h5path: string): Promise<DatasetMeta | null> {
    const entry = await this.#entry(project, file, h5path);
    if (entry) return fromRecord(h5path, entry.record, entry.jobState === 'completed' || entry.jobState === 'unknown' ? 'ready' : 'pending');
    return this.onDisk(project, file, h5path);
  }

  /**
   * For metadata: the file's view once the creation has run (layout and chunks as HDF5
   * chose them), the registry's while it is queued (state 'pending').
   */
  async describe(project: string, file: string, h5path: string): Promise<DatasetMeta | null> {
    const entry = await this.#entry(project, file, h5path);
    if (entry && entry.jobState !== 'completed' && entry.jobState !== 'unknown') return fromRecord(h5path, entry.record, 'pending');
    return this.onDisk(project, file, h5path);
  }

  /** Whether the creation of `h5path` is pending in the registry. */
  async pending(project: string, file: string, h5path: string): Promise<boolean> {
    const entry = await this.#entry(project, file, h5path);
    return entry !== null && entry.jobState !== 'completed' && entry.jobState !== 'unknown';
  }

  /**
   * Claims `h5path` for a creation. False when a dataset (or group) is already there, in
   * the file or accepted for creation and not failed. The claim itself is atomic, so two
   * concurrent creations of one path cannot both be accepted.
   */
  async claim(project: string, file: string, h5path: string, record: DatasetRecord): Promise<boolean> {
    const key = keys.datasets(project, file);
    const value = JSON.stringify(record);
    for (let attempt = 0; attempt < 3; attempt++) {
      const entry = await this.#entry(project, file, h5path);
      if (entry) return false; // pending or created by an accepted job
      if (await this.#onDiskObject(project, file, h5path)) return false;
      // Only an empty field is claimed: #entry has already removed a void record (its job
      // failed), and a record that appeared since belongs to a concurrent creation.
      if ((await this.redis.hsetnx(key, h5path, value)) === 1) return true;
      // Someone else claimed it meanwhile: look again (their record may yet prove void).
    }
    return false;
  }

  /** Drops our claim (the job could not be queued). Leaves anyone else's record alone. */
  async release(project: string, file: string, h5path: string, jobId: string): Promise<void> {
    const key = keys.datasets(project, file);
    const current = await this.redis.hget(key, h5path);
    if (current !== null && (JSON.parse(current) as DatasetRecord).jobId === jobId) {
      await this.redis.eval(HASH_CAS, 1, key, h5path, current, '');
    }
  }

  /** True when anything (dataset, group, other object) is at `h5path` in the file. */
  async #onDiskObject(project: string, file: string, h5path: string): Promise<boolean> {
    const found = await this.withFile(project, file, async (f) => {
      try {
        await f.datasetInfo(h5path);
        return true;
      } catch (err) {
        if (isNativeError(err, 'PH5_ERR_NOT_FOUND')) return false;
        if (isNativeError(err, 'PH5_ERR_TYPE')) return true; // a group, or a type we do not handle
        throw err;
      }
    });
    return found === true;
  }

  /** The registry's record, unless void (its creation job failed: then it is removed). */
  async #entry(project: string, file: string, h5path: string): Promise<RegistryEntry | null> {
    const key = keys.datasets(project, file);
    const raw = await this.redis.hget(key, h5path);
    if (raw === null) return null;
    let record: DatasetRecord;
    try {
      record = JSON.parse(raw) as DatasetRecord;
    } catch {
      return null;
    }
    const job = await this.jobs.queue.getJob(record.jobId);
    const jobState = job ? await job.getState() : 'unknown';
    if (jobState === 'failed') {
      await this.redis.eval(HASH_CAS, 1, key, h5path, raw, '');
      return null;
    }
    return { raw, record, jobState };
  }
}

function fromRecord(h5path: string, rec: DatasetRecord, state: DatasetMeta['state']): DatasetMeta {
  const maxshape = rec.maxshape ?? rec.shape;
  const chunked = rec.chunks !== undefined || maxshape.some((m, i) => m !== rec.shape[i]);
  return {
    path: h5path,
    dtype: rec.dtype,
    shape: rec.shape,
    maxshape,
    layout: chunked ? 'chunked' : 'contiguous',
    chunks: rec.chunks ?? null,
    state,
  };
}

function fromNative(h5path: string, info: NativeInfo): DatasetMeta {
  return {
    path: h5path,
    dtype: formatDtype(info.dtype),
    shape: info.shape,
    maxshape: info.maxshape.map((d) => (d === -1 ? null : d)),
    layout: info.layout,
    chunks: info.chunks,
    state: 'ready',
  };
}
