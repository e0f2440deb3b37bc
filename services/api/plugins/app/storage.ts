/**
 * Where files and staged payloads live, and the checks that keep every request inside its
 * project's directory: names are validated, and the resolved path (symlinks included)
 * must stay under the project directory.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, open, realpath, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stagingDir, type Config } from '../../../shared/config.js';
import { InputError } from '../../../shared/input-error.js';
import { validateFileName, validateProjectName } from '../../../shared/names.js';
import { loadNative } from './native-binding.js';

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

function bodyTooLong(expectedBytes: number): InputError {
  return new InputError('PH5_ERR_BODY_LENGTH', `The body is longer than the selection needs (${expectedBytes} bytes).`);
}

function bodyLength(seen: number, expectedBytes: number): InputError {
  return new InputError('PH5_ERR_BODY_LENGTH', `The body has ${seen} bytes; the selection needs ${expectedBytes} (elements × itemsize).`);
}

function bodyAborted(): InputError {
  return new InputError('PH5_ERR_BODY_ABORTED', 'The upload was aborted before the whole body arrived.');
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

  async init(): Promise<void> {
    await mkdir(this.staging, { recursive: true });
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
   * Streams a request body into the staging area, counting bytes, and fsyncs it. Any
   * failure (too many or too few bytes, aborted upload, disk full) removes the partial
   * file. The request stream itself is never destroyed here, so the caller can still
   * answer with a problem (and close the connection).
   */
  async stageStream(body: Readable, expectedBytes: number): Promise<string> {
    const name = `${randomUUID()}.bin`;
    const full = path.join(this.staging, name);
    let seen = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        if (seen > expectedBytes) {
          done(bodyTooLong(expectedBytes));
          return;
        }
        done(null, chunk);
      },
    });
    // pipe() does not forward a source's errors, and an aborted upload may only 'close'.
    const onError = (err: Error) => counter.destroy(err);
    const onClose = () => {
      if (!body.readableEnded) counter.destroy(bodyAborted());
    };
    body.once('error', onError);
    body.once('close', onClose);
    body.pipe(counter);
    try {
      // flush: fsync before the stream closes its descriptor (no second open to sync).
      await pipeline(counter, createWriteStream(full, { flags: 'wx', flush: true }));
      if (seen !== expectedBytes) {
        throw bodyLength(seen, expectedBytes);
      }
      await this.#syncStaging(); // the new directory entry, too
      return name;
    } catch (err) {
      body.unpipe(counter);
      await rm(full, { force: true });
      throw err;
    } finally {
      body.off('error', onError);
      body.off('close', onClose);
    }
  }

  async stageBuffer(bytes: Buffer): Promise<string> {
    return this.#stage([bytes]);
  }

  /**
   * A new staged file holding `parts` one after the other, fsynced with its directory
   * entry. Through the addon's stagingIo when it loads: one trip to the libuv pool instead
   * of Node fs's seven (open, write, fsync, close, and the directory's open, fsync, close),
   * which under load cost more CPU than the writes themselves.
   */
  async #stage(parts: Buffer[]): Promise<string> {
    const name = `${randomUUID()}.bin`;
    const full = path.join(this.staging, name);
    // Where the addon cannot be loaded, the API still accepts writes, through Node's fs.
    const io = await loadNative().then(
      (m) => m.stagingIo,
      () => null,
    );
    if (io) {
      await io.stageFile(full, parts, this.staging); // removes the file itself on failure
      return name;
    }
    try {
      const fh = await open(full, 'wx');
      try {
        await fh.writeFile(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
        // The file and its directory entry are synced at once (one journal commit on most
        // file systems, instead of two in a row).
        await Promise.all([fh.sync(), this.#syncStaging()]);
      } finally {
        await fh.close();
      }
      return name;
    } catch (err) {
      await rm(full, { force: true });
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
