/**
 * `npm start`: the whole stack on one machine, supervised.
 *   - redis-server of our own in <dataDir>/.redis (AOF, fsync always, noeviction), unless
 *     PH5_REDIS_URL is set (then its settings are checked, see checkRedisSettings);
 *   - the API on PH5_HOST:PH5_PORT (127.0.0.1:8080): one process, or with PH5_API_PROCESSES > 1
 *     a primary that forks and supervises that many (api/cluster-primary.ts: it replaces a
 *     dead one itself, and stops them all on the SIGTERM sent here); this supervisor sees
 *     the primary only;
 *   - a worker pool of PH5_RANKS ranks (4) under mpirun --oversubscribe.
 * Started in that order, each once the one before is up; stopped in the reverse order.
 *
 * Every part runs in a process group (session) of its own, so that a terminal's Ctrl-C
 * (SIGINT to the whole foreground group) reaches only this supervisor, which then drains
 * the pool (the epoch in hand finishes), stops the API, then Redis. Had Redis seen the
 * SIGINT too, it would be gone before the pool could drain.
 *
 * A part that dies is restarted (restart-policy.ts): the pool with its own backoff
 * (pool.ts), Redis on the same AOF directory (replay: nothing it acknowledged is lost), the
 * API as it was. A part that cannot be kept up (it never started, e.g. the API refuses a
 * bad tokens file, or it keeps crashing) stops the stack with exit code 1, so that whoever
 * runs `npm start` (systemd, Slurm, a script) sees the failure. A stop on request exits 0.
 */
// First: SIGUSR1 must never open the inspector, not even while the rest loads.
import './no-inspector.js';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { drainTimeoutMs, loadConfig, type Config } from '../shared/config.js';
import { checkRedisSettings } from '../shared/redis.js';
import { API_NODE_FLAGS } from '../api/node-flags.js';
import { startRedisServer, type RedisServer } from '../shared/redis-server.js';
import { INSPECTOR_OFF_FLAG, WorkerPool } from '../worker/pool.js';
import { decideRestart, type Run } from './restart-policy.js';
import { exited } from '../shared/child-exit.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const API_ENTRY = path.join(here, '..', 'api', 'server.js');
/** The API gets this long to answer /healthz after it was started. */
const API_START_TIMEOUT_MS = 60_000;
/** The API and Redis get this long to exit on SIGTERM before they are killed. */
const PART_STOP_TIMEOUT_MS = 15_000;
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function say(msg: string): void {
  process.stderr.write(`[ph5] ${msg}\n`);
}

/** SIGTERM, then SIGKILL if it does not exit in time. */
async function terminate(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGTERM');
  const late = await Promise.race([exited(p).then(() => false), sleep(PART_STOP_TIMEOUT_MS).then(() => true)]);
  if (late) {
    say(`pid ${p.pid} did not exit within ${PART_STOP_TIMEOUT_MS / 1000} s of SIGTERM; killing it`);
    p.kill('SIGKILL');
    await exited(p);
  }
}

function describeExit(p: ChildProcess): string {
  return p.signalCode ? `killed by ${p.signalCode}` : `exit code ${p.exitCode}`;
}

/** Where this machine reaches the API (a wildcard listen address is reachable on loopback). */
function probeBase(config: Config): string {
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '::1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}

/**
 * One restartable part (Redis, the API): `launch` starts it and resolves with its process
 * once it is ready, or rejects. Its runs feed decideRestart.
 */
class Part {
  readonly runs: Run[] = [];
  #proc: ChildProcess | undefined;

  constructor(
    readonly name: string,
    private readonly launch: () => Promise<ChildProcess>,
    private readonly stack: { stopping: boolean; fail(reason: string): void },
    private readonly restartNote = '',
  ) {}

  get process(): ChildProcess | undefined {
    return this.#proc;
  }

  /** First start; false if the part could not be started (the stack is then failing). */
  async start(): Promise<boolean> {
    return this.#run();
  }

  async #run(): Promise<boolean> {
    const startedAt = Date.now();
    try {
      const proc = await this.launch();
      this.#proc = proc;
      const run: Run = { startedAt, readyAt: Date.now(), endedAt: 0 };
      const onExit = () => {
        run.endedAt = Date.now();
        this.runs.push(run);
        if (this.stack.stopping) return;
        say(`${this.name} ended (${describeExit(proc)})`);
        void this.#recover();
      };
      if (proc.exitCode !== null || proc.signalCode !== null) onExit();
      else proc.once('exit', onExit);
      return true;
    } catch (err) {
      this.runs.push({ startedAt, endedAt: Date.now() });
      if (this.stack.stopping) return false;
      say(`${this.name} did not start: ${(err as Error).message}`);
      return this.#recover();
    }
  }

  async #recover(): Promise<boolean> {
    const decision = decideRestart(this.runs);
    if (decision.action === 'give-up') {
      this.stack.fail(`${this.name}: giving up, ${decision.reason}`);
      return false;
    }
    say(`restarting ${this.name} in ${decision.delayMs} ms${this.restartNote}`);
    await sleep(decision.delayMs);
    if (this.stack.stopping) return false;
    return this.#run();
  }
}

class LocalStack {
  stopping = false;
  #exitCode = 0;
  #starting: Promise<void> = Promise.resolve();
  #done!: (code: number) => void;
  /** Resolves with the exit code once everything has stopped. */
  readonly finished = new Promise<number>((resolve) => (this.#done = resolve));
  #redisServer: RedisServer | undefined;
  #redis: Part | undefined;
  #api: Part | undefined;
  #pool: WorkerPool | undefined;

  constructor(
    private readonly config: Config,
    private readonly drainMs: number,
  ) {}

  start(): void {
    this.#starting = this.#start().catch((err: unknown) => this.fail(`failed to start: ${(err as Error).message}`));
  }

  async #start(): Promise<void> {
    const config = this.config;
    let redisUrl = config.redisUrl;
    if (!redisUrl) {
      const dir = path.join(config.dataDir, '.redis');
      this.#redis = new Part(
        'redis-server',
        async () => {
          // The first run starts it; later runs start it again on the same socket and AOF.
          if (!this.#redisServer) this.#redisServer = await startRedisServer(dir);
          else await this.#redisServer.restart();
          return this.#redisServer.process;
        },
        this,
        ' (same AOF: every job it acknowledged is replayed)',
      );
      if (!(await this.#redis.start()) || this.stopping) return;
      redisUrl = this.#redisServer!.url;
      say(`redis-server on ${this.#redisServer!.socket} (AOF in ${dir})`);
    } else {
      // Someone else's Redis: make sure it keeps what we queue (PH5_REDIS_STRICT=1 refuses).
      await checkRedisSettings(redisUrl, { strict: config.redisStrict, warn: say });
      if (this.stopping) return;
    }
    const env = { ...process.env, PH5_REDIS_URL: redisUrl, PH5_DATA_DIR: config.dataDir };

    this.#api = new Part('the API', () => this.#launchApi(env), this);
    if (!(await this.#api.start()) || this.stopping) return;

    const pool = new WorkerPool({ ranks: config.ranks, env, log: say });
    this.#pool = pool;
    pool.start();
    say(
      `worker pool: ${config.ranks} ranks under mpirun, listening on ${pool.network.kind === 'interfaces' ? pool.network.include.join(',') : pool.network.kind} (data in ${config.dataDir})`,
    );
    void pool.finished.then(() => {
      if (!this.stopping) this.fail('the worker pool ended on its own (drained from outside)');
    });
  }

  /** The API as a process of its own (own session: no terminal signal reaches it), once it answers /healthz. */
  async #launchApi(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
    const api = spawn(process.execPath, [INSPECTOR_OFF_FLAG, ...API_NODE_FLAGS, API_ENTRY], { env, stdio: 'inherit', detached: true });
    const health = `${probeBase(this.config)}/healthz`;
    const deadline = Date.now() + API_START_TIMEOUT_MS;
    for (;;) {
      if (api.exitCode !== null || api.signalCode !== null) throw new Error(`it exited (${describeExit(api)})`);
      if (this.stopping) return api;
      const ok = await fetch(health, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok && api.exitCode === null && api.signalCode === null) return api;
      if (Date.now() > deadline) {
        api.kill('SIGKILL');
        await exited(api);
        throw new Error(`no answer on ${health} within ${API_START_TIMEOUT_MS / 1000} s`);
      }
      await sleep(100);
    }
  }

  /** A part could not be kept up: stop everything, exit 1. */
  fail(reason: string): void {
    say(reason);
    void this.stop('stopping the stack after a failure', 1);
  }

  /** Pool (drained: the epoch in hand finishes) -> API -> Redis. */
  async stop(why: string, code = 0): Promise<void> {
    this.#exitCode = Math.max(this.#exitCode, code);
    if (this.stopping) return;
    this.stopping = true;
    say(`${why}: stopping (draining the worker pool first)`);
    // A start under way finishes its step first (a part half-started cannot be stopped).
    await this.#starting;
    if (this.#pool) await this.#pool.stop(this.drainMs);
    const api = this.#api?.process;
    if (api) await terminate(api);
    const redis = this.#redis?.process;
    if (redis) await terminate(redis);
    say(code === 0 && this.#exitCode === 0 ? 'stopped' : `stopped (exit code ${this.#exitCode})`);
    this.#done(this.#exitCode);
  }
}

async function main(): Promise<number> {
  const config = loadConfig();
  const stack = new LocalStack(config, drainTimeoutMs(process.env));
  // Before anything starts: a signal during start-up stops what has started, in order.
  for (const s of STOP_SIGNALS) process.on(s, () => void stack.stop(s));
  stack.start();
  return stack.finished;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`failed to start: ${(err as Error).message}`);
    process.exit(1);
  },
);
