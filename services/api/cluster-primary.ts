/**
 * The API as several processes on one port (PH5_API_PROCESSES > 1): this primary forks
 * that many workers (node:cluster), each a whole API (server.ts), and serves no request
 * itself. Workers share the listening socket: the primary accepts connections and hands
 * them out round-robin (cluster's default scheduling on Linux), so connections spread
 * evenly; a request then lives entirely in its worker. Node 20 has no SO_REUSEPORT for
 * `net` listeners (it came in Node 22.12/23.1), and where the kernel spreads connections
 * itself (SCHED_NONE) it favours whichever worker is awake, which is uneven.
 *
 * Supervision, as up.ts does for the API as a whole:
 *   - a worker that dies is replaced (restart-policy.ts per slot: backoff, and give up when
 *     a slot never comes up or fails 5 times in a row; then the primary stops every worker
 *     and exits 1, so that up.ts or systemd sees it);
 *   - SIGINT/SIGTERM/SIGHUP to the primary stop every worker gracefully (a `shutdown`
 *     message: close-with-grace in each, in-flight requests finish), then the primary
 *     exits 0. A terminal's Ctrl-C reaches the workers too (one process group): they close
 *     on their own signal and the message is then a no-op;
 *   - a worker whose primary dies (SIGKILL) loses its IPC channel and exits at once
 *     (node:cluster does that), so nothing is orphaned.
 *
 * /metrics in a worker asks the primary, which gathers every worker's registry (prom-client's
 * AggregatorRegistry over IPC) and answers with the sum (metrics.ts says which are summed).
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { decideRestart, type Run } from '../cli/restart-policy.js';

/** IPC message: primary -> worker, "close gracefully". */
export const SHUTDOWN_MESSAGE = 'ph5:shutdown';
/** IPC messages: worker -> primary "aggregate the metrics", primary -> worker the answer. */
export const METRICS_REQUEST = 'ph5:metrics-request';
export const METRICS_REPLY = 'ph5:metrics-reply';
/** Set in each worker's environment: its slot, 1..N (the first prints the start-up banners). */
export const WORKER_SLOT_ENV = 'PH5_API_WORKER_SLOT';

/** Workers get this long to close after the shutdown message before they are killed (their own grace is 10 s). */
const WORKER_STOP_TIMEOUT_MS = 12_000;

export interface PrimaryOptions {
  processes: number;
  log(msg: string): void;
}

interface Slot {
  index: number;
  runs: Run[];
  worker: Worker | null;
  startedAt: number;
  readyAt: number | undefined;
}

export interface Primary {
  /** Resolves with the exit code once every worker has exited after a stop. */
  finished: Promise<number>;
  /** Stops every worker gracefully (exit code at least `code`). */
  stop(code: number): void;
}

/** Forks the workers and supervises them until stopped. */
export function runPrimary(opts: PrimaryOptions): Primary {
  const { log } = opts;
  let stopping = false;
  let exitCode = 0;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  const slots: Slot[] = Array.from({ length: opts.processes }, (_, i) => ({ index: i + 1, runs: [], worker: null, startedAt: 0, readyAt: undefined }));
  const aggregator = new AggregatorRegistry();
  // With an --inspect-port in its flags (INSPECTOR_OFF_FLAG: host 192.0.2.1, never bindable),
  // cluster gives each worker `--inspect-port=<primary's port + n>`, which is 1, 2…, refused
  // by node. Port 0 is valid, and the host of the earlier flag stays: still never bindable.
  cluster.setupPrimary({ inspectPort: 0 });

  const live = () => slots.filter((s) => s.worker !== null);

  const fork = (slot: Slot): void => {
    if (stopping) return;
    const worker = cluster.fork({ [WORKER_SLOT_ENV]: String(slot.index) });
    slot.worker = worker;
    slot.startedAt = Date.now();
    slot.readyAt = undefined;
    worker.once('listening', () => (slot.readyAt = Date.now()));
    worker.once('exit', (code, signal) => {
      slot.worker = null;
      slot.runs.push({ startedAt: slot.startedAt, ...(slot.readyAt !== undefined ? { readyAt: slot.readyAt } : {}), endedAt: Date.now() });
      if (slot.runs.length > 20) slot.runs.shift();
      if (stopping) {
        if (live().length === 0) finish(exitCode);
        return;
      }
      const how = signal ? `killed by ${signal}` : `exit code ${code}`;
      const decision = decideRestart(slot.runs);
      if (decision.action === 'give-up') {
        log(`API process ${slot.index} (pid ${worker.process.pid}) ended (${how}); giving up: ${decision.reason}`);
        stop(1);
        return;
      }
      log(`API process ${slot.index} (pid ${worker.process.pid}) ended (${how}); replacing it in ${decision.delayMs} ms`);
      setTimeout(() => fork(slot), decision.delayMs);
    });
  };

  const stop = (code: number): void => {
    exitCode = Math.max(exitCode, code);
    if (stopping) return;
    stopping = true;
    const starting = live();
    if (starting.length === 0) {
      finish(exitCode);
      return;
    }
    const ask = (w: Worker) => {
      if (w.isConnected()) w.send({ type: SHUTDOWN_MESSAGE }, () => {});
      else w.process.kill('SIGTERM');
    };
    // A worker still starting has no listener for the message yet (it would be dropped):
    // it is asked once it listens (cluster-worker.ts keeps a request that comes before its
    // app can close).
    for (const s of starting) {
      const w = s.worker!;
      if (s.readyAt !== undefined) ask(w);
      else w.once('listening', () => ask(w));
    }
    setTimeout(() => {
      for (const s of live()) {
        log(`API process ${s.index} (pid ${s.worker!.process.pid}) did not exit within ${WORKER_STOP_TIMEOUT_MS / 1000} s; killing it`);
        s.worker!.process.kill('SIGKILL');
      }
    }, WORKER_STOP_TIMEOUT_MS).unref();
  };

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (!stopping) log(`${signal} received, stopping ${live().length} API process(es)`);
      stop(0);
    });
  }

  cluster.on('message', (worker, message: { type?: string; id?: number }) => {
    if (message?.type !== METRICS_REQUEST) return;
    aggregator.clusterMetrics().then(
      (body) => worker.isConnected() && worker.send({ type: METRICS_REPLY, id: message.id, body }, () => {}),
      (err: Error) => worker.isConnected() && worker.send({ type: METRICS_REPLY, id: message.id, error: err.message }, () => {}),
    );
  });

  for (const slot of slots) fork(slot);
  return { finished, stop };
}
