/**
 * What happens to an H5File that is garbage-collected while still open: without this, its
 * HDF5 file id would stay open for the life of the process (the addon's table of open
 * files holds it, and nothing else will ever name its handle again).
 *
 * - A serial file is closed: an ordinary asynchronous fileClose, queued like any other call
 *   (so after every call already made on it) and run on the libuv pool, off the JS thread.
 * - A parallel file is NOT closed. Its close is collective: every rank must make it, in
 *   the same order relative to their other calls, and garbage collection happens at a
 *   different moment on each rank. A close started by the collector on one rank would hang
 *   it, or pair with an unrelated collective of another rank. The process gets a warning
 *   (code PH5_UNCLOSED_PARALLEL_FILE) instead; the id stays open until mpi.finalize(),
 *   which closes every file still open.
 *
 * A file closed explicitly is unregistered, so the collector never closes a handle twice.
 */

/** What the collector needs to know of a file; never the H5File itself (it would stay alive). */
export interface FileRecord {
  handle: number;
  path: string;
  parallel: boolean;
}

export type CloseHandle = (handle: number) => Promise<void>;

export function createFileFinalizer(close: CloseHandle): {
  watch(file: object, record: FileRecord): void;
  forget(file: object): void;
} {
  const registry = new FinalizationRegistry<FileRecord>((record) => {
    if (record.parallel) {
      process.emitWarning(
        `H5File ${record.path} (parallel) was garbage-collected while open; it stays open until mpi.finalize(), ` +
          'because a collective close cannot be started from the garbage collector: close parallel files explicitly',
        { code: 'PH5_UNCLOSED_PARALLEL_FILE' },
      );
      return;
    }
    // A rejection must not become an unhandled one (it would end the process). The handle
    // may be gone already (mpi.finalize() closes every file): nothing to do then.
    close(record.handle).catch((e: unknown) => {
      if ((e as { code?: string }).code === 'PH5_ERR_CLOSED') return;
      process.emitWarning(`closing the garbage-collected H5File ${record.path} failed: ${String(e)}`, {
        code: 'PH5_FINALIZER_CLOSE_FAILED',
      });
    });
  });
  return {
    watch: (file, record) => registry.register(file, record, file),
    forget: (file) => {
      registry.unregister(file);
    },
  };
}
