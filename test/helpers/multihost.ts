/**
 * A ph5 stack whose pool spans namespaced hosts (test/helpers/netns.ts), as on a cluster:
 *
 *   - host `queue`: redis-server, listening on its address only (and on a unix socket, for
 *     the API and the test's own checks, which run in this machine's namespace);
 *   - hosts `node0`, `node1`, ...: the pool's ranks. mpirun runs on node0 (the supervisor
 *     starts it through a wrapper that enters node0) and starts the other nodes' daemons
 *     (orted) through a launch agent, the way it would through ssh: `agent <host> <orted
 *     command>` runs the command inside that host. Ranks talk to each other and to Redis
 *     over the lab's bridge, and rank 0's doorbell is reached across hosts;
 *     PH5_POOL_NETWORK is the lab's subnet, so nothing of the pool listens on or talks
 *     over anything but the namespaces' interfaces and loopback.
 *
 * Every host sees this machine's filesystem (the data directory, as a parallel filesystem)
 * and process table (so a test can kill one host's processes).
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_NODE_FLAGS } from '../../services/api/node-flags.js';
import { WORKER_ENTRY, WorkerPool } from '../../services/worker/pool.js';
import { createLab, type NetnsHost, type NetnsLab } from './netns.js';
import type { Stack } from './stack.js';
import { freePort } from './stack.js';
import type { TestRedis } from './redis.js';
import { DURABLE_QUEUE_ARGS } from '../../services/shared/redis-server.js';

const API_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'services', 'api', 'server.js');
const REDIS_PORT = 6379;

export interface MultiHostStack extends Stack {
  lab: NetnsLab;
  /** The hosts of the pool's ranks, node0 first (mpirun and rank 0 run there). */
  nodes: NetnsHost[];
  queueHost: NetnsHost;
  /** The URL the ranks use for Redis (TCP, across the bridge). */
  rankRedisUrl: string;
  /** Ranks (pids) of the pool now running on each node, by the node's name. */
  ranksByNode(): Promise<Record<string, number[]>>;
}

export interface MultiHostOptions {
  /** Ranks on each node, e.g. [2, 2]: node0 gets the first ones (rank 0 among them). */
  ranksPerNode: number[];
  env?: NodeJS.ProcessEnv;
}

function sh(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The launch agent mpirun calls instead of ssh (`--mca plm_rsh_agent`): `agent <host>
 * <command words...>` runs the words as one shell command line inside that host, as ssh
 * does on the remote side. The host is known by name or by address.
 */
function agentScript(lab: NetnsLab): string {
  const cases = lab.hosts.map((h) => `  ${h.name}|${h.address}) ns=${h.ns} host=${h.name} ;;`).join('\n');
  return [
    '#!/bin/sh',
    '# ph5 test launch agent: "ssh" to a namespaced host of the lab (test/helpers/multihost.ts)',
    'target="$1"; shift',
    'case "$target" in',
    cases,
    '  *) echo "launch agent: no host $target in the lab" >&2; exit 255 ;;',
    'esac',
    // As lab.command does: the host's network namespace and /etc/hosts, its hostname. And
    // as ssh does: none of the caller's environment, only a login's basics (what the ranks
    // need must come through mpirun, as on a real cluster).
    `exec env -i PATH="$PATH" HOME="$HOME" ip netns exec "$ns" unshare --uts -- sh -c 'echo "$0" > /proc/sys/kernel/hostname && exec sh -c "$1"' "$host" "$*"`,
    '',
  ].join('\n');
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
}

/** redis-server on the queue host, production settings, TCP on its address + a unix socket. */
async function startQueueRedis(lab: NetnsLab, host: NetnsHost, dir: string): Promise<TestRedis> {
  const socket = path.join(dir, 'redis.sock');
  let proc: ChildProcess;
  await mkdir(dir, { recursive: true });
  const launch = async () => {
    await rm(socket, { force: true });
    proc = lab.spawn(
      host,
      'redis-server',
      [
        '--bind',
        host.address,
        '--port',
        String(REDIS_PORT),
        '--protected-mode',
        'no',
        '--unixsocket',
        socket,
        '--unixsocketperm',
        '700',
        '--dir',
        dir,
        ...DURABLE_QUEUE_ARGS,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'], detached: true },
    );
    await waitFor(
      async () => existsSync(socket) || proc.exitCode !== null,
      10_000,
      () => 'redis-server on the queue host',
    );
    if (proc.exitCode !== null) throw new Error(`redis-server on ${host.name} exited with code ${proc.exitCode}`);
  };
  const exited = () => (proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => proc.once('exit', () => r())));
  await launch();
  return {
    url: `unix://${socket}`,
    socket,
    dir,
    get process() {
      return proc;
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited();
    },
    restart: launch,
    async stop() {
      proc.kill('SIGTERM');
      await exited();
    },
  };
}

/** Is this pid a rank of ours (node running the worker's entry point)? */
const NODE_EXECUTABLE = realpathSync(process.execPath);

/** A rank of ours: node running the worker's entry point (mpirun's command line names it too). */
async function isRankProcess(pid: number): Promise<boolean> {
  const [exe, cmdline] = await Promise.all([readlink(`/proc/${pid}/exe`).catch(() => ''), readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')]);
  return exe === NODE_EXECUTABLE && cmdline.split('\0').includes(WORKER_ENTRY);
}

export async function startMultiHostStack(opts: MultiHostOptions): Promise<MultiHostStack> {
  const nodeNames = opts.ranksPerNode.map((_, i) => `node${i}`);
  const lab = await createLab([...nodeNames, 'queue']);
  const nodes = nodeNames.map((n) => lab.host(n));
  const queueHost = lab.host('queue');
  const work = await mkdtemp(path.join(os.tmpdir(), 'ph5-multihost-'));
  const dataDir = path.join(work, 'data');
  let output = '';
  let redis: TestRedis | undefined;
  let api: ChildProcess | undefined;
  let pool: WorkerPool | undefined;

  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= stopAll());
  const stopAll = async () => {
    await pool?.stop(20_000);
    if (api && api.exitCode === null && api.signalCode === null) {
      api.kill('SIGTERM');
      await new Promise((r) => api!.once('exit', r));
    }
    await redis?.stop().catch(() => {});
    await lab.teardown();
    await rm(work, { recursive: true, force: true });
  };

  try {
    const agent = path.join(work, 'launch-agent.sh');
    await writeFile(agent, agentScript(lab));
    await chmod(agent, 0o755);
    // The supervisor runs here; its mpirun runs on node0, as on the first node of an allocation.
    const enterNode0 = lab.command(nodes[0]!, 'mpirun');
    const mpirun = path.join(work, 'mpirun-on-node0.sh');
    await writeFile(mpirun, `#!/bin/sh\nexec ${enterNode0.command} ${enterNode0.args.map(sh).join(' ')} "$@"\n`);
    await chmod(mpirun, 0o755);

    redis = await startQueueRedis(lab, queueHost, path.join(work, 'redis'));
    const rankRedisUrl = `redis://${queueHost.address}:${REDIS_PORT}`;
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PH5_REDIS_URL: redis.url,
      PH5_DATA_DIR: dataDir,
      PH5_PORT: String(port),
      PH5_HOST: '127.0.0.1',
      PH5_LOG_LEVEL: process.env.PH5_LOG_LEVEL ?? 'warn',
      ...opts.env,
    };
    api = spawn(process.execPath, [...API_NODE_FLAGS, API_ENTRY], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    api.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    api.stderr!.on('data', (b: Buffer) => (output += b.toString()));

    const hostList = nodes.map((n, i) => `${n.name}:${opts.ranksPerNode[i]}`).join(',');
    const ranks = opts.ranksPerNode.reduce((a, b) => a + b, 0);
    pool = new WorkerPool({
      ranks,
      env: { ...env, PH5_REDIS_URL: rankRedisUrl, PH5_POOL_NETWORK: lab.subnet },
      mpirun,
      extraArgs: ['--host', hostList, '--mca', 'plm_rsh_agent', agent],
      stdio: 'pipe',
      onOutput: (s) => (output += s),
      log: (s) => (output += `${s}\n`),
    });
    pool.start();
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      async () => (await fetch(`${url}/readyz`)).ok,
      180_000,
      () => `the multi-host stack to be ready\n${output}`,
    );

    const ranksByNode = async () => {
      const out: Record<string, number[]> = {};
      for (const n of nodes) {
        const pids = lab.pids(n);
        const ranksHere: number[] = [];
        for (const pid of pids) if (await isRankProcess(pid)) ranksHere.push(pid);
        out[n.name] = ranksHere;
      }
      return out;
    };
    return {
      url,
      dataDir,
      filePath: (name) => path.join(dataDir, 'default', name),
      redis,
      pool,
      api,
      logs: () => output,
      stop,
      lab,
      nodes,
      queueHost,
      rankRedisUrl,
      ranksByNode,
    };
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output.split('\n').slice(-40).join('\n')}`);
  }
}
