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
 * - on a parallel file every call (open, create, info, write, read, flush, close) is
 *   collective: every rank makes it, in the same order.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type DtypeKind = 'int' | 'uint' | 'float' | 'bool' | 'bytes';
export interface NativeDtype {
  kind: DtypeKind;
  size: number;
  order: 'le' | 'be';
}

export interface Hyperslab {
  start: number[];
  stride: number[];
  count: number[];
}

export type NativeErrorCode =
  | 'PH5_ERR_NOT_FOUND'
  | 'PH5_ERR_EXISTS'
  | 'PH5_ERR_TYPE'
  | 'PH5_ERR_SELECTION'
  | 'PH5_ERR_ARGUMENT'
  | 'PH5_ERR_CLOSED'
  | 'PH5_ERR_MPI'
  | 'PH5_ERR_HDF5';

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
}

export interface CreateDatasetOptions {
  dtype: NativeDtype;
  shape: number[];
  /** -1 means unlimited. Defaults to shape. */
  maxshape?: number[];
  chunks?: number[];
  /** Raw bytes of one element in `dtype`. Absent: H5D_FILL_TIME_NEVER. */
  fillValue?: Buffer;
}

export interface DatasetInfo {
  dtype: NativeDtype;
  shape: number[];
  /** -1 for unlimited dimensions. */
  maxshape: number[];
  layout: 'contiguous' | 'chunked' | 'compact';
  chunks: number[] | null;
}

export interface WriteOptions {
  /** Collective transfer (H5FD_MPIO_COLLECTIVE). Default true. */
  collective?: boolean;
  /** dtype of the bytes in `data` (defaults to the dataset's); HDF5 converts byte order. */
  memDtype?: NativeDtype;
}

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
  fileOpen(path: string, mode: OpenOptions['mode'], parallel: boolean): Promise<number>;
  fileClose(handle: number): Promise<void>;
  fileFlush(handle: number): Promise<void>;
  openObjectCount(): number;
  datasetCreate(handle: number, path: string, options: CreateDatasetOptions): Promise<void>;
  datasetInfo(handle: number, path: string): Promise<DatasetInfo>;
  datasetWrite(handle: number, path: string, selection: Hyperslab | null, data: Buffer, collective: boolean, memDtype: NativeDtype | null): Promise<WriteReport>;
  datasetRead(handle: number, path: string, selection: Hyperslab | null): Promise<Buffer>;
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
   * from 50 us to 2 ms) instead of spinning in a blocking MPI_Bcast, so an idle pool costs
   * almost no CPU. Until the bytes have arrived, later ph5 calls of this process wait.
   */
  bcast: (data: Buffer | null, root = 0): Promise<Buffer> => addon.mpiBcast(data, root),
  barrier: (): Promise<void> => addon.mpiBarrier(),
  /** Minimum of one integer over all ranks: used to agree that every rank is ready. */
  allreduceMin: (value: number): Promise<number> => addon.mpiAllreduceMin(value),
  /** Variable-length gather; the root gets one Buffer per rank, the others null. */
  gather: (data: Buffer, root = 0): Promise<Buffer[] | null> => addon.mpiGather(data, root),
};

/** Open HDF5 ids in this process (H5Fget_obj_count over all files): 0 when nothing leaks. */
export const openObjectCount = (): number => addon.openObjectCount();

export class H5File {
  #handle: number | null;
  readonly path: string;
  readonly parallel: boolean;

  private constructor(handle: number, filePath: string, parallel: boolean) {
    this.#handle = handle;
    this.path = filePath;
    this.parallel = parallel;
  }

  /** Open or create a file. With `parallel`, every rank must call this (collective). */
  static async open(filePath: string, options: OpenOptions): Promise<H5File> {
    const handle = await addon.fileOpen(filePath, options.mode, options.parallel);
    return new H5File(handle, filePath, options.parallel);
  }

  get closed(): boolean {
    return this.#handle === null;
  }

  private get handle(): number {
    if (this.#handle === null) throw new Ph5NativeError(`File ${this.path} is closed`, 'PH5_ERR_CLOSED');
    return this.#handle;
  }

  async close(): Promise<void> {
    if (this.#handle === null) return;
    const handle = this.#handle;
    this.#handle = null;
    await addon.fileClose(handle);
  }

  flush(): Promise<void> {
    return addon.fileFlush(this.handle);
  }

  createDataset(datasetPath: string, options: CreateDatasetOptions): Promise<void> {
    return addon.datasetCreate(this.handle, datasetPath, options);
  }

  datasetInfo(datasetPath: string): Promise<DatasetInfo> {
    return addon.datasetInfo(this.handle, datasetPath);
  }

  /**
   * Write `data` (C-order bytes of the selection) into `selection`; null selects nothing,
   * which is how a rank without work still joins a collective write.
   */
  write(datasetPath: string, selection: Hyperslab | null, data: Buffer, options: WriteOptions = {}): Promise<WriteReport> {
    return addon.datasetWrite(this.handle, datasetPath, selection, data, options.collective ?? true, options.memDtype ?? null);
  }

  /** Read a selection (null: everything) as raw bytes in the dataset's dtype. */
  read(datasetPath: string, selection: Hyperslab | null = null): Promise<Buffer> {
    return addon.datasetRead(this.handle, datasetPath, selection);
  }
}
