/**
 * Supervises one worker pool: a launcher (`mpirun`, or `srun`/`jsrun` inside a batch
 * allocation) running N ranks of main.js, restarted when it dies unexpectedly (a rank was
 * killed, the launcher crashed), with backoff. The queue gives the interrupted job back
 * (BullMQ stalled-job handling), so a restart loses nothing.
 *
 * Drain: stop() sends SIGUSR2 to the launcher. mpirun and srun forward SIGUSR2 to every
 * rank (mpirun does NOT forward SIGTERM: it kills the job), rank 0 finishes the job in hand
 * and releases the others, and the launcher exits 0. Not SIGUSR1, which mpirun forwards
 * too: Node's default for SIGUSR1 is to open the inspector, and a rank that is still
 * starting has no handler of its own yet (rank-signals.ts). A launcher that exits 0 on its own was
 * drained by someone else (e.g. Slurm signalled the ranks directly): that is an end, not a
 * crash, so the pool is not restarted and `finished` resolves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { processStat, watchLauncher, type LauncherWatch } from './launcher-watch.js';
import { checkPoolNetworkSupport, formatPoolNetwork, mpiNetworkEnv, mpirunForwardArgs, parsePoolNetwork, type PoolNetwork } from './network.js';

export const WORKER_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');

/** How the ranks are started: mpirun on a workstation, srun under Slurm, jsrun under LSF. */
export type Launcher = 'mpirun' | 'srun' | 'jsrun';
export const LAUNCHERS: readonly Launcher[] = ['mpirun', 'srun', 'jsrun'];

/**
 * Sent to the launcher to drain the pool; mpirun and srun (and jsrun) pass it to the ranks.
 * Never SIGUSR1: that one opens Node's inspector in a rank that has no handler yet.
 */
export const DRAIN_SIGNAL = 'SIGUSR2';

/**
 * Node flag of every rank: should SIGUSR1 reach a rank before its own handler is installed
 * (rank-signals.ts), Node 20 (which has no --disable-sigusr1) starts the inspector; with
 * this host it fails to bind ("address not available": 192.0.2.1 is TEST-NET-1, reserved
 * for documentation, never a local address) instead of listening on 127.0.0.1:9229. Flags
 * from PH5_RANK_NODE_ARGS come after it, so a deliberate --inspect still works.
 */
export const INSPECTOR_OFF_FLAG = '--inspect-port=192.0.2.1:0';

/** How often stop() repeats the drain signal while the launcher runs on. */
const DRAIN_RESEND_MS = 2000;

/** Environment variable naming the pool launch a process belongs to (see sweepRanks). */
const LAUNCH_MARKER = 'PH5_POOL_LAUNCH';

export interface PoolOptions {
  ranks: number;
  /** Environment for the ranks (PH5_REDIS_URL, PH5_DATA_DIR, ...). */
  env: NodeJS.ProcessEnv;
  /** Default: PH5_LAUNCHER, else mpirun. */
  launcher?: Launcher;
  /** The launcher's executable. Default: PH5_MPIRUN for mpirun, else the launcher's name. */
  mpirun?: string;
  /** Extra launcher arguments, before the program. Default: PH5_LAUNCHER_ARGS (or PH5_MPIRUN_ARGS). */
  extraArgs?: string[];
  /** Where the ranks' output goes. Default: inherit. */
  stdio?: 'inherit' | 'pipe';
  onOutput?: (chunk: string) => void;
  log?: (msg: string) => void;
  /** Restart after an unexpected exit. Default true. */
  restart?: boolean;
  /**
   * How long the launcher may outlive one of its ranks before the pool is killed and
   * restarted (see launcher-watch.ts). Default: PH5_RANK_EXIT_GRACE_MS, else 20 s.
   */
  rankExitGraceMs?: number;
}

/** PH5_RANK_EXIT_GRACE_MS: milliseconds a launcher may outlive one of its ranks. */
export function rankExitGraceMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.PH5_RANK_EXIT_GRACE_MS || '20000';
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms <= 0) throw new Error(`PH5_RANK_EXIT_GRACE_MS must be a number of milliseconds > 0, got '${raw}'`);
  return ms;
}

export function mpirunArgs(ranks: number, extra: string[] = []): string[] {
  return [
    '--oversubscribe',
    // A service's ranks wait most of the time; pinning them one per core helps nothing
    // and, oversubscribed, hurts.
    '--bind-to',
    'none',
    '-n',
    String(ranks),
    ...extra,
    ...rankProgram(),
  ];
}

/** node, its flags and the worker's entry point: what every launcher starts on each rank. */
function rankProgram(): string[] {
  return [process.execPath, INSPECTOR_OFF_FLAG, ...rankNodeArgs(), WORKER_ENTRY];
}

/**
 * PH5_RANK_NODE_ARGS: extra node flags for every rank, for profiling (e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof`, which NODE_OPTIONS does not allow).
 */
function rankNodeArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  return splitArgs(env.PH5_RANK_NODE_ARGS);
}

/** The command line that starts `ranks` ranks of the worker with the given launcher. */
export function launchCommand(
  launcher: Launcher,
  ranks: number,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): { command: string; args: string[] } {
  const program = rankProgram();
  switch (launcher) {
    case 'mpirun':
      return { command: env.PH5_MPIRUN || 'mpirun', args: mpirunArgs(ranks, extra) };
    case 'srun':
      // PMIx is how Debian's (and most sites') OpenMPI wires up under srun. One failed
      // rank ends the step, so the supervisor can restart the whole pool.
      return { command: 'srun', args: ['--mpi=pmix', '--kill-on-bad-exit=1', '-n', String(ranks), ...extra, ...program] };
    case 'jsrun':
      // One resource set per rank, one CPU each (Summit-style); the site adds -r/-g.
      return { command: 'jsrun', args: ['-n', String(ranks), '-a', '1', '-c', '1', ...extra, ...program] };
  }
}

export function parseLauncher(raw: string | undefined): Launcher {
  const value = (raw || 'mpirun') as Launcher;
  if (!LAUNCHERS.includes(value)) throw new Error(`PH5_LAUNCHER must be one of ${LAUNCHERS.join(', ')}, got '${raw}'`);
  return value;
}

function splitArgs(raw: string | undefined): string[] {
  return raw?.split(/\s+/).filter(Boolean) ?? [];
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

const NODE_EXECUTABLE = realpathSync(process.execPath);
/** The kernel's name for a process running it (at most 15 bytes of the file name). */
const NODE_COMM = path.basename(process.execPath).slice(0, 15);

/**
 * A rank of ours: the node executable running the worker's entry point. (A launcher's
 * command line names the entry point too, and so does a child it forked, until that child
 * executes something: the executable tells them apart.)
 */
async function isRank(pid: number): Promise<boolean> {
  try {
    const [exe, cmdline] = await Promise.all([readlink(`/proc/${pid}/exe`), readFile(`/proc/${pid}/cmdline`, 'utf8')]);
    return exe === NODE_EXECUTABLE && cmdline.split('\0').includes(WORKER_ENTRY);
  } catch {
    // A zombie has neither: a dead node child of the launcher it never reaped is a rank
    // that died before it was seen alive.
    const stat = await processStat(pid);
    return stat?.comm === NODE_COMM && stat.state === 'Z';
  }
}

/**
 * SIGKILL to ranks last seen alive, each checked again first (its pid could have been
 * reused since). Without it they would outlive their launcher: OpenMPI puts every rank in
 * a process group of its own, and an orphaned rank takes seconds to notice it is one.
 */
async function killRanks(ranks: readonly number[]): Promise<void> {
  for (const pid of ranks) {
    try {
      if (await isRank(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/**
 * Ranks of one launch on this host, found by the marker in their environment: also those
 * the launcher watch never saw (a launcher that died while it was starting them, e.g. on a
 * drain signal that came before it could forward signals, leaves ranks nobody knows of).
 */
async function ranksOfLaunch(launch: string): Promise<number[]> {
  const needle = Buffer.from(`\0${LAUNCH_MARKER}=${launch}\0`);
  const out: number[] = [];
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const environ = await readFile(`/proc/${pid}/environ`).catch(() => null);
    if (environ && Buffer.concat([Buffer.from([0]), environ]).includes(needle) && (await isRank(pid))) out.push(pid);
  }
  return out;
}

/** SIGKILL to every rank of a launch that is still here: those seen alive, and those marked. */
async function sweepRanks(seen: readonly number[], launch: string): Promise<void> {
  await killRanks(seen);
  await killRanks(await ranksOfLaunch(launch));
}

/** SIGKILL to the launcher's process group, then to its local ranks. */
async function killPool(launcherPid: number, ranks: readonly number[], launch: string): Promise<void> {
  try {
    process.kill(-launcherPid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  await sweepRanks(ranks, launch);
}

export class WorkerPool {
  #child: ChildProcess | undefined;
  #ranks: LauncherWatch | undefined;
  #stopping = false;
  #exited: Promise<void> = Promise.resolve();
  #finish!: () => void;
  /** Resolves when the pool has ended for good: stopped, or drained from outside. */
  readonly finished: Promise<void> = new Promise((resolve) => (this.#finish = resolve));
  restarts = 0;
  readonly #opts: PoolOptions;

  readonly #graceMs: number;
  readonly #network: PoolNetwork;
  /** The current launch's marker (see ranksOfLaunch). */
  #launch = '';

  constructor(opts: PoolOptions) {
    this.#opts = opts;
    this.#graceMs = opts.rankExitGraceMs ?? rankExitGraceMs(opts.env);
    // Checked here, not at start(): a restart must not throw.
    this.#network = parsePoolNetwork(opts.env.PH5_POOL_NETWORK, this.launcher);
    checkPoolNetworkSupport(this.#network);
  }

  /** Where the pool's processes listen (PH5_POOL_NETWORK, resolved for the launcher). */
  get network(): PoolNetwork {
    return this.#network;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get launcher(): Launcher {
    return this.#opts.launcher ?? parseLauncher(process.env.PH5_LAUNCHER);
  }

  start(): void {
    const extra = this.#opts.extraArgs ?? splitArgs(process.env.PH5_LAUNCHER_ARGS ?? process.env.PH5_MPIRUN_ARGS);
    const marker = (this.#launch = randomUUID());
    const env = {
      ...mpiEnv(this.#opts.env),
      ...mpiNetworkEnv(this.#network, this.#opts.env),
      PH5_POOL_NETWORK: formatPoolNetwork(this.#network),
      [LAUNCH_MARKER]: marker,
    };
    // Ranks mpirun starts on other hosts get the PH5_* settings only if it is told to pass them.
    const forward = this.launcher === 'mpirun' ? mpirunForwardArgs(this.#network, env) : [];
    const launch = launchCommand(this.launcher, this.#opts.ranks, [...forward, ...extra]);
    const command = this.#opts.mpirun ?? launch.command;
    const child = spawn(command, launch.args, {
      env,
      stdio: ['ignore', this.#opts.stdio ?? 'inherit', this.#opts.stdio ?? 'inherit'],
      // Own process group: a terminal's Ctrl-C reaches only us, and we drain the pool in
      // order instead of the ranks dying mid-write.
      detached: true,
    });
    if (this.#opts.stdio === 'pipe') {
      child.stdout?.on('data', (b: Buffer) => this.#opts.onOutput?.(b.toString()));
      child.stderr?.on('data', (b: Buffer) => this.#opts.onOutput?.(b.toString()));
    }
    this.#child = child;
    const watch = child.pid === undefined ? undefined : this.#watch(child.pid);
    this.#ranks = watch;
    this.#exited = new Promise((resolve) => {
      const ended = async (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
        watch?.stop();
        // A launcher that did not end cleanly may leave ranks behind (mpirun SIGKILLed):
        // they must not work on beside the next pool, nor outlive a stopped one.
        if (code !== 0) await sweepRanks(watch?.alive ?? [], marker);
        resolve();
        if (this.#stopping || this.#opts.restart === false) return this.#finish();
        if (code === 0) {
          this.#opts.log?.('worker pool drained (its ranks were signalled directly); not restarting');
          return this.#finish();
        }
        const why = error ? `could not start ${command}: ${error.message}` : `exited (code ${code}, signal ${signal})`;
        this.#opts.log?.(`worker pool ${why}; restarting`);
        this.restarts++;
        const delay = Math.min(5000, 250 * 2 ** Math.min(this.restarts, 4));
        void sleep(delay).then(() => {
          if (!this.#stopping) this.start();
        });
      };
      let done = false;
      child.once('exit', (code, signal) => !done && ((done = true), void ended(code, signal)));
      child.once('error', (err) => !done && ((done = true), void ended(null, null, err)));
    });
  }

  /** Kills the pool when its launcher outlives one of its ranks; the exit handler restarts it. */
  #watch(launcherPid: number): LauncherWatch {
    const graceMs = this.#graceMs;
    return watchLauncher(launcherPid, {
      graceMs,
      isRank,
      onStranded: (gone, alive) => {
        this.#opts.log?.(
          `worker pool stuck: rank process ${gone.join(', ')} ended over ${graceMs / 1000} s ago but the launcher (pid ${launcherPid}) is still running; killing it`,
        );
        void killPool(launcherPid, alive, this.#launch);
      },
    });
  }

  /** Drain: SIGUSR2 (forwarded by the launcher to the ranks), SIGKILL to the group if it hangs. */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.#stopping = true;
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      this.#finish();
      return;
    }
    // Who the ranks are, before they might be orphaned (see killRanks).
    await this.#ranks?.refresh();
    child.kill(DRAIN_SIGNAL);
    // Again every DRAIN_RESEND_MS until the launcher ends: mpirun forwards a signal only to
    // the ranks it has started, so one that comes while it is still launching them is lost
    // (seen on Ctrl-C right after npm start). A rank takes a second drain signal as a no-op.
    const resend = setInterval(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill(DRAIN_SIGNAL);
    }, DRAIN_RESEND_MS);
    const timedOut = await Promise.race([this.#exited.then(() => false), sleep(timeoutMs).then(() => true)]).finally(() => clearInterval(resend));
    if (timedOut) {
      this.#opts.log?.(`worker pool did not drain within ${timeoutMs} ms; killing it (the job in hand returns to the queue)`);
      await killPool(child.pid, this.#ranks?.alive ?? [], this.#launch);
      await this.#exited;
    }
    this.#finish();
  }
}
