/**
 * Supervises one worker pool on this machine: `mpirun -n N node .../main.js`, restarted
 * when it dies unexpectedly (a rank was killed, mpirun crashed), with backoff. The queue
 * gives the interrupted job back (BullMQ stalled-job handling), so a restart loses nothing.
 *
 * On a cluster the batch templates in docker/ launch main.js with srun/jsrun instead; this
 * supervisor is for local runs and tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const WORKER_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');

export interface PoolOptions {
  ranks: number;
  /** Environment for the ranks (PH5_REDIS_URL, PH5_DATA_DIR, ...). */
  env: NodeJS.ProcessEnv;
  /** Launcher, default `mpirun`; extra launcher arguments from PH5_MPIRUN_ARGS. */
  mpirun?: string;
  extraArgs?: string[];
  /** Where the ranks' output goes. Default: inherit. */
  stdio?: 'inherit' | 'pipe';
  onOutput?: (chunk: string) => void;
  log?: (msg: string) => void;
  /** Restart after an unexpected exit. Default true. */
  restart?: boolean;
}

export function mpirunArgs(ranks: number, extra: string[] = []): string[] {
  return [
    '--oversubscribe',
    // A service's ranks wait most of the time; pinning them one per core helps nothing
    // and, oversubscribed, hurts.
    '--bind-to', 'none',
    '-n', String(ranks),
    ...extra,
    process.execPath,
    WORKER_ENTRY,
  ];
}

export function mpiEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  // OpenMPI refuses to run as root unless told; containers and CI run as root.
  if (process.getuid?.() === 0) {
    out.OMPI_ALLOW_RUN_AS_ROOT ??= '1';
    out.OMPI_ALLOW_RUN_AS_ROOT_CONFIRM ??= '1';
  }
  return out;
}

export class WorkerPool {
  #child: ChildProcess | undefined;
  #stopping = false;
  #exited: Promise<void> = Promise.resolve();
  restarts = 0;
  readonly #opts: PoolOptions;

  constructor(opts: PoolOptions) {
    this.#opts = opts;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  start(): void {
    const extra = this.#opts.extraArgs ?? (process.env.PH5_MPIRUN_ARGS?.split(/\s+/).filter(Boolean) ?? []);
    const child = spawn(this.#opts.mpirun ?? process.env.PH5_MPIRUN ?? 'mpirun', mpirunArgs(this.#opts.ranks, extra), {
      env: mpiEnv(this.#opts.env),
      stdio: ['ignore', this.#opts.stdio ?? 'inherit', this.#opts.stdio ?? 'inherit'],
      // Own process group: a terminal's Ctrl-C reaches us, and we drain the pool in order.
      detached: true,
    });
    if (this.#opts.stdio === 'pipe') {
      child.stdout?.on('data', (b: Buffer) => this.#opts.onOutput?.(b.toString()));
      child.stderr?.on('data', (b: Buffer) => this.#opts.onOutput?.(b.toString()));
    }
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        resolve();
        if (this.#stopping || this.#opts.restart === false) return;
        this.#opts.log?.(`worker pool exited (code ${code}, signal ${signal}); restarting`);
        this.restarts++;
        const delay = Math.min(5000, 250 * 2 ** Math.min(this.restarts, 4));
        void sleep(delay).then(() => {
          if (!this.#stopping) this.start();
        });
      });
    });
  }

  /** Drain: SIGUSR1 (forwarded by mpirun to the ranks), then SIGTERM/SIGKILL if it hangs. */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.#stopping = true;
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGUSR1');
    const timedOut = await Promise.race([this.#exited.then(() => false), sleep(timeoutMs).then(() => true)]);
    if (timedOut) {
      this.#opts.log?.('worker pool did not drain in time; terminating');
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
      await this.#exited;
    }
  }
}
