/**
 * A replicated Redis on namespaced hosts (test/helpers/netns.ts), as a site would run it:
 * host `redis-a` runs the primary and a sentinel, `redis-b` a replica and a sentinel,
 * `sentinel-c` the third sentinel (quorum 2). Every redis-server has the production
 * settings (AOF, appendfsync always, noeviction). This machine's own namespace has an
 * address on the lab's bridge, so the API and pools started by a test (on loopback, in the
 * test's namespace) reach Redis over the lab network only.
 *
 * Sentinels here are quick (down after 1 s, failover timeout 5 s) so a test's failover takes
 * a few seconds; a site keeps the defaults or close to them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createLab, type NetnsLab } from './netns.js';
import { freePort } from './stack.js';
import { API_NODE_FLAGS } from '../../services/api/node-flags.js';
import { WorkerPool } from '../../services/worker/pool.js';
import { DURABLE_QUEUE_ARGS } from '../../services/shared/redis-server.js';

export const PRIMARY_NAME = 'ph5';
const REDIS_PORT = 6379;
const SENTINEL_PORT = 26379;

export interface SentinelLab {
  lab: NetnsLab;
  /** PH5_REDIS_URL: redis+sentinel://<the three sentinels>/ph5 */
  url: string;
  /** The address of the primary as a (live) sentinel reports it now. */
  primaryAddress(): Promise<string>;
  /** The lab host whose address is `address`. */
  hostAt(address: string): string;
  /** The redis-server (not sentinel) process on a host. */
  redisProcess(host: string): ChildProcess;
  /** Kills every process of a host (SIGKILL): its Redis and its sentinel die together. */
  killHost(host: string): number[];
  /** The host boots again: its Redis (on its own AOF) and its sentinel start as before. */
  restartHost(host: string): void;
  /** Resolves once a sentinel reports a primary other than `old` with `replicas` replicas in sync. */
  waitForFailover(old: string, timeoutMs?: number): Promise<string>;
  logs(): string;
  stop(): Promise<void>;
}

function redisArgs(dir: string, extra: string[]): string[] {
  return [
    '--bind',
    '0.0.0.0',
    '--port',
    String(REDIS_PORT),
    '--protected-mode',
    'no',
    '--dir',
    dir,
    ...DURABLE_QUEUE_ARGS,
    // A rejoining replica syncs at once (the default waits 5 s for more replicas to share the transfer).
    '--repl-diskless-sync-delay',
    '0',
    ...extra,
  ];
}

function sentinelConf(dir: string, primary: string): string {
  return [
    `port ${SENTINEL_PORT}`,
    'bind 0.0.0.0',
    'protected-mode no',
    `dir ${dir}`,
    `sentinel monitor ${PRIMARY_NAME} ${primary} ${REDIS_PORT} 2`,
    `sentinel down-after-milliseconds ${PRIMARY_NAME} 1000`,
    `sentinel failover-timeout ${PRIMARY_NAME} 5000`,
    `sentinel parallel-syncs ${PRIMARY_NAME} 1`,
    '',
  ].join('\n');
}

async function ask<T>(host: string, port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ host, port, lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => {});
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== null) return v;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})` : ''}`,
  );
}

export async function startSentinelLab(): Promise<SentinelLab> {
  const lab = await createLab(['redis-a', 'redis-b', 'sentinel-c'], { rootAddress: true });
  const root = await mkdtemp(path.join(os.tmpdir(), 'ph5-sentinel-'));
  let output = '';
  const procs: ChildProcess[] = [];
  const redisByHost = new Map<string, ChildProcess>();
  const start = (host: string, args: string[]): ChildProcess => {
    const p = lab.spawn(host, 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout!.on('data', (b: Buffer) => (output += b.toString().replace(/^/gm, `[${host}] `)));
    p.stderr!.on('data', (b: Buffer) => (output += b.toString().replace(/^/gm, `[${host}] `)));
    procs.push(p);
    return p;
  };
  const stop = async (): Promise<void> => {
    await lab.teardown();
    await Promise.all(procs.map((p) => (p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once('exit', r)) : Promise.resolve())));
    await rm(root, { recursive: true, force: true });
  };
  try {
    const a = lab.host('redis-a').address;
    for (const h of lab.hosts) await mkdir(path.join(root, h.name), { recursive: true });
    redisByHost.set('redis-a', start('redis-a', redisArgs(path.join(root, 'redis-a'), [])));
    redisByHost.set('redis-b', start('redis-b', redisArgs(path.join(root, 'redis-b'), ['--replicaof', a, String(REDIS_PORT)])));
    const startSentinel = (host: string): ChildProcess => start(host, [path.join(root, host, 'sentinel.conf'), '--sentinel']);
    for (const h of lab.hosts) {
      await writeFile(path.join(root, h.name, 'sentinel.conf'), sentinelConf(path.join(root, h.name), a));
      startSentinel(h.name);
    }
    const sentinels = lab.hosts.map((h) => h.address);
    // Ready: the replica is in sync and every sentinel knows the replica and the two other sentinels.
    await until('the replica to sync', 20_000, () =>
      ask(a, REDIS_PORT, async (r) => (/slave0:.*state=online/.test(await r.info('replication')) ? true : null)),
    );
    for (const s of sentinels) {
      await until(`sentinel ${s} to see the replica and its peers`, 30_000, () =>
        ask(s, SENTINEL_PORT, async (r) => {
          const replicas = (await r.call('SENTINEL', 'REPLICAS', PRIMARY_NAME)) as unknown[];
          const peers = (await r.call('SENTINEL', 'SENTINELS', PRIMARY_NAME)) as unknown[];
          return replicas.length >= 1 && peers.length >= 2 ? true : null;
        }),
      );
    }
    const primaryAddress = async (): Promise<string> => {
      for (const s of sentinels) {
        const addr = await ask(s, SENTINEL_PORT, (r) => r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', PRIMARY_NAME) as Promise<[string, string]>).catch(
          () => null,
        );
        if (addr) return addr[0];
      }
      throw new Error('no sentinel answers');
    };
    return {
      lab,
      url: `redis+sentinel://${sentinels.map((s) => `${s}:${SENTINEL_PORT}`).join(',')}/${PRIMARY_NAME}`,
      primaryAddress,
      hostAt: (address) => {
        const h = lab.hosts.find((x) => x.address === address);
        if (!h) throw new Error(`no lab host has address ${address}`);
        return h.name;
      },
      redisProcess: (host) => {
        const p = redisByHost.get(host);
        if (!p) throw new Error(`no redis-server on ${host}`);
        return p;
      },
      killHost: (host) => lab.killAll(host, 'SIGKILL'),
      restartHost: (host) => {
        // As it was configured at first; its sentinel (whose file Sentinel rewrote) and the
        // others turn a former primary into a replica of the new one.
        if (redisByHost.has(host))
          redisByHost.set(host, start(host, redisArgs(path.join(root, host), host === 'redis-b' ? ['--replicaof', a, String(REDIS_PORT)] : [])));
        startSentinel(host);
      },
      waitForFailover: (old, timeoutMs = 30_000) =>
        until(`a failover away from ${old}`, timeoutMs, async () => {
          const now = await primaryAddress();
          if (now === old) return null;
          // Promoted for real: the new primary says so (sentinels report the switch first).
          const role = await ask(now, REDIS_PORT, (r) => r.info('replication'));
          return /role:master/.test(role) ? now : null;
        }),
      logs: () => output,
      stop,
    };
  } catch (err) {
    await stop();
    throw new Error(`${String(err)}\n${output}`);
  }
}

const API_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'services', 'api', 'server.js');

export interface SentinelStack {
  url: string;
  dataDir: string;
  filePath(name: string): string;
  pool: WorkerPool;
  api: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * The API (its own process) and one worker pool under mpirun, both in the test's namespace
 * and both given the Sentinel URL, as startStack does for a plain Redis.
 */
export async function startSentinelStack(redisUrl: string, opts: { ranks: number; env?: NodeJS.ProcessEnv }): Promise<SentinelStack> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ph5-data-'));
  const port = await freePort();
  let output = '';
  const env = {
    ...process.env,
    PH5_REDIS_URL: redisUrl,
    PH5_DATA_DIR: dataDir,
    PH5_PORT: String(port),
    PH5_HOST: '127.0.0.1',
    PH5_LOG_LEVEL: process.env.PH5_LOG_LEVEL ?? 'warn',
    ...opts.env,
  };
  const api = spawn(process.execPath, [...API_NODE_FLAGS, API_ENTRY], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  api.stdout.on('data', (b: Buffer) => (output += b.toString()));
  api.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const pool = new WorkerPool({ ranks: opts.ranks, env, stdio: 'pipe', onOutput: (s) => (output += s), log: (s) => (output += `${s}\n`) });
  pool.start();
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await pool.stop(20_000);
    api.kill('SIGTERM');
    if (api.exitCode === null) await new Promise((r) => api.once('exit', r));
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await until('the stack to be ready', 60_000, async () => ((await fetch(`${url}/readyz`)).ok ? true : null));
  } catch (err) {
    await stop();
    throw new Error(`${String(err)}\n${output}`);
  }
  return { url, dataDir, filePath: (name) => path.join(dataDir, 'default', name), pool, api, logs: () => output, stop };
}
