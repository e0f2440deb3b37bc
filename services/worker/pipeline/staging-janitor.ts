/**
 * Staged payloads: those of completed jobs are removed together, at the next turn after
 * their jobs completed; those of failed jobs stay for the retention period (so a failure
 * can be investigated), then an hourly sweep removes them.
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { stagingIo } from '../../../native/lib/index.js';
import { isStagedName } from '../../shared/names.js';
import type { JobData } from '../../shared/jobs.js';
import type { Logger } from '../log.js';

const SWEEP_EVERY_MS = 3600_000;

export class StagingJanitor {
  /** Staged payloads of completed jobs, removed together at the next turn (a removal is scheduled while it is not empty). */
  readonly #toDrop = new Set<string>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(
    readonly dir: string,
    readonly retentionS: number,
    readonly log: Logger,
  ) {}

  async prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /** A sweep now, then every hour. */
  start(): void {
    void this.sweep();
    this.#sweeper = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.#sweeper.unref();
  }

  stop(): void {
    clearInterval(this.#sweeper);
  }

  /** A job completed in Redis: its staged payloads go. */
  drop(data: JobData): void {
    // Writes accepted together name one shared staged file: removed once.
    const scheduled = this.#toDrop.size > 0;
    for (const op of data?.ops ?? []) if (op.op === 'write' && isStagedName(op.staged)) this.#toDrop.add(path.join(this.dir, op.staged));
    if (scheduled || this.#toDrop.size === 0) return;
    // The jobs of an epoch complete together: their files go in one unlink call (one trip
    // to the libuv pool for all of them, instead of two per file with fs.rm).
    setImmediate(() => {
      const paths = [...this.#toDrop];
      this.#toDrop.clear();
      stagingIo.unlinkFiles(paths).catch((err: Error) => this.log.warn(`removing staged payloads: ${err.message}`));
    });
  }

  /** Deletes staged payloads older than the retention period (those of failed jobs). */
  async sweep(): Promise<void> {
    const cutoff = Date.now() - this.retentionS * 1000;
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of names) {
      const st = await stat(path.join(this.dir, name)).catch(() => null);
      if (st?.isFile() && st.mtimeMs < cutoff) await rm(path.join(this.dir, name), { force: true }).catch(() => {});
    }
  }
}
