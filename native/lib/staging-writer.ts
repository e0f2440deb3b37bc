/**
 * A staged payload written while a request body streams in (native/src/staging_stream.cc,
 * built as its own small addon, ph5_staging.node: no MPI, no HDF5, so the API can load it
 * without mapping OpenMPI and HDF5, 13 MiB of resident memory).
 *
 * Batches of the body's chunks are written each at its offset with pwritev on a libuv pool
 * thread (no copy: the Buffers must not change until the write settles); finish() fsyncs
 * once. Several writes may be in flight (disjoint ranges); finish() and discard() refuse
 * while any is (wait for them first). Failures are Node-style fs errors (`code` 'ENOSPC',
 * `errno`, `syscall`, `path`); misuse (a write after finish, finish with writes in flight)
 * rejects with code 'PH5_ERR_STAGING', a bad argument with 'PH5_ERR_ARGUMENT'.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

declare const stagingWriterHandle: unique symbol;
/** The addon's handle of one staged file being written. */
type StagingWriterHandle = { readonly [stagingWriterHandle]: true };

interface RawStagingAddon {
  stagingWriterOpen(path: string): Promise<StagingWriterHandle>;
  stagingWriterWrite(handle: StagingWriterHandle, buffers: Buffer[], position: number): Promise<void>;
  stagingWriterFinish(handle: StagingWriterHandle): Promise<void>;
  stagingWriterDiscard(handle: StagingWriterHandle): Promise<void>;
}

function loadStagingAddon(): RawStagingAddon {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // dist/native/lib -> repository root; native/build is never copied into dist.
  const root = path.resolve(here, '..', '..', '..');
  return createRequire(import.meta.url)(path.join(root, 'native', 'build', 'Release', 'ph5_staging.node')) as RawStagingAddon;
}

const addon = loadStagingAddon();

export class StagingWriter {
  private constructor(
    readonly path: string,
    private readonly handle: StagingWriterHandle,
  ) {}

  // Every method returns a Promise, never throws: an argument the addon refuses rejects.

  /** Creates `path` (never an existing file: EEXIST). */
  static async create(path: string): Promise<StagingWriter> {
    return new StagingWriter(path, await addon.stagingWriterOpen(path));
  }

  /** Writes `buffers` one after the other from byte `position`, whole. */
  async write(buffers: Buffer[], position: number): Promise<void> {
    return addon.stagingWriterWrite(this.handle, buffers, position);
  }

  /** fsync, then close: the bytes are durable once it resolves (not the directory entry). */
  async finish(): Promise<void> {
    return addon.stagingWriterFinish(this.handle);
  }

  /** Closes (if still open) and removes the file; also after a failed finish(). */
  async discard(): Promise<void> {
    return addon.stagingWriterDiscard(this.handle);
  }
}
