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
import type { DatasetInfo as NativeInfo, H5File } from '../../../native/lib/index.js';
import { formatDtype, parseDtype } from '../../shared/dtype.js';
import { decodeJson } from '../../shared/json-codec.js';
import { InputError } from '../../shared/input-error.js';
import type { FileLocks } from '../../shared/file-lock.js';
import { keys, type DatasetRecord, type GroupRecord, type RegistryRecord } from '../../shared/jobs.js';
import type { Jobs } from './jobs.js';
import { loadNative, type NativeBinding } from '../lib/native-binding.js';
import type { Storage } from './storage.js';

export interface DatasetMeta {
  path: string;
  dtype: string;
  shape: number[];
  /** null = unlimited. */
  maxshape: (number | null)[];
  layout: 'contiguous' | 'chunked' | 'compact' | 'virtual';
  /** null when contiguous, or (pending) when the worker will choose. */
  chunks: number[] | null;
  compression: 'gzip' | null;
  compressionLevel: number | null;
  shuffle: boolean;
  /** As JSON (decoded in the dtype), or null when none was set. */
  fillValue: unknown;
  /** 'pending': accepted, the creation job has not run yet. */
  state: 'ready' | 'pending';
}

/** The native binding; where it cannot be loaded, reading files is unavailable (503). */
function native(): Promise<NativeBinding> {
  return loadNative().catch((err: unknown) => {
    throw Object.assign(
      new InputError(
        'PH5_ERR_READS_UNAVAILABLE',
        'Reading HDF5 files is unavailable on this server right now (its native HDF5 binding could not be loaded).',
        503,
      ),
      { cause: err },
    );
  });
}

/** A Ph5NativeError with this code (checked by shape: the class lives in the lazily loaded binding). */
export function isNativeError(err: unknown, code: string): boolean {
  return err instanceof Error && err.name === 'Ph5NativeError' && (err as Error & { code?: string }).code === code;
}

/** The dataset's info at `h5path` in the open file, or null when nothing is there. */
export async function datasetInfoOrNull(f: H5File, h5path: string): Promise<NativeInfo | null> {
  try {
    return await f.datasetInfo(h5path);
  } catch (err) {
    if (isNativeError(err, 'PH5_ERR_NOT_FOUND')) return null;
    throw err;
  }
}

// Replace a field only if it still holds what we read (compare-and-set), or delete it.
const HASH_CAS = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1
`;

interface RegistryEntry {
  raw: string;
  record: RegistryRecord;
  /** BullMQ state of the record's job; 'unknown' once the job record has expired. */
  jobState: string;
}

/** What the registry says about a path (and its ancestors), before the file is asked. */
interface Known {
  self: RegistryEntry | null;
  /** The path, or one of its ancestors, is deleted by an accepted job. */
  deleted: boolean;
  /** An ancestor accepted as a dataset (nothing can live under it). */
  datasetAncestor: string | null;
}

/** '/a/b/c' -> ['/a/b', '/a'] */
function ancestors(h5path: string): string[] {
  const out: string[] = [];
  for (let i = h5path.lastIndexOf('/'); i > 0; i = h5path.lastIndexOf('/', i - 1)) out.push(h5path.slice(0, i));
  return out;
}

const isDone = (state: string) => state === 'completed' || state === 'unknown';

/** How many finished creation jobs a process remembers (ids only). */
const FINISHED_CACHE = 100_000;

export class Datasets {
  readonly #finished = new Set<string>();

  #remember(jobId: string): void {
    if (this.#finished.size >= FINISHED_CACHE) this.#finished.delete(this.#finished.values().next().value!);
    this.#finished.add(jobId);
  }

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
        // Deleted since resolve() saw it (a file deletion job ran): it is simply not there.
        if (isNativeError(err, 'PH5_ERR_NOT_FOUND')) return null;
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
    const info = await this.withFile(project, file, (f) => datasetInfoOrNull(f, h5path));
    return info ? fromNative(h5path, info) : null;
  }

  /**
   * The dataset as accepted jobs leave it: the registry first (a pending creation or
   * resize, a deletion), then the file. Null when it does not (or will not) exist;
   * PH5_ERR_TYPE when a group is there. `view` 'write' answers from the registry even once
   * its job ran (the record is then true and saves opening the file); 'describe' prefers
   * the file then (layout and chunks as HDF5 chose them).
   */
  async #dataset(project: string, file: string, h5path: string, view: 'write' | 'describe'): Promise<DatasetMeta | null> {
    const known = await this.#known(project, file, h5path);
    if (known.deleted) return null;
    const rec = known.self?.record;
    if (rec?.kind === 'group') throw notADataset(h5path, file);
    if (known.self && rec && rec.kind !== 'deleted') {
      const done = isDone(known.self.jobState);
      if (!done || view === 'write') return fromRecord(h5path, rec, done ? 'ready' : 'pending');
    }
    return this.onDisk(project, file, h5path);
  }

  forWrite(project: string, file: string, h5path: string): Promise<DatasetMeta | null> {
    return this.#dataset(project, file, h5path, 'write');
  }

  describe(project: string, file: string, h5path: string): Promise<DatasetMeta | null> {
    return this.#dataset(project, file, h5path, 'describe');
  }

  /** Whether the creation of `h5path` is pending in the registry. */
  async pending(project: string, file: string, h5path: string): Promise<boolean> {
    const known = await this.#known(project, file, h5path);
    return known.self !== null && known.self.record.kind !== 'deleted' && !isDone(known.self.jobState);
  }

  /**
   * What is at `h5path` once accepted jobs have run, as far as the registry and the file
   * tell: 'dataset', 'group', another kind of link, or null (nothing).
   */
  async kindOf(project: string, file: string, h5path: string): Promise<'dataset' | 'group' | 'other' | null> {
    const known = await this.#known(project, file, h5path);
    if (known.deleted) return null;
    const rec = known.self?.record;
    if (rec && rec.kind !== 'deleted') return rec.kind === 'group' ? 'group' : 'dataset';
    if (h5path === '/') return (await this.storage.resolve(project, file)).exists ? 'group' : null;
    const link = await this.withFile(project, file, (f) => f.linkInfo(h5path));
    if (!link) return null;
    return link.kind === 'dataset' || link.kind === 'group' ? link.kind : 'other';
  }

  /**
   * Claims `h5path` for a creation. False when something is already there, in the file or
   * accepted for creation and not failed. The claim itself is atomic, so two concurrent
   * creations of one path cannot both be accepted. A path deleted by an accepted job is
   * free again.
   */
  async claim(project: string, file: string, h5path: string, record: DatasetRecord | GroupRecord): Promise<boolean> {
    const key = keys.datasets(project, file);
    const value = JSON.stringify(record);
    for (let attempt = 0; attempt < 3; attempt++) {
      const known = await this.#known(project, file, h5path);
      if (known.datasetAncestor) {
        throw new InputError('PH5_ERR_TYPE', `${known.datasetAncestor} in ${file} is a dataset; nothing can be created under it.`);
      }
      const self = known.self;
      if (self && self.record.kind !== 'deleted' && !known.deleted) return false; // pending or created by an accepted job
      if (!known.deleted && (await this.#onDiskObject(project, file, h5path))) return false;
      // A tombstone is replaced only if unchanged; an empty field only if still empty
      // (#known has already removed a void record; one that appeared since is someone else's).
      const claimed = self ? (await this.redis.eval(HASH_CAS, 1, key, h5path, self.raw, value)) === 1 : (await this.redis.hsetnx(key, h5path, value)) === 1;
      if (claimed) return true;
    }
    return false;
  }

  /** Drops our claim (the job could not be queued). Leaves anyone else's record alone. */
  async release(project: string, file: string, h5path: string, jobId: string): Promise<void> {
    const key = keys.datasets(project, file);
    const current = await this.redis.hget(key, h5path);
    if (current !== null && (JSON.parse(current) as RegistryRecord).jobId === jobId) {
      await this.redis.eval(HASH_CAS, 1, key, h5path, current, '');
    }
  }

  /**
   * Records an accepted change that later requests must see before the file does: a
   * deletion (tombstone) or a dataset's new extent. Returns the previous raw record, so a
   * caller that fails to queue its job can put it back with `restore`.
   */
  async record(project: string, file: string, h5path: string, record: RegistryRecord): Promise<string | null> {
    const key = keys.datasets(project, file);
    const [[, previous]] = (await this.redis.multi().hget(key, h5path).hset(key, h5path, JSON.stringify(record)).exec()) as [[unknown, string | null], unknown];
    return previous;
  }

  /** Undoes `record` (only if our record is still the one there). */
  async restore(project: string, file: string, h5path: string, record: RegistryRecord, previous: string | null): Promise<void> {
    await this.redis.eval(HASH_CAS, 1, keys.datasets(project, file), h5path, JSON.stringify(record), previous ?? '');
  }

  /**
   * Whether the file exists once the accepted jobs have run: it is on disk and no accepted
   * job deletes it, or an accepted job creates it (PUT /v1/files/{file}, or a dataset or
   * group created in it after its last deletion). Setting a root attribute needs this: a
   * typo in a file name must not create a file.
   */
  async fileWillExist(project: string, file: string): Promise<boolean> {
    if ((await this.kindOf(project, file, '/')) !== null) return true;
    const all = await this.redis.hgetall(keys.datasets(project, file));
    let lastDeletion = -Infinity;
    const root = all['/'] === undefined ? null : await this.#entry(project, file, '/', all['/']);
    if (root?.record.kind === 'deleted') lastDeletion = root.record.at ?? 0;
    for (const [h5path, raw] of Object.entries(all)) {
      if (h5path === '/') continue;
      const e = await this.#entry(project, file, h5path, raw);
      if (e && e.record.kind !== 'deleted' && (e.record.at ?? 0) > lastDeletion) return true;
    }
    return false;
  }

  /** True when anything (dataset, group, other object) is at `h5path` in the file. */
  async #onDiskObject(project: string, file: string, h5path: string): Promise<boolean> {
    const found = await this.withFile(project, file, async (f) => (await f.linkInfo(h5path)) !== null);
    return found === true;
  }

  /** The registry's records for the path and its ancestors (void ones removed). */
  async #known(project: string, file: string, h5path: string): Promise<Known> {
    // The path, its ancestors, and the root: a record at '/' is the whole file's (deleted).
    const paths = [h5path, ...ancestors(h5path), ...(h5path === '/' ? [] : ['/'])];
    const raws = await this.#registryFields(keys.datasets(project, file), paths);
    const entries = await Promise.all(raws.map((raw, i) => (raw === null ? Promise.resolve(null) : this.#entry(project, file, paths[i]!, raw))));
    const [self, ...above] = entries;
    // The newest deletion on the way down hides what was accepted before it.
    const lastDeletion = Math.max(-Infinity, ...entries.filter((e) => e?.record.kind === 'deleted').map((e) => e!.record.at ?? 0));
    const live = (e: RegistryEntry | null | undefined) => !!e && e.record.kind !== 'deleted' && (e.record.at ?? 0) > lastDeletion;
    return {
      self: self ?? null,
      deleted: Number.isFinite(lastDeletion) && !live(self),
      datasetAncestor: paths.slice(1).find((_, i) => live(above[i]) && above[i]!.record.kind !== 'group') ?? null,
    };
  }

  /** Registry reads asked during the current turn of the event loop, one per file's hash. */
  readonly #reads = new Map<string, { fields: Set<string>; values: Promise<Map<string, string | null>> }>();

  /**
   * HMGET of a file's registry, shared by the requests of one turn of the event loop: many
   * concurrent small writes to one file cost one command. The command is sent after the
   * turn, so it never predates a request that joins it: each still reads the registry as
   * it is after its own arrival.
   */
  #registryFields(key: string, fields: string[]): Promise<Array<string | null>> {
    let read = this.#reads.get(key);
    if (!read) {
      const wanted = new Set<string>();
      const values = new Promise<Map<string, string | null>>((resolve, reject) => {
        setImmediate(() => {
          this.#reads.delete(key);
          const list = [...wanted];
          this.redis.hmget(key, ...list).then((raws) => resolve(new Map(list.map((f, i) => [f, raws[i] ?? null]))), reject);
        });
      });
      read = { fields: wanted, values };
      this.#reads.set(key, read);
    }
    for (const f of fields) read.fields.add(f);
    return read.values.then((byField) => fields.map((f) => byField.get(f) ?? null));
  }

  /** A record, unless void (its job failed: then it is removed). */
  async #entry(project: string, file: string, h5path: string, raw: string): Promise<RegistryEntry | null> {
    let record: RegistryRecord;
    try {
      record = JSON.parse(raw) as RegistryRecord;
    } catch {
      return null;
    }
    // A completed job stays completed, so that state is remembered: every write to a
    // dataset made through the API meets its record. ('unknown' is not: a claim is made
    // before its job is queued, and the job does not exist yet then.)
    const jobState = this.#finished.has(record.jobId) ? 'completed' : await this.jobs.jobState(record.jobId);
    if (jobState === 'completed') this.#remember(record.jobId);
    if (jobState === 'failed') {
      await this.redis.eval(HASH_CAS, 1, keys.datasets(project, file), h5path, raw, '');
      return null;
    }
    return { raw, record, jobState };
  }
}

/**
 * Why a write into this dataset is refused at acceptance, or null when a pool can write it.
 * Parallel HDF5 cannot write a compact dataset from several ranks (its data lives in the
 * object header: each rank's write replaces the others', only one rank's data is kept) nor
 * a virtual one; the pool used to find out only when the job ran and fail it late with
 * PH5_ERR_LAYOUT. 409, not 422: the request itself is sound (the same write into a
 * contiguous or chunked dataset of that shape is accepted); the target's state is what
 * conflicts with it, as for PH5_ERR_NOT_HDF5.
 */
export function layoutRefusal(meta: Pick<DatasetMeta, 'layout'>, h5path: string, file: string): InputError | null {
  const layout: string = meta.layout;
  if (layout === 'compact') {
    return new InputError(
      'PH5_ERR_LAYOUT',
      `${h5path} in ${file} has a compact layout (its data lives in the object header), which parallel HDF5 cannot write from several ranks: ` +
        'copy it to a contiguous or chunked dataset (h5repack -l CONTI) and write that.',
      409,
    );
  }
  if (layout === 'virtual') {
    return new InputError('PH5_ERR_LAYOUT', `${h5path} in ${file} is a virtual dataset, which parallel HDF5 cannot write: write its source datasets.`, 409);
  }
  return null;
}

function notADataset(h5path: string, file: string): InputError {
  return new InputError('PH5_ERR_TYPE', `${h5path} in ${file} is a group, not a dataset.`);
}

/** The dataset a registry record describes (accepted, or as its job leaves it). */
export function fromRecord(h5path: string, rec: DatasetRecord, state: DatasetMeta['state']): DatasetMeta {
  const maxshape = rec.maxshape ?? rec.shape;
  const chunked =
    rec.layout === 'chunked' || rec.chunks !== undefined || rec.gzip !== undefined || rec.shuffle === true || maxshape.some((m, i) => m !== rec.shape[i]);
  return {
    path: h5path,
    dtype: rec.dtype,
    shape: rec.shape,
    maxshape,
    layout: chunked ? 'chunked' : 'contiguous',
    chunks: rec.chunks ?? null,
    compression: rec.gzip !== undefined ? 'gzip' : null,
    compressionLevel: rec.gzip ?? null,
    shuffle: rec.shuffle === true,
    fillValue: rec.fillValue === undefined ? null : decodeJson(Buffer.from(rec.fillValue, 'base64'), parseDtype(rec.dtype), []),
    state,
  };
}

function fromNative(h5path: string, info: NativeInfo): DatasetMeta {
  const gzip = info.filters.find((f) => f.name === 'gzip');
  return {
    path: h5path,
    dtype: formatDtype(info.dtype),
    shape: info.shape,
    maxshape: info.maxshape.map((d) => (d === -1 ? null : d)),
    layout: info.layout,
    chunks: info.chunks,
    compression: gzip ? 'gzip' : null,
    compressionLevel: gzip?.level ?? null,
    shuffle: info.filters.some((f) => f.name === 'shuffle'),
    fillValue: info.fillValue ? decodeJson(info.fillValue, info.dtype, []) : null,
    state: 'ready',
  };
}
