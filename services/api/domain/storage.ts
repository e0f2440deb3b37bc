/**
 * Where files and staged payloads live, and the checks that keep every request inside its
 * project's directory: names are validated, and the resolved path (symlinks included)
 * must stay under the project directory.
 *
 * A payload staged from a request body is written under a partial name and renamed to
 * `<uuid>.bin` once complete and fsynced (partial-uploads.ts): what a process that died
 * mid-upload left behind is told apart from payloads of accepted jobs, and removed at
 * start-up and every SWEEP_EVERY_MS.
 */
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, open, readdir, realpath, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { stagingDir, type Config } from '../../shared/config.js';
import { InputError } from '../../shared/input-error.js';
import { validateFileName, validateProjectName } from '../../shared/names.js';
import { loadNative } from '../lib/native-binding.js';
import { bodyAborted, bodyLength, bodyTooLong, createStagedFileWriter, receiveBody } from '../lib/stream-stager.js';
import {
  currentOwner,
  HEARTBEAT_MS,
  partialFate,
  partialName,
  parsePartialName,
  processStartTime,
  STALE_MS,
  type UploadOwner,
} from '../lib/partial-uploads.js';

/** How often staging is swept for partial uploads of dead processes (besides at start-up). */
const SWEEP_EVERY_MS = STALE_MS / 2;

/** How long a passed path check (a project directory's realpath, a file's lstat) is trusted. */
const RECHECK_AFTER_MS = 1000;

/** Keys added within the last `ttlMs` (bounded: past 10,000 keys it forgets them all). */
class RecentKeys {
  readonly #addedAt = new Map<string, number>();
  constructor(private readonly ttlMs: number) {}

  has(key: string): boolean {
    const at = this.#addedAt.get(key);
    return at !== undefined && Date.now() - at < this.ttlMs;
  }

  add(key: string): void {
    if (this.#addedAt.size > 10_000) this.#addedAt.clear();
    this.#addedAt.set(key, Date.now());
  }
}

/** The first 8 bytes of an HDF5 superblock. */
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

export class Storage {
  readonly #config: Config;
  readonly staging: string;

  constructor(config: Config) {
    this.#config = config;
    this.staging = stagingDir(config);
  }

  /** Who writes this process's partial uploads (see partial-uploads.ts). */
  #owner: UploadOwner = { boot: '00000000', pidns: 0, pid: process.pid, start: 0 };
  /** This process as /proc sees it; null: every writer is judged by its heartbeat. */
  #self: UploadOwner | null = null;
  #sweeper: NodeJS.Timeout | undefined;

  /**
   * Creates the staging directory and removes the partial uploads of dead processes
   * (before the first request: a restarted API cleans up after its crashed self), then
   * again every SWEEP_EVERY_MS (other API processes sharing the directory may die too).
   */
  async init(log?: (msg: string) => void): Promise<void> {
    await mkdir(this.staging, { recursive: true });
    this.#self = await currentOwner();
    if (this.#self) this.#owner = this.#self;
    const sweep = () =>
      this.sweepPartialUploads().then(
        (removed) => {
          if (removed.length) log?.(`removed ${removed.length} partial upload(s) of dead API processes from ${this.staging}: ${removed.join(', ')}`);
        },
        (err: Error) => log?.(`sweeping partial uploads: ${err.message}`),
      );
    await sweep();
    this.#sweeper = setInterval(() => void sweep(), SWEEP_EVERY_MS).unref();
  }

  close(): void {
    clearInterval(this.#sweeper);
  }

  /** Removes the partial uploads whose writer is gone; returns their names. */
  async sweepPartialUploads(): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await readdir(this.staging)) {
      const owner = parsePartialName(name);
      if (!owner) continue; // staged payloads (<uuid>.bin) are the jobs' business
      const full = path.join(this.staging, name);
      const st = await stat(full).catch(() => null);
      if (!st?.isFile()) continue;
      const sameNamespace = this.#self !== null && owner.boot === this.#self.boot && owner.pidns === this.#self.pidns;
      const ownerPidStart = sameNamespace ? await processStartTime(owner.pid) : null;
      const fate = partialFate({ name, self: this.#self, ownerPidStart, ageMs: Date.now() - st.mtimeMs });
      if (!fate.remove) continue;
      await rm(full, { force: true });
      removed.push(`${name} (${fate.why})`);
    }
    return removed;
  }

  /** A new partial file's path, and the final `<uuid>.bin` name it gets once complete. */
  #newUpload(): { name: string; partial: string; full: string } {
    const uuid = randomUUID();
    const name = `${uuid}.bin`;
    return { name, partial: path.join(this.staging, partialName(uuid, this.#owner)), full: path.join(this.staging, name) };
  }

  /**
   * The absolute path of a project's file, or PH5_ERR_FILE_NAME when the name is invalid
   * or the path leads outside the project (a symlink planted in the data directory).
   * `exists` tells whether the file is there.
   *
   * Every write request resolves its file, so this costs one lstat: a file name is one
   * segment (names.ts), so once it is a regular file (not a symlink) its real path is its
   * project directory's real path plus the name, and that directory's check is remembered
   * for a second (the data root's real path for the process's life).
   */
  async resolve(project: string, file: string): Promise<{ path: string; exists: boolean }> {
    validateProjectName(project);
    validateFileName(file);
    const projectDir = path.join(this.#config.dataDir, project);
    const full = path.join(projectDir, file);
    let exists = true;
    try {
      const st = await lstat(full);
      if (st.isSymbolicLink() || !st.isFile()) {
        throw new InputError('PH5_ERR_FILE_NAME', `'${file}' is not a regular file in this project.`);
      }
      if (!(await this.#projectDirIsReal(project, projectDir))) {
        throw new InputError('PH5_ERR_FILE_NAME', `'${file}' resolves outside this project.`);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      exists = false;
    }
    return { path: full, exists };
  }

  readonly #seenFiles = new RecentKeys(RECHECK_AFTER_MS);

  /**
   * resolve() for requests that only need the traversal check (writes queue a job; the
   * worker opens the file): a file seen as a regular file inside its project in the last
   * second is not looked at again. Thousands of small writes to one file cost one lstat a
   * second instead of one each.
   */
  async checkTarget(project: string, file: string): Promise<void> {
    const key = `${project}/${file}`;
    if (this.#seenFiles.has(key)) return;
    const { exists } = await this.resolve(project, file);
    if (!exists) return;
    this.#seenFiles.add(key);
  }

  #realRoot: Promise<string> | undefined;
  readonly #checkedDirs = new RecentKeys(RECHECK_AFTER_MS);

  /** Whether the project's directory is really `<real data root>/<project>` (no symlink out). */
  async #projectDirIsReal(project: string, projectDir: string): Promise<boolean> {
    if (this.#checkedDirs.has(project)) return true;
    this.#realRoot ??= realpath(this.#config.dataDir).catch((err: unknown) => {
      this.#realRoot = undefined;
      throw err;
    });
    const [realRoot, realDir] = await Promise.all([this.#realRoot, realpath(projectDir)]);
    if (realDir !== path.join(realRoot, project)) return false;
    this.#checkedDirs.add(project);
    return true;
  }

  /**
   * Reads a small request body whole (at most `expectedBytes`; a write that joins a group
   * is staged together with others). The same refusals as stageStream.
   */
  async readBody(body: Readable, expectedBytes: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(expectedBytes);
    let seen = 0;
    await new Promise<void>((resolve, reject) => {
      const finish = (err?: Error) => {
        body.off('data', onData);
        body.off('end', onEnd);
        body.off('error', onError);
        body.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onData = (chunk: Buffer) => {
        if (seen + chunk.length > expectedBytes) {
          body.pause();
          finish(bodyTooLong(expectedBytes));
          return;
        }
        chunk.copy(out, seen);
        seen += chunk.length;
      };
      const onEnd = () => finish();
      const onError = (err: Error) => finish(err);
      const onClose = () => {
        if (!body.readableEnded) finish(bodyAborted());
      };
      body.on('data', onData);
      body.once('end', onEnd);
      body.once('error', onError);
      body.once('close', onClose);
      if (body.readableEnded) finish();
    });
    if (seen !== expectedBytes) {
      throw bodyLength(seen, expectedBytes);
    }
    return out;
  }

  /**
   * Stages several payloads as ONE file (one write, one fsync): returns its name and where
   * each part starts. Removed again if anything fails.
   */
  async stageParts(parts: Buffer[]): Promise<{ name: string; offsets: number[] }> {
    const offsets: number[] = [];
    let at = 0;
    for (const p of parts) {
      offsets.push(at);
      at += p.length;
    }
    const name = await this.#stage(parts);
    return { name, offsets };
  }

  /**
   * Streams a request body into the staging area, counting bytes, and fsyncs it: batches
   * of the body's chunks written while the socket keeps being read (stream-stager.ts), one
   * fsync at the end. Any failure (too many or too few bytes, aborted upload, disk full)
   * removes the partial file. The request stream itself is never destroyed here, so the
   * caller can still answer with a problem (and close the connection).
   */
  async stageStream(body: Readable, expectedBytes: number, prefix?: Buffer): Promise<string> {
    const { name, partial, full } = this.#newUpload();
    const file = await createStagedFileWriter(partial);
    // `prefix` (a point write's coordinates) goes first; the body's bytes right after it.
    const shift = prefix?.length ?? 0;
    const writer =
      shift === 0
        ? file
        : { write: (buffers: Buffer[], position: number) => file.write(buffers, position + shift), finish: () => file.finish(), discard: () => file.discard() };
    // The heartbeat other hosts' sweepers judge this upload by, also while the client stalls.
    const heartbeat = setInterval(() => {
      const now = new Date();
      utimes(partial, now, now).catch(() => {});
    }, HEARTBEAT_MS).unref();
    try {
      if (prefix && shift > 0) await file.write([prefix], 0);
      await receiveBody(body, expectedBytes, writer);
      await writer.finish();
      await rename(partial, full); // complete: from now on only a job's to remove
      await this.#syncStaging(); // the new directory entry, too
      return name;
    } catch (err) {
      // receiveBody settles only once no write is in flight, so the writer can be discarded.
      await writer.discard().catch(() => {});
      await Promise.all([rm(partial, { force: true }), rm(full, { force: true })]);
      throw err;
    } finally {
      clearInterval(heartbeat);
    }
  }

  /**
   * Stages one payload (a JSON write's encoded values, up to 64 MiB) under a partial name
   * first, like a stream: writing it can take long enough for a crash to cut it short.
   */
  async stageBuffer(bytes: Buffer): Promise<string> {
    return this.#stage([bytes], true);
  }

  /**
   * A new staged file holding `parts` one after the other, fsynced with its directory
   * entry. Through the addon's stagingIo when it loads: one trip to the libuv pool instead
   * of Node fs's seven (open, write, fsync, close, and the directory's open, fsync, close),
   * which under load cost more CPU than the writes themselves.
   *
   * `viaPartial`: written under a partial name and renamed when complete (one more
   * directory fsync). Group commits (small writes, already in memory, one system call
   * each) are written under their final name: the partial name's second directory
   * fsync would cost every small write, and what a crash in that one writev can leave is
   * at most a few KiB for the retention sweep.
   */
  async #stage(parts: Buffer[], viaPartial = false): Promise<string> {
    const upload = this.#newUpload();
    const { name, full } = upload;
    const target = viaPartial ? upload.partial : full;
    // Where the addon cannot be loaded, the API still accepts writes, through Node's fs.
    const io = await loadNative().then(
      (m) => m.stagingIo,
      () => null,
    );
    if (io) {
      await io.stageFile(target, parts, this.staging); // removes the file itself on failure
      if (viaPartial) await this.#commitPartial(target, full);
      return name;
    }
    try {
      const fh = await open(target, 'wx');
      try {
        await fh.writeFile(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
        // The file and its directory entry are synced at once (one journal commit on most
        // file systems, instead of two in a row).
        await Promise.all([fh.sync(), this.#syncStaging()]);
      } finally {
        await fh.close();
      }
      if (viaPartial) await this.#commitPartial(target, full);
      return name;
    } catch (err) {
      await rm(target, { force: true });
      throw err;
    }
  }

  /** Renames a complete, fsynced partial file to its final name, durably. */
  async #commitPartial(partial: string, full: string): Promise<void> {
    try {
      await rename(partial, full);
      await this.#syncStaging();
    } catch (err) {
      await Promise.all([rm(partial, { force: true }), rm(full, { force: true })]);
      throw err;
    }
  }

  /**
   * Whether a file carries HDF5's superblock signature where the format allows it: at
   * offset 0, or after a user block of 512, 1024, 2048... bytes.
   */
  async looksLikeHdf5(full: string): Promise<boolean> {
    const fh = await open(full, 'r');
    try {
      const { size } = await fh.stat();
      const probe = Buffer.alloc(HDF5_SIGNATURE.length);
      for (let offset = 0; offset + probe.length <= size; offset = offset === 0 ? 512 : offset * 2) {
        const { bytesRead } = await fh.read(probe, 0, probe.length, offset);
        if (bytesRead === probe.length && probe.equals(HDF5_SIGNATURE)) return true;
      }
      return false;
    } finally {
      await fh.close();
    }
  }

  async unstage(name: string): Promise<void> {
    if (path.basename(name) === name) await rm(path.join(this.staging, name), { force: true });
  }

  #stagingSync: Promise<void> | null = null;
  #stagingSyncNext: Promise<void> | null = null;

  /**
   * fsync of the staging directory, shared by concurrent requests (group commit): a caller
   * joins the next sync to start, never one already running (which may predate its new
   * directory entry). Under load, one directory fsync serves many staged payloads.
   */
  #syncStaging(): Promise<void> {
    const start = (): Promise<void> => {
      const run: Promise<void> = this.#fsync(this.staging).finally(() => {
        if (this.#stagingSync === run) this.#stagingSync = null;
      });
      this.#stagingSync = run;
      return run;
    };
    if (!this.#stagingSync) return start();
    this.#stagingSyncNext ??= this.#stagingSync
      .catch(() => {})
      .then(() => {
        this.#stagingSyncNext = null;
        return start();
      });
    return this.#stagingSyncNext;
  }

  async #fsync(file: string): Promise<void> {
    const fh = await open(file, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}
