/**
 * A request body streamed into a staged file at the speed the socket delivers it (issue 15).
 *
 * The body's chunks (64 KiB each, as Node's HTTP parser hands them over) are collected as
 * they are (no Transform, no copy) into batches of BATCH_BYTES (1 MiB); each full batch is
 * written at its offset in one call (the addon's pwritev, native/src/staging_stream.cc, or
 * Node's fs writev where the addon cannot load) while the socket keeps being read. At most
 * MAX_IN_FLIGHT batches are being written at once: past that the request is paused until
 * one is written (back-pressure: the API holds at most (MAX_IN_FLIGHT + 1) × BATCH_BYTES of
 * one body). The file is fsynced once, at the end.
 *
 * What it replaces: a pipe through a counting Transform into fs.createWriteStream, whose
 * 16 KiB buffer paused the socket after every 64 KiB chunk until that chunk's write came
 * back from the libuv pool: a 1 GiB upload waited for 16,384 such round trips, the API's
 * main thread mostly idle (--cpu-prof), ~1.7 s to 202 against ~1.1 s for a bare node:http
 * sink that writes and fsyncs the same body (bench/upload-path.ts).
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { InputError } from '../../shared/input-error.js';

/**
 * Bytes of body collected before they are written in one call. 1 MiB (16 chunks; 1,024
 * calls per GiB, each a few µs of the main thread's time) rather than 4: in three
 * alternated pairs of 4 GiB uploads (bench/upload-rss.ts, disk) 1 MiB peaked at 140, 147,
 * 143 MiB at 708–767 MiB/s, 4 MiB at 145, 154, 147 MiB at 532–636 MiB/s: chunks held
 * longer outlive more scavenges and wait for a full collection.
 */
export const BATCH_BYTES = 1024 * 1024;
/** Batches being written at once, at most, before the request is paused. */
export const MAX_IN_FLIGHT = 2;
/**
 * A partial batch is written anyway once no byte has arrived for this long: what a stalled
 * client has sent is on disk (and counted by the heartbeat's reader) within 2 × this.
 */
export const IDLE_FLUSH_MS = 100;

export function bodyTooLong(expectedBytes: number): InputError {
  return new InputError('PH5_ERR_BODY_LENGTH', `The body is longer than the selection needs (${expectedBytes} bytes).`);
}

export function bodyLength(seen: number, expectedBytes: number): InputError {
  return new InputError('PH5_ERR_BODY_LENGTH', `The body has ${seen} bytes; the selection needs ${expectedBytes} (elements × itemsize).`);
}

export function bodyAborted(): InputError {
  return new InputError('PH5_ERR_BODY_ABORTED', 'The upload was aborted before the whole body arrived.');
}

/** A new file being written in batches at given offsets. */
export interface StagedFileWriter {
  /** Writes `buffers` one after the other from byte `position`, whole. */
  write(buffers: Buffer[], position: number): Promise<void>;
  /** fsync + close: the bytes are durable once it resolves. */
  finish(): Promise<void>;
  /** Closes (if still open) and removes the file; only once no write is in flight. */
  discard(): Promise<void>;
}

/** The fallback where the addon cannot load: Node's fs, writev at an offset (pwritev too). */
export class FsStagedFileWriter implements StagedFileWriter {
  #closed = false;
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
  ) {}

  static async create(path: string): Promise<FsStagedFileWriter> {
    return new FsStagedFileWriter(path, await open(path, 'wx'));
  }

  async write(buffers: Buffer[], position: number): Promise<void> {
    let rest = buffers;
    let at = position;
    for (;;) {
      const want = rest.reduce((n, b) => n + b.length, 0);
      if (want === 0) return;
      const { bytesWritten } = await this.fh.writev(rest, at);
      if (bytesWritten === want) return;
      if (bytesWritten === 0) throw Object.assign(new Error(`EIO: short write, write '${this.path}'`), { code: 'EIO', syscall: 'write', path: this.path });
      // A short write (rare on a regular file): the rest from where it stopped.
      at += bytesWritten;
      let skip = bytesWritten;
      const next: Buffer[] = [];
      for (const b of rest) {
        if (skip >= b.length) skip -= b.length;
        else {
          next.push(skip ? b.subarray(skip) : b);
          skip = 0;
        }
      }
      rest = next;
    }
  }

  async finish(): Promise<void> {
    this.#closed = true;
    try {
      await this.fh.sync();
    } finally {
      await this.fh.close();
    }
  }

  async discard(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.fh.close().catch(() => {});
    }
    await rm(this.path, { force: true });
  }
}

type NativeStagingWriter = typeof import('../../../native/lib/staging-writer.js').StagingWriter;
let nativeWriter: Promise<NativeStagingWriter | null> | undefined;

/**
 * The addon's writer (native/lib/staging-writer.ts: only the small ph5_staging addon, not
 * the MPI/HDF5 one) when it loads; Node's fs otherwise, or with `preferNative` false. A
 * failed load is tried again at the next upload.
 */
export async function createStagedFileWriter(path: string, preferNative = true): Promise<StagedFileWriter> {
  nativeWriter ??= import('../../../native/lib/staging-writer.js').then(
    (m) => m.StagingWriter,
    () => {
      nativeWriter = undefined;
      return null;
    },
  );
  const native = preferNative ? await nativeWriter : null;
  return native ? native.create(path) : FsStagedFileWriter.create(path);
}

export interface ReceiveOptions {
  batchBytes?: number;
  maxInFlight?: number;
  idleFlushMs?: number;
}

/**
 * Reads `body` to its end into `writer`, in batches, and returns once every batch is
 * written (not fsynced: the caller finishes the writer). Rejects, with every write started
 * already settled (so the caller may discard the writer at once), when the body has more
 * than `expectedBytes` bytes (as soon as it does), fewer (at its end), is aborted, errors,
 * or a write fails. The stream is paused, never destroyed: the caller can still answer.
 */
export function receiveBody(body: Readable, expectedBytes: number, writer: StagedFileWriter, opts: ReceiveOptions = {}): Promise<void> {
  const batchBytes = opts.batchBytes ?? BATCH_BYTES;
  const maxInFlight = opts.maxInFlight ?? MAX_IN_FLIGHT;
  const idleFlushMs = opts.idleFlushMs ?? IDLE_FLUSH_MS;
  return new Promise<void>((resolve, reject) => {
    let batch: Buffer[] = [];
    let batchLength = 0;

    let seen = 0;
    /** Bytes handed to the writer so far: where the next batch goes. */
    let position = 0;
    let inFlight = 0;
    let ended = false;
    let heldBack = false;
    let failure: Error | null = null;

    // One timer per upload (not one per chunk): a tick that sees no new byte since the
    // previous one writes the partial batch.
    let seenAtTick = -1;
    const idle = setInterval(() => {
      if (seen === seenAtTick && batchLength > 0 && inFlight < maxInFlight) flush();
      seenAtTick = seen;
    }, idleFlushMs).unref();
    const detach = () => {
      clearInterval(idle);
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
    };
    /** Settles once nothing is being written any more. */
    const settleIfIdle = () => {
      if (inFlight > 0) return;
      if (failure) reject(failure);
      else if (ended) {
        if (seen !== expectedBytes) reject(bodyLength(seen, expectedBytes));
        else resolve();
      }
    };
    const fail = (err: Error) => {
      if (failure || ended) return;
      failure = err;
      detach();
      body.pause();
      batch = [];
      settleIfIdle();
    };
    const flush = () => {
      const buffers = batch;
      const at = position;
      position += batchLength;
      batch = [];
      batchLength = 0;
      inFlight++;
      writer.write(buffers, at).then(
        () => {
          inFlight--;
          if (heldBack && !failure && inFlight < maxInFlight) {
            heldBack = false;
            body.resume();
          }
          settleIfIdle();
        },
        (err: Error) => {
          inFlight--;
          if (!failure) {
            failure = err;
            detach();
            body.pause();
            batch = [];
          }
          settleIfIdle();
        },
      );
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > expectedBytes) return fail(bodyTooLong(expectedBytes));
      batch.push(chunk);
      batchLength += chunk.length;
      if (batchLength < batchBytes) return;
      flush();
      if (inFlight >= maxInFlight) {
        heldBack = true;
        body.pause();
      }
    };
    const onEnd = () => {
      if (failure) return;
      detach();
      if (batchLength > 0 && seen === expectedBytes) flush();
      ended = true;
      settleIfIdle();
    };
    // A request stream errs when its client goes away mid-body (ECONNRESET 'aborted').
    const onError = (err: Error) => fail(Object.assign(bodyAborted(), { cause: err }));
    // An aborted upload may only 'close'.
    const onClose = () => {
      if (!body.readableEnded) fail(bodyAborted());
    };

    if (body.readableEnded) return onEnd();
    if (body.destroyed) return fail(bodyAborted());
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
    body.once('close', onClose);
    body.resume();
  });
}
