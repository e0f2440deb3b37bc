/**
 * Thin typed layer over the C++ addon (native/src). The addon does the work; this file
 * gives it types, turns raw handles into classes, and owns the error class.
 *
 * Rules the addon follows (see native/README.md):
 * - every call that can take time is an AsyncWorker returning a Promise;
 * - all HDF5 and MPI calls in a process are serialized by one mutex, because Debian's
 *   parallel HDF5 is not thread-safe;
 * - every failure becomes a Ph5NativeError with a stable `code` and the HDF5 error stack;
 * - calls start in the order JavaScript makes them (collectives must start in the same
 *   order on every rank), so un-awaited calls are safe but still ordered;
 * - on a parallel file every call (open, create, info, write, read, flush, close, groups,
 *   links, attributes, resize) is collective: every rank makes it, in the same order, with
 *   the same arguments (except a write's or read's selection and data, which are per rank);
 * - every call closes every HDF5 id it opens: `leakedObjectCount()` is 0 between calls.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileFinalizer } from './file-finalizer.js';

export type ByteOrder = 'le' | 'be';
/** The kinds that need nothing but a size and a byte order. */
export type ScalarKind = 'int' | 'uint' | 'float' | 'bool' | 'bytes';
// Structurally the same union as services/shared/dtype.ts `Dtype` (each can be assigned
// to the other); kept here so the addon's typed layer stands on its own.

/**
 * An element type (the same shape as services/shared/dtype.ts `Dtype`). Element bytes are
 * in the dtype's layout everywhere: compound records of `size` bytes with each field at its
 * offset, complex as (real, imaginary) floats, enums as their base integers, arrays in C
 * order. Byte order is only meaningful for int, uint, float, complex and enum of more than
 * one byte; the addon reports 'le' for everything else.
 *
 * - int/uint 1, 2, 4, 8; float 2, 4, 8; bool 1 (h5py's enum FALSE/TRUE over int8);
 *   bytes n (fixed-length, null-padded, S<n>).
 * - complex 8 | 16: numpy complex64/128, stored as h5py does (compound of floats r, i).
 * - string: variable-length (h5py.string_dtype()); size 0. Written from fixed-width
 *   `bytes` slots (memDtype), read with `H5File.readStrings`.
 * - enum: over an int/uint base of `size` bytes; members in order, values within the base
 *   and within ±(2^53-1), names and values unique.
 * - compound: `size` = itemsize (may include padding); fields at their offsets, within
 *   the itemsize, not overlapping, names unique and non-empty; no string fields.
 * - array: a numpy subarray, only as a compound field's dtype; size = base.size × shape.
 * At most 8 levels of compound/array nesting, 1024 fields per compound, 4096 enum members.
 */
export type NativeDtype =
  | { kind: 'int' | 'uint' | 'float'; size: number; order: ByteOrder }
  | { kind: 'bool'; size: 1; order: 'le' }
  | { kind: 'bytes'; size: number; order: 'le' }
  | { kind: 'complex'; size: 8 | 16; order: ByteOrder }
  | { kind: 'string'; size: 0; order: 'le'; charset: 'utf-8' | 'ascii' }
  | { kind: 'enum'; size: 1 | 2 | 4 | 8; order: ByteOrder; base: 'int' | 'uint'; members: { name: string; value: number }[] }
  | { kind: 'compound'; size: number; order: 'le'; fields: { name: string; offset: number; dtype: NativeDtype }[] }
  | { kind: 'array'; size: number; order: 'le'; base: NativeDtype; shape: number[] };
export type DtypeKind = NativeDtype['kind'];

export interface Hyperslab {
  start: number[];
  stride: number[];
  count: number[];
}

/**
 * A point selection (H5Sselect_elements): the coordinates of each point, as unsigned 64-bit
 * integers in the machine's byte order (little-endian), point after point (the dataset's
 * rank of them per point). The data written or read is the points' elements in the order
 * of the list. An empty Buffer selects nothing (a rank without work in a collective write).
 */
export interface PointSelection {
  points: Buffer;
}

/** The coordinates of `points` (each of the dataset's rank) as a PointSelection. */
export function pointSelection(points: readonly (readonly number[])[]): PointSelection {
  const rank = points[0]?.length ?? 0;
  const buf = Buffer.alloc(points.length * rank * 8);
  points.forEach((p, i) => p.forEach((c, d) => buf.writeBigUInt64LE(BigInt(c), (i * rank + d) * 8)));
  return { points: buf };
}

export type NativeErrorCode =
  | 'PH5_ERR_NOT_FOUND'
  | 'PH5_ERR_EXISTS'
  | 'PH5_ERR_TYPE'
  | 'PH5_ERR_SELECTION'
  | 'PH5_ERR_ARGUMENT'
  | 'PH5_ERR_CLOSED'
  | 'PH5_ERR_READ_ONLY'
  | 'PH5_ERR_MPI'
  | 'PH5_ERR_HDF5'
  | 'PH5_ERR_LAYOUT'
  | 'PH5_ERR_NEEDS_ALLOCATION'
  | 'PH5_ERR_NEEDS_SERIAL';

/** Every error the addon raises. Constructed by the addon itself (it is handed this class). */
export class Ph5NativeError extends Error {
  readonly code: NativeErrorCode;
  /** HDF5's error stack, innermost last, when the failure came from HDF5. */
  readonly hdf5Stack: string;

  constructor(message: string, code: NativeErrorCode, hdf5Stack = '') {
    super(message);
    this.name = 'Ph5NativeError';
    this.code = code;
    this.hdf5Stack = hdf5Stack;
  }
}

export interface MpiInfo {
  rank: number;
  size: number;
  /** The thread level MPI granted (MPI_THREAD_* value). */
  threadLevel: number;
  processorName: string;
}

export interface OpenOptions {
  /** 'r' read-only, 'rw' read-write (must exist), 'create' create (must not exist). */
  mode: 'r' | 'rw' | 'create';
  /** true: mpio driver on MPI_COMM_WORLD, collective metadata. false: serial (sec2) driver. */
  parallel: boolean;
  /**
   * MPI-IO hints (an MPI_Info handed to H5Pset_fapl_mpio), e.g. `{ striping_factor: '8',
   * cb_buffer_size: '16777216', romio_cb_write: 'enable' }`. Parallel files only; MPI-IO
   * ignores hints it does not know.
   */
  hints?: Record<string, string>;
  /**
   * H5Pset_alignment: every object of at least `threshold` bytes starts at a multiple of
   * `alignment` bytes (e.g. the file system's stripe size). Applies to objects allocated
   * while the file is open this way.
   */
  alignment?: { threshold: number; alignment: number };
}

export interface CloseOptions {
  /**
   * The durable close: the file is on stable storage when the promise resolves. HDF5 1.10
   * closes an mpio file without MPI_File_sync, so a plain close leaves the epoch's writes
   * in the page cache, where an OS crash or power cut loses them. With `sync`, every rank
   * flushes (H5Fflush, which ends with MPI_File_sync in the mpio driver), closes, then
   * fdatasyncs the file for what the close itself wrote; for a file created by this open,
   * rank 0 also fsyncs its directory and the one above. A failure on any rank fails the
   * close on every rank (the file is closed all the same). Collective on a parallel file;
   * if any rank passes `sync`, all sync. Nothing to do for a read-only file. Default false.
   */
  sync?: boolean;
}

/** What an open file runs with (`H5File.accessInfo()`). */
export interface AccessInfo {
  driver: 'mpio' | 'sec2';
  /** From the file's access list (1/1: no alignment). */
  alignment: { threshold: number; alignment: number };
  /** The hints MPI-IO reports for the open file (MPI_File_get_info); {} for sec2. */
  hints: Record<string, string>;
}

/** A link in a group, as `H5File.list()` and `H5File.linkInfo()` describe it. */
export interface LinkEntry {
  /** Link name within its group. */
  name: string;
  /** Hard links: the kind of object; soft and external links are not followed. */
  kind: 'group' | 'dataset' | 'datatype' | 'softlink' | 'external' | 'other';
  /** softlink: the target path; external: the path inside `file`. */
  target?: string;
  /** external: the target file. */
  file?: string;
}

export interface CreateDatasetOptions {
  dtype: NativeDtype;
  shape: number[];
  /** -1 means unlimited. Defaults to shape. */
  maxshape?: number[];
  /**
   * Chunk shape. Required by HDF5 for unlimited dimensions and filters; when absent there,
   * ph5 picks ~1 MiB chunks filled from the last dimension (a fixed dimension contributes
   * at most its size, an unlimited one what the budget allows).
   */
  chunks?: number[];
  /** gzip (deflate) level 0..9. Filtered datasets are always written collectively. */
  gzip?: number;
  /** Byte-shuffle filter (applied before gzip, as h5py does). */
  shuffle?: boolean;
  /**
   * Raw bytes of one element in `dtype`. Absent: H5D_FILL_TIME_NEVER. Not for `string`
   * datasets (PH5_ERR_ARGUMENT; their fill is the empty string).
   */
  fillValue?: Buffer;
}

/** One filter of a dataset's pipeline, in order. */
export interface FilterInfo {
  /** HDF5 filter id (1 deflate, 2 shuffle, 3 fletcher32, ...). */
  id: number;
  /** 'gzip', 'shuffle', 'fletcher32', 'szip', 'nbit', 'scaleoffset', else HDF5's name. */
  name: string;
  /** gzip only: the compression level. */
  level?: number;
}

export interface DatasetInfo {
  dtype: NativeDtype;
  shape: number[];
  /** -1 for unlimited dimensions. */
  maxshape: number[];
  layout: 'contiguous' | 'chunked' | 'compact' | 'virtual';
  chunks: number[] | null;
  filters: FilterInfo[];
  /**
   * The user-defined fill value (one element, in `dtype`), or null when none was set
   * (always null for `string` datasets).
   */
  fillValue: Buffer | null;
  /** When HDF5 writes the fill value ('never' when ph5 created it without one). */
  fillTime: 'ifset' | 'alloc' | 'never';
}

export interface WriteOptions {
  /**
   * Collective transfer (H5FD_MPIO_COLLECTIVE). Default true. 'auto': independent where
   * the dataset is contiguous (allocated, unfiltered) and `global` is one hyperslab that is
   * a single contiguous run of it (so each rank's row block is one plain write of its own
   * bytes, with no two-phase exchange between ranks), collective otherwise. Every rank
   * decides the same from the file and `global`.
   */
  collective?: boolean | 'auto';
  /**
   * dtype of the bytes in `data` (defaults to the dataset's); HDF5 converts byte order,
   * numbers into numbers, and compound fields by name. Accepted: numbers into numbers;
   * bool, bytes, complex into the same kind; enum or int/uint of the enum's size and
   * signedness into an enum (the base integers, stored as they are); a compound with the
   * same field names (each field by these rules); an array of the same shape. A `string`
   * dataset needs `{kind: 'bytes', size: W}`: each W-byte slot is one string, cut at its
   * first NUL. Anything else: PH5_ERR_TYPE.
   */
  memDtype?: NativeDtype;
  /**
   * Parallel files: the whole collective write's selection (every rank's part; the same on
   * every rank). With it, a write into chunks a serially made dataset has not allocated yet
   * is refused with PH5_ERR_NEEDS_ALLOCATION on every rank, instead of failing or hanging
   * inside HDF5 (see prepareChunks).
   */
  global?: Hyperslab | Hyperslab[] | PointSelection | null;
}

export interface ReadOptions {
  /**
   * Read into this Buffer (exactly the selection's size in bytes, else PH5_ERR_SELECTION)
   * instead of a new one; HDF5 writes into it in place. Do not touch it until the promise
   * settles. A view (`buf.subarray(...)`) reads into part of a larger buffer.
   */
  into?: Buffer;
}

/** A numeric attribute value: `data` holds the elements of `shape` ([] = scalar) in `dtype`. */
export interface NumericAttribute {
  kind: 'numeric';
  dtype: NativeDtype;
  shape: number[];
  data: Buffer;
}

/** A string attribute: one string (scalar) or a 1-D array of strings. */
export interface StringAttribute {
  kind: 'string';
  value: string | string[];
  /** The character set HDF5 records (default 'utf8'; h5py reads fixed-length ones as bytes either way). */
  cset?: 'utf8' | 'ascii';
  /**
   * Fixed length in bytes (null-padded); null or absent: variable-length (h5py's `str`).
   * `'auto'` (write only): the longest value's UTF-8 length.
   */
  length?: number | 'auto' | null;
}

export type AttributeValue = NumericAttribute | StringAttribute;

/** An attribute as read back: string attributes say their length and character set. */
export type AttributeRead = NumericAttribute | { kind: 'string'; value: string | string[]; shape: number[]; length: number | null; cset: 'ascii' | 'utf8' };

export interface WriteReport {
  /** true when HDF5 really did collective I/O. */
  collective: boolean;
  /** Names of the H5D_MPIO_* causes when it did not (empty otherwise). */
  noCollectiveCause: string[];
}

export interface Versions {
  /** HDF5 library loaded at run time, e.g. "1.10.8". */
  hdf5: string;
  /** MPI standard version, e.g. "3.1" (MPI_Get_version). */
  mpi: string;
  /** First line of MPI_Get_library_version, e.g. "Open MPI v4.1.4, package: ...". */
  mpiLibrary: string;
  /** HDF5 headers the addon was compiled against. */
  hdf5Build: string;
  /** MPI headers the addon was compiled against, e.g. "Open MPI v4.1.4". */
  mpiBuild: string;
  /** Why the MPI loaded at run time does not match mpiBuild (mpi.init() then refuses), or null. */
  mpiMismatch: string | null;
}

/**
 * Open HDF5 ids that belong to no file (H5Inmembers per id type), as the count above the
 * baseline taken when the addon loaded: HDF5 keeps its default property lists and
 * predefined datatypes open itself. Every call closes what it opens, so all four are 0
 * between calls. `open` holds the raw counts, baseline included.
 */
export interface OpenIdCounts {
  dataspace: number;
  propertyList: number;
  datatype: number;
  attribute: number;
  open: { dataspace: number; propertyList: number; datatype: number; attribute: number };
}

interface RawAddon {
  setErrorClass(ctor: typeof Ph5NativeError): void;
  versions(): Versions;
  mpiInit(): MpiInfo;
  mpiInitialized(): boolean;
  mpiFinalize(): void;
  mpiAbort(code: number): void;
  mpiBcast(data: Buffer | null, root: number): Promise<Buffer>;
  mpiBarrier(): Promise<void>;
  mpiAllreduceMin(value: number): Promise<number>;
  mpiGather(data: Buffer, root: number): Promise<Buffer[] | null>;
  fileOpen(
    path: string,
    mode: OpenOptions['mode'],
    parallel: boolean,
    settings: { hints?: Record<string, string>; alignment?: OpenOptions['alignment'] },
  ): Promise<number>;
  fileClose(handle: number, sync?: boolean): Promise<void>;
  fileFlush(handle: number): Promise<void>;
  fileAccessInfo(handle: number): Promise<AccessInfo>;
  openObjectCount(): number;
  leakedObjectCount(): number;
  openIdCounts(): OpenIdCounts;
  datasetCreate(handle: number, path: string, options: CreateDatasetOptions): Promise<void>;
  datasetResize(handle: number, path: string, shape: number[]): Promise<void>;
  datasetInfo(handle: number, path: string): Promise<DatasetInfo>;
  datasetWrite(
    handle: number,
    path: string,
    selection: Hyperslab | Hyperslab[] | PointSelection | null,
    data: Buffer,
    collective: boolean | 'auto',
    memDtype: NativeDtype | null,
    global: Hyperslab | Hyperslab[] | PointSelection | null,
  ): Promise<WriteReport>;
  datasetPrepareChunks(handle: number, path: string, selection: Hyperslab | Hyperslab[] | PointSelection): Promise<number>;
  datasetRead(handle: number, path: string, selection: Hyperslab | PointSelection | null, into: Buffer | null): Promise<Buffer>;
  // The same selections as datasetRead (whatever forms it takes).
  datasetReadStrings(handle: number, path: string, selection: Parameters<RawAddon['datasetRead']>[2]): Promise<string[]>;
  groupCreate(handle: number, path: string): Promise<void>;
  linkList(handle: number, path: string): Promise<LinkEntry[]>;
  linkInfo(handle: number, path: string): Promise<LinkEntry | null>;
  linkDelete(handle: number, path: string): Promise<void>;
  softLinkCreate(handle: number, path: string, target: string): Promise<void>;
  attributeWrite(
    handle: number,
    path: string,
    name: string,
    value:
      | { kind: 'numeric'; dtype: NativeDtype; shape: number[]; data: Buffer }
      | { kind: 'string'; value: string | string[]; length: number | null; cset?: 'utf8' | 'ascii' },
  ): Promise<void>;
  attributeRead(handle: number, path: string, name: string): Promise<AttributeRead>;
  attributeList(handle: number, path: string): Promise<string[]>;
  attributeDelete(handle: number, path: string, name: string): Promise<void>;
  stageFile(path: string, parts: Buffer[], dir: string): Promise<void>;
  readRanges(reads: StagedReads[], into: Buffer): Promise<void>;
  mapRange(path: string, offset: number, length: number): Promise<Buffer>;
  releaseMapping(buffer: Buffer): void;
  unlinkFiles(paths: string[]): Promise<void>;
  fileSizes(paths: string[]): Promise<number[]>;
}

function loadAddon(): RawAddon {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // dist/native/lib -> repository root; native/build is never copied into dist.
  const root = path.resolve(here, '..', '..', '..');
  const require = createRequire(import.meta.url);
  const addon = require(path.join(root, 'native', 'build', 'Release', 'ph5_native.node')) as RawAddon;
  addon.setErrorClass(Ph5NativeError);
  return addon;
}

const addon = loadAddon();

export const versions = (): Versions => addon.versions();

/** MPI for this process. Works under mpirun and as a singleton. */
export const mpi = {
  init: (): MpiInfo => addon.mpiInit(),
  initialized: (): boolean => addon.mpiInitialized(),
  /** Closes files still open, then MPI_Finalize. Throws PH5_ERR_MPI while ph5 calls are pending. */
  finalize: (): void => addon.mpiFinalize(),
  abort: (code: number): void => addon.mpiAbort(code),
  /**
   * Broadcast from `root`. The root passes the bytes (and gets the same Buffer back, sent
   * without a copy: do not modify it until the promise settles); the others pass null and
   * receive a new Buffer. Waiting ranks poll (MPI_Ibcast + MPI_Test + a sleep backing off
   * from 50 us to 200 us, then 2 ms) instead of spinning in a blocking MPI_Bcast, so an idle pool costs
   * almost no CPU. Until the bytes have arrived, later ph5 calls of this process wait.
   */
  bcast: (data: Buffer | null, root = 0): Promise<Buffer> => addon.mpiBcast(data, root),
  barrier: (): Promise<void> => addon.mpiBarrier(),
  /** Minimum of one integer over all ranks: used to agree that every rank is ready. */
  allreduceMin: (value: number): Promise<number> => addon.mpiAllreduceMin(value),
  /** Variable-length gather; the root gets one Buffer per rank, the others null. */
  gather: (data: Buffer, root = 0): Promise<Buffer[] | null> => addon.mpiGather(data, root),
};

/** Ranges of one staged file to read: flat [into, offset, length] triples. */
export interface StagedReads {
  path: string;
  ranges: number[];
}

/**
 * Staged payload files, each call in ONE trip to the libuv pool (Node's fs makes one per
 * system call, and on a loaded machine a trip costs ten times the call). No HDF5 or MPI:
 * these never wait for, or hold up, the calls above. Failures are Node-style fs errors
 * (`code` 'ENOENT', 'ENOSPC', ..., `syscall`, `path`); a staged file shorter than a range
 * asked of it fails with code 'PH5_ERR_STAGING'.
 */
export const stagingIo = {
  // Every call returns a Promise, never throws: an argument the addon refuses (a path with
  // a NUL byte, say) rejects, so a caller in a timer or event handler cannot crash.
  /**
   * Creates `path` (never an existing file), writes `parts` one after the other, fsyncs
   * it, then fsyncs `dir` (its directory, so the entry survives a crash too). On failure
   * the file is removed. The parts must not change until the promise settles.
   */
  stageFile: async (path: string, parts: Buffer[], dir: string): Promise<void> => addon.stageFile(path, parts, dir),
  /** Fills `into` from each file's ranges, each file opened once; every range is read whole. */
  readRanges: async (reads: StagedReads[], into: Buffer): Promise<void> => addon.readRanges(reads, into),
  /**
   * Bytes [offset, offset+length) of a staged file as a read-only Buffer on the file's own
   * pages (mmap), not a copy; length >= 1. Only for files that no longer change (staged
   * payloads). Writing into the Buffer crashes the process.
   */
  mapRange: async (path: string, offset: number, length: number): Promise<Buffer> => addon.mapRange(path, offset, length),
  /**
   * Lets go of a mapRange Buffer's file pages now (they become zeros), instead of when the
   * Buffer is garbage-collected; the Buffer must not be in use (e.g. in a write).
   */
  releaseMapping: (buffer: Buffer): void => addon.releaseMapping(buffer),
  /** Removes the files (one already gone is fine); tries them all, reports the first failure. */
  unlinkFiles: async (paths: string[]): Promise<void> => addon.unlinkFiles(paths),
  /** The size of each regular file; -1 for one that is missing or not a regular file. */
  fileSizes: async (paths: string[]): Promise<number[]> => addon.fileSizes(paths),
};

/** The streamed-upload writer: its own small addon (no MPI, no HDF5), see staging-writer.ts. */
export { StagingWriter } from './staging-writer.js';

/** Open HDF5 ids in this process (H5Fget_obj_count over all files, files included). */
export const openObjectCount = (): number => addon.openObjectCount();

/**
 * Open HDF5 ids other than the files JS holds open (groups, datasets, datatypes,
 * attributes, extra file ids, plus the dataspaces, property lists and transient datatypes
 * of openIdCounts()): every call closes what it opens, so 0 between calls.
 */
export const leakedObjectCount = (): number => addon.leakedObjectCount();

/**
 * Dataspace, property list, datatype and attribute ids open above HDF5's own baseline
 * (ids no file owns, which openObjectCount() cannot see): all 0 between calls.
 */
export const openIdCounts = (): OpenIdCounts => addon.openIdCounts();

// Closes serial files the program dropped without closing (file-finalizer.ts says why not
// parallel ones).
const finalizer = createFileFinalizer((handle) => addon.fileClose(handle, false));

export class H5File {
  #handle: number | null;
  readonly path: string;
  readonly parallel: boolean;

  private constructor(handle: number, filePath: string, parallel: boolean) {
    this.#handle = handle;
    this.path = filePath;
    this.parallel = parallel;
    finalizer.watch(this, { handle, path: filePath, parallel });
  }

  /**
   * Open or create a file. With `parallel`, every rank must call this (collective), with
   * the same options.
   */
  static async open(filePath: string, options: OpenOptions): Promise<H5File> {
    const settings = { hints: options.hints, alignment: options.alignment };
    const handle = await addon.fileOpen(filePath, options.mode, options.parallel, settings);
    return new H5File(handle, filePath, options.parallel);
  }

  get closed(): boolean {
    return this.#handle === null;
  }

  private get handle(): number {
    if (this.#handle === null) throw new Ph5NativeError(`File ${this.path} is closed`, 'PH5_ERR_CLOSED');
    return this.#handle;
  }

  /** H5Fclose; with `{ sync: true }` the durable close (see CloseOptions). */
  async close(options: CloseOptions = {}): Promise<void> {
    if (this.#handle === null) return;
    const handle = this.#handle;
    this.#handle = null;
    finalizer.forget(this);
    await addon.fileClose(handle, options.sync ?? false);
  }

  /**
   * H5Fflush (global scope): data and metadata reach the file. With the mpio driver HDF5
   * then calls MPI_File_sync (every rank fsyncs); the serial driver does not sync.
   */
  flush(): Promise<void> {
    return addon.fileFlush(this.handle);
  }

  /** The driver, alignment and MPI-IO hints the file is open with. */
  accessInfo(): Promise<AccessInfo> {
    return addon.fileAccessInfo(this.handle);
  }

  // --- groups and links ------------------------------------------------------------------

  /** Create a group and any missing intermediate groups. PH5_ERR_EXISTS if the path is taken. */
  createGroup(groupPath: string): Promise<void> {
    return addon.groupCreate(this.handle, groupPath);
  }

  /** The links of a group ('/' = root), in name order, with the kind of each. */
  list(groupPath = '/'): Promise<LinkEntry[]> {
    return addon.linkList(this.handle, groupPath);
  }

  /** One link (not followed when soft or external), or null when nothing is at the path. */
  linkInfo(linkPath: string): Promise<LinkEntry | null> {
    return addon.linkInfo(this.handle, linkPath);
  }

  /** H5Ldelete: removes the link (a group's whole subtree goes with its last link). */
  delete(linkPath: string): Promise<void> {
    return addon.linkDelete(this.handle, linkPath);
  }

  /** A soft link at `linkPath` pointing to `target` (which need not exist yet). */
  createSoftLink(linkPath: string, target: string): Promise<void> {
    return addon.softLinkCreate(this.handle, linkPath, target);
  }

  // --- datasets ----------------------------------------------------------------------------

  /** Create a dataset (and missing intermediate groups). See CreateDatasetOptions. */
  createDataset(datasetPath: string, options: CreateDatasetOptions): Promise<void> {
    return addon.datasetCreate(this.handle, datasetPath, options);
  }

  /**
   * H5Dset_extent: a chunked dataset's new shape, within maxshape (PH5_ERR_ARGUMENT
   * otherwise; PH5_ERR_TYPE if not chunked). On a parallel file every rank passes the same shape.
   */
  resize(datasetPath: string, shape: number[]): Promise<void> {
    return addon.datasetResize(this.handle, datasetPath, shape);
  }

  datasetInfo(datasetPath: string): Promise<DatasetInfo> {
    return addon.datasetInfo(this.handle, datasetPath);
  }

  /**
   * Write `data` (C-order bytes of the selection) into `selection`; null selects nothing,
   * which is how a rank without work still joins a collective write. An array of
   * hyperslabs selects their union (one H5Dwrite for scattered blocks): they must not
   * overlap (PH5_ERR_SELECTION), and `data` holds the union's elements in the file's C
   * order (for row blocks: the blocks sorted by first row, concatenated). A PointSelection
   * writes its points, `data` holding their elements in the order of the list.
   */
  write(datasetPath: string, selection: Hyperslab | Hyperslab[] | PointSelection | null, data: Buffer, options: WriteOptions = {}): Promise<WriteReport> {
    return addon.datasetWrite(this.handle, datasetPath, selection, data, options.collective ?? true, options.memDtype ?? null, options.global ?? null);
  }

  /**
   * Serial files only: allocates the chunks of `selection` (a hyperslab or a union) that are
   * still missing, by writing the fill value into them; answers how many it allocated. A
   * parallel write refused with PH5_ERR_NEEDS_ALLOCATION succeeds once this has run.
   */
  prepareChunks(datasetPath: string, selection: Hyperslab | Hyperslab[] | PointSelection): Promise<number> {
    return addon.datasetPrepareChunks(this.handle, datasetPath, selection);
  }

  /**
   * Read a selection (null: everything) as raw C-order bytes in the dataset's dtype, into
   * `options.into` or a new Buffer (HDF5 reads straight into either: no copy).
   */
  read(datasetPath: string, selection: Hyperslab | PointSelection | null = null, options: ReadOptions = {}): Promise<Buffer> {
    return addon.datasetRead(this.handle, datasetPath, selection, options.into ?? null);
  }

  /**
   * Read a selection (null: everything; any selection `read` takes) of a variable-length
   * string dataset (dtype kind 'string'), in C order. `read` refuses such datasets, and this refuses all others
   * (PH5_ERR_TYPE). Bytes that are not valid UTF-8 become U+FFFD.
   */
  readStrings(datasetPath: string, selection: Parameters<H5File['read']>[1] = null): Promise<string[]> {
    return addon.datasetReadStrings(this.handle, datasetPath, selection);
  }

  // --- attributes ------------------------------------------------------------------------
  // `objectPath` is '/' for the file (its root group), or a group or dataset path. On a
  // parallel file every rank must make the same attribute calls with the same values.
  // Attributes are stored compactly in the object header: keep each under ~64 KiB.

  /** Create or replace an attribute (a replaced one may change type and shape). */
  writeAttribute(objectPath: string, name: string, value: AttributeValue): Promise<void> {
    if (value.kind === 'numeric') return addon.attributeWrite(this.handle, objectPath, name, value);
    let length: number | null = null;
    if (value.length === 'auto') {
      const all = Array.isArray(value.value) ? value.value : [value.value];
      length = Math.max(1, ...all.map((s) => Buffer.byteLength(s, 'utf8')));
    } else if (typeof value.length === 'number') {
      length = value.length;
    }
    return addon.attributeWrite(this.handle, objectPath, name, { kind: 'string', value: value.value, length, cset: value.cset ?? 'utf8' });
  }

  /**
   * Read an attribute: numeric data (any fixed-size dtype, compound and enum too) as raw
   * bytes in its dtype's layout, strings (fixed or variable length) decoded.
   */
  readAttribute(objectPath: string, name: string): Promise<AttributeRead> {
    return addon.attributeRead(this.handle, objectPath, name);
  }

  /** Attribute names of an object, in name order. */
  listAttributes(objectPath: string): Promise<string[]> {
    return addon.attributeList(this.handle, objectPath);
  }

  /** Delete an attribute; PH5_ERR_NOT_FOUND when it does not exist. */
  deleteAttribute(objectPath: string, name: string): Promise<void> {
    return addon.attributeDelete(this.handle, objectPath, name);
  }
}
