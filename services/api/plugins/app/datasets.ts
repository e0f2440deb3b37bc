/**
 * What the API knows about a dataset before and after the worker creates it.
 *
 * A client may create a dataset and write to it in the next request, before the create
 * job has run: the write must be validated against the shape it will have. So every
 * accepted create is recorded in Redis (`keys.datasets`); a lookup answers from that
 * record while its job is pending, and from the file itself otherwise.
 */
import type { Redis } from 'ioredis';
import { H5File, Ph5NativeError, type DatasetInfo as NativeInfo } from '../../../../native/lib/index.js';
import { formatDtype } from '../../../shared/dtype.js';
import type { FileLocks } from '../../../shared/file-lock.js';
import { keys, type DatasetRecord } from '../../../shared/jobs.js';
import type { Jobs } from './jobs.js';
import type { Storage } from './storage.js';

export interface DatasetMeta {
  path: string;
  dtype: string;
  shape: number[];
  maxshape: (number | null)[];
  layout: string;
  chunks: number[] | null;
  state: 'ready' | 'pending';
}

export class Datasets {
  constructor(
    private readonly redis: Redis,
    private readonly jobs: Jobs,
    private readonly storage: Storage,
    private readonly locks: FileLocks,
  ) {}

  /** Opens the project's file read-only, serially, while no writer has it open. */
  async withFile<T>(project: string, file: string, fn: (f: H5File) => Promise<T>): Promise<T | null> {
    const { path, exists } = await this.storage.resolve(project, file);
    if (!exists) return null;
    return this.locks.withRead(project, file, async () => {
      const f = await H5File.open(path, { mode: 'r', parallel: false });
      try {
        return await fn(f);
      } finally {
        await f.close();
      }
    });
  }

  async record(project: string, file: string, h5path: string, rec: DatasetRecord): Promise<void> {
    await this.redis.hset(keys.datasets(project, file), h5path, JSON.stringify(rec));
  }

  async forget(project: string, file: string, h5path: string): Promise<void> {
    await this.redis.hdel(keys.datasets(project, file), h5path);
  }

  /** The dataset as it is or will be, or null when there is none (and none is pending). */
  async lookup(project: string, file: string, h5path: string): Promise<DatasetMeta | null> {
    const pending = await this.#pending(project, file, h5path);
    if (pending) return pending;
    return this.onDisk(project, file, h5path);
  }

  /** True when something (dataset, group) is at `h5path` or a dataset is pending there. */
  async exists(project: string, file: string, h5path: string): Promise<boolean> {
    if (await this.#pending(project, file, h5path)) return true;
    const found = await this.withFile(project, file, async (f) => {
      try {
        await f.datasetInfo(h5path);
        return true;
      } catch (err) {
        if (err instanceof Ph5NativeError && err.code === 'PH5_ERR_NOT_FOUND') return false;
        if (err instanceof Ph5NativeError && err.code === 'PH5_ERR_TYPE') return true; // a group, or an unsupported type
        throw err;
      }
    });
    return found === true;
  }

  async onDisk(project: string, file: string, h5path: string): Promise<DatasetMeta | null> {
    const info = await this.withFile(project, file, async (f) => {
      try {
        return await f.datasetInfo(h5path);
      } catch (err) {
        if (err instanceof Ph5NativeError && err.code === 'PH5_ERR_NOT_FOUND') return null;
        throw err;
      }
    });
    return info ? fromNative(h5path, info) : null;
  }

  async #pending(project: string, file: string, h5path: string): Promise<DatasetMeta | null> {
    const raw = await this.redis.hget(keys.datasets(project, file), h5path);
    if (!raw) return null;
    const rec = JSON.parse(raw) as DatasetRecord;
    const job = await this.jobs.queue.getJob(rec.jobId);
    const state = job ? await job.getState() : 'unknown';
    // A completed create is on disk now: answer from the file. A failed one never happened.
    if (state === 'completed' || state === 'unknown') return null;
    if (state === 'failed') {
      await this.forget(project, file, h5path);
      return null;
    }
    return {
      path: h5path,
      dtype: rec.dtype,
      shape: rec.shape,
      maxshape: rec.maxshape ?? rec.shape,
      layout: rec.chunks || rec.maxshape?.some((d) => d === null) ? 'chunked' : 'contiguous',
      chunks: rec.chunks ?? null,
      state: 'pending',
    };
  }
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
