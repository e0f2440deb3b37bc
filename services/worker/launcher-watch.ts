/**
 * Watches the ranks a launcher started on this host, for the supervisor (pool.ts).
 *
 * When a rank dies, mpirun normally ends the job within ~2 s (SIGTERM, then SIGKILL, to the
 * others) and exits non-zero, and the supervisor starts the pool again. OpenMPI has known
 * races in that cleanup; when one hits, mpirun stays up with a rank gone: the pool can no
 * longer work (its collectives wait for the dead rank forever) and never ends, so it is
 * never restarted. The watch notices a launcher that has outlived one of its ranks by more
 * than a grace period, so that the supervisor can kill it and start again.
 *
 * Only ranks that are direct children of the launcher are seen (Linux /proc): all of them
 * under mpirun on one host, the local ones under mpirun across hosts, none under srun or
 * jsrun (the batch system ends a step with a failed rank itself). A rank is a child that
 * isRank() recognises (pool.ts: the node executable running the worker's entry point), so
 * helper processes a launcher may fork (ssh to other hosts, for instance) never count. A
 * child is looked at again until it is a rank: right after the fork it is still a copy of
 * the launcher, until it executes the program.
 */
import { readdir, readFile } from 'node:fs/promises';

export interface LauncherWatchOptions {
  /** How long the launcher may outlive one of its ranks. */
  graceMs: number;
  /** Recognises a rank by its process id (reads /proc; false when it cannot tell). */
  isRank: (pid: number) => Promise<boolean>;
  /** Called once, when the grace period is over: the ranks gone, and those still alive. */
  onStranded: (gone: number[], alive: number[]) => void;
  intervalMs?: number;
}

export interface LauncherWatch {
  /** The ranks seen alive at the last look (to kill with the launcher). */
  readonly alive: readonly number[];
  /** Looks now (or waits for the look under way), so that `alive` is current. */
  refresh(): Promise<void>;
  stop(): void;
}

/** Direct children of a process: every thread's list (a launcher may fork from any thread). */
export async function childrenOf(pid: number): Promise<number[] | null> {
  let threads: string[];
  try {
    threads = await readdir(`/proc/${pid}/task`);
  } catch {
    return null; // gone, or no /proc here
  }
  const out: number[] = [];
  for (const tid of threads) {
    const text = await readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '');
    for (const word of text.split(' ')) if (word) out.push(Number(word));
  }
  return out;
}

/** A process's name (at most 15 bytes of its file name) and state letter; null if it is gone. */
export async function processStat(pid: number): Promise<{ comm: string; state: string } | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return null;
  // The name is in parentheses and may contain any byte, ')' included: the state follows the last one.
  const close = stat.lastIndexOf(')');
  return { comm: stat.slice(stat.indexOf('(') + 1, close), state: stat[close + 2] ?? '' };
}

/**
 * Not ended: a rank that died stays its launcher's child, as a zombie, until the launcher
 * reaps it; a launcher that missed the death may never do so.
 */
async function running(pid: number): Promise<boolean> {
  const stat = await processStat(pid);
  return stat !== null && stat.state !== 'Z';
}

export function watchLauncher(pid: number, opts: LauncherWatchOptions): LauncherWatch {
  const ranks = new Set<number>();
  let alive: number[] = [];
  let goneSince: number | undefined;
  let stopped = false;
  let looking: Promise<void> | undefined;

  const look = async () => {
    const children = await childrenOf(pid);
    if (stopped) return;
    if (children === null) return stop();
    for (const child of children) if (!ranks.has(child) && (await opts.isRank(child))) ranks.add(child);
    const now: number[] = [];
    for (const child of children) if (ranks.has(child) && (await running(child))) now.push(child);
    alive = now; // in one step: the supervisor may read it at any time
    const gone = [...ranks].filter((r) => !alive.includes(r));
    if (gone.length === 0) return;
    goneSince ??= Date.now();
    if (Date.now() - goneSince >= opts.graceMs) {
      stop();
      opts.onStranded(gone, alive);
    }
  };

  const refresh = (): Promise<void> => {
    // look() catches what /proc can throw; a throw from onStranded would be a bug of ours,
    // and must not become an unhandled rejection that ends the supervisor.
    looking ??= look()
      .catch(() => {})
      .finally(() => (looking = undefined));
    return looking;
  };
  const timer = setInterval(() => void refresh(), opts.intervalMs ?? 1000);
  timer.unref();

  function stop() {
    stopped = true;
    clearInterval(timer);
  }
  return {
    get alive() {
      return alive;
    },
    refresh,
    stop,
  };
}
