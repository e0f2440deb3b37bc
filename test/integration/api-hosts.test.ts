/**
 * The API on two hosts against one Redis, all real: two namespaced hosts (test/helpers/netns.ts:
 * network namespaces on a private bridge) each run an API server of one process
 * (PH5_API_PROCESSES=1: two separate servers, not one node:cluster), a third runs
 * redis-server, reached by everyone over the bridge; the worker pool (2 ranks) runs in this
 * machine's namespace and reaches Redis through the bridge too; the client (this test)
 * alternates between the two servers. Checked:
 * - the queue quota and the rate limit are global: what one server accepted counts on the
 *   other (PH5_RATE_LIMIT_STORE=redis; with `process` each server allows the whole limit,
 *   which shows the check can fail);
 * - job events reach a client connected to either server: an event stream and a long-poll
 *   opened on one server for a job accepted by the other, while the job waits for a pool,
 *   end with `completed` once a pool runs;
 * - read-your-writes across servers: a dataset created through one is writable through the
 *   other right after the 202, a job accepted by one is visible (status, then values) on the
 *   other, and h5py finds every write in the file;
 * - an API host that dies (every process in its namespace killed) loses nothing it
 *   accepted: the other host reports its jobs completed and reads their values.
 * Without network namespaces (not root, no iproute2) the same runs on two loopback
 * addresses (127.0.0.1, 127.0.0.2) with Redis on a unix socket, and says so.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_NODE_FLAGS } from '../../services/api/node-flags.js';
import { WorkerPool } from '../../services/worker/pool.js';
import { h5py } from '../helpers/h5.js';
import { createLab, netnsUnavailable, type NetnsLab } from '../helpers/netns.js';
import { startRedis } from '../helpers/redis.js';
import { freePort } from '../helpers/stack.js';
import { DURABLE_QUEUE_ARGS } from '../../services/shared/redis-server.js';

const API_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'services', 'api', 'server.js');

/** A host an API server runs on: its address, and how a process is started there. */
interface Host {
  name: string;
  address: string;
  spawn(command: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess;
}

/** Where the test runs: two API hosts and the URL of the one Redis. */
interface Site {
  kind: string;
  hosts: Host[];
  redisUrl: string;
  /** The hosts' namespaces (none on loopback). */
  lab: NetnsLab | undefined;
  stop(): Promise<void>;
}

const REDIS_PORT = 6379;

function exited(proc: ChildProcess): Promise<void> {
  return proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : new Promise((r) => proc.once('exit', () => r()));
}

/** Hosts `api1`, `api2` and `queue` (redis-server on its address) on a private bridge. */
async function namespacedSite(): Promise<Site> {
  const lab = await createLab(['api1', 'api2', 'queue'], { rootAddress: true });
  const queue = lab.host('queue');
  const redisDir = await mkdtemp(path.join(os.tmpdir(), 'ph5-hosts-redis-'));
  let redisLog = '';
  // Reached from other hosts, so with a password, as a site runs it (and without one Redis's
  // protected mode refuses every client not on its loopback).
  const password = randomBytes(16).toString('hex');
  // The production settings of services/shared/redis-server.ts, on TCP at the host's address.
  const redisProc = lab.spawn(
    queue,
    'redis-server',
    ['--port', String(REDIS_PORT), '--bind', queue.address, '--requirepass', password, '--dir', redisDir, ...DURABLE_QUEUE_ARGS],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  redisProc.stdout!.on('data', (b: Buffer) => (redisLog += b.toString()));
  redisProc.stderr!.on('data', (b: Buffer) => (redisLog += b.toString()));
  const stop = async () => {
    redisProc.kill('SIGTERM');
    await exited(redisProc);
    await lab.teardown();
    await rm(redisDir, { recursive: true, force: true });
  };
  for (const deadline = Date.now() + 20_000; !/Ready to accept connections/.test(redisLog); await sleep(20)) {
    if (Date.now() > deadline || redisProc.exitCode !== null) {
      await stop();
      throw new Error(`redis-server on ${queue.name} did not start:\n${redisLog}`);
    }
  }
  return {
    kind: `namespaced hosts on ${lab.subnet}`,
    hosts: ['api1', 'api2'].map((name) => {
      const host = lab.host(name);
      return { name, address: host.address, spawn: (command, args, env) => lab.spawn(host, command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }) };
    }),
    redisUrl: `redis://:${password}@${queue.address}:${REDIS_PORT}`,
    lab,
    stop,
  };
}

/** The fallback: two loopback addresses of this machine, Redis on a unix socket. */
async function loopbackSite(): Promise<Site> {
  const redis = await startRedis();
  return {
    kind: 'loopback addresses (no network namespaces here)',
    hosts: ['127.0.0.1', '127.0.0.2'].map((address, i) => ({
      name: `api${i + 1}`,
      address,
      spawn: (command, args, env) => spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }),
    })),
    redisUrl: redis.url,
    lab: undefined,
    stop: () => redis.stop(),
  };
}

interface Tokens {
  main: string;
  quota: string;
  rate: string;
}

function tokenTable(tokens: Tokens): string {
  return JSON.stringify(Object.entries(tokens).map(([project, token]) => ({ name: project, project, role: 'admin', token })));
}

interface ApiServer {
  host: Host;
  url: string;
  proc: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
}

let site: Site;
let dataDir: string;
let hosts: Host[];
let pool: WorkerPool | undefined;
let poolOutput = '';
const servers: ApiServer[] = [];
const tokens: Tokens = { main: randomBytes(24).toString('hex'), quota: randomBytes(24).toString('hex'), rate: randomBytes(24).toString('hex') };

function baseEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PH5_REDIS_URL: site.redisUrl, PH5_DATA_DIR: dataDir, PH5_LOG_LEVEL: 'warn' };
}

/** One API server (one process) on `host`, sharing the test's Redis and data directory. */
async function startApi(host: Host, env: NodeJS.ProcessEnv): Promise<ApiServer> {
  const port = await freePort();
  let output = '';
  const proc = host.spawn(process.execPath, [...API_NODE_FLAGS, API_ENTRY], {
    ...baseEnv(),
    PH5_HOST: host.address,
    PH5_PORT: String(port),
    PH5_API_PROCESSES: '1',
    PH5_TOKENS: tokenTable(tokens),
    PH5_RATE_LIMIT_STORE: 'redis',
    ...env,
  });
  proc.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  const url = `http://${host.address}:${port}`;
  const server: ApiServer = {
    host,
    url,
    proc,
    logs: () => output,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
  servers.push(server);
  for (const deadline = Date.now() + 60_000; ; await sleep(50)) {
    const up = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return server;
    assert.ok(Date.now() < deadline && proc.exitCode === null, `the API on ${host.name} did not start:\n${output}`);
  }
}

async function stopAll(list: ApiServer[]): Promise<void> {
  await Promise.all(list.map((s) => s.stop()));
}

/** The pool, started once the test wants jobs to run (before that, they wait in the queue). */
function startPool(): void {
  if (pool) return;
  pool = new WorkerPool({ ranks: 2, env: baseEnv(), stdio: 'pipe', onOutput: (s) => (poolOutput += s), log: (s) => (poolOutput += `${s}\n`) });
  pool.start();
}

interface Answer {
  status: number;
  json: any;
  headers: Headers;
}

async function call(server: ApiServer, token: string, method: string, url: string, body?: unknown): Promise<Answer> {
  const isBytes = body instanceof Uint8Array;
  const res = await fetch(`${server.url}${url}`, {
    method,
    signal: AbortSignal.timeout(90_000),
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': isBytes ? 'application/octet-stream' : 'application/json' }),
    },
    ...(body === undefined ? {} : { body: isBytes ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON: keep the text */
  }
  return { status: res.status, json, headers: res.headers };
}

/** Long-polls a job on `server` until it is completed or failed. */
async function finished(server: ApiServer, token: string, id: string): Promise<any> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await call(server, token, 'GET', `/v1/jobs/${id}?wait=20`);
    assert.equal(r.status, 200, `${server.host.name}: ${JSON.stringify(r.json)}`);
    if (r.json.state === 'completed' || r.json.state === 'failed') return r.json;
    assert.ok(Date.now() < deadline, `job ${id} still ${r.json.state} on ${server.host.name}`);
  }
}

/** A job's whole event stream (it ends by itself when the job finishes): the states in order. */
async function eventStates(server: ApiServer, token: string, id: string): Promise<string[]> {
  const res = await fetch(`${server.url}/v1/jobs/${id}/events`, {
    headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(120_000),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const text = await res.text();
  return [...text.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!).state as string);
}

function logs(): string {
  return `${servers.map((s) => `--- API on ${s.host.name} (${s.url}):\n${s.logs()}`).join('\n')}\n--- pool:\n${poolOutput}`;
}

before(async () => {
  const unavailable = netnsUnavailable();
  if (unavailable) console.error(`# api-hosts.test: no network namespaces (${unavailable}); two loopback addresses stand in for the hosts`);
  site = unavailable ? await loopbackSite() : await namespacedSite();
  hosts = site.hosts;
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ph5-hosts-'));
  console.log(`# api-hosts.test: ${site.kind}`);
});

after(async () => {
  await pool?.stop(20_000);
  await stopAll(servers);
  await site?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test('the queue quota is global, and job events reach a client on either server', { timeout: 240_000 }, async () => {
  const quota = 3;
  const [a, b] = await Promise.all(hosts.map((h) => startApi(h, { PH5_MAX_QUEUED_PER_PROJECT: String(quota) })));
  try {
    // Each server runs on its own host (its own network namespace) and is reached there.
    if (site.lab)
      for (const server of [a!, b!]) assert.ok(site.lab.pids(server.host.name).includes(server.proc.pid!), `the API of ${server.host.name} runs in that host`);
    // No pool yet: every accepted job stays queued, so the quota fills.
    const accepted: Array<{ id: string; by: ApiServer }> = [];
    for (let i = 0; i < quota; i++) {
      const by = i % 2 === 0 ? a! : b!;
      const r = await call(by, tokens.quota, 'POST', '/v1/files/q.h5/datasets', { path: `/d${i}`, dtype: 'int32', shape: [10] });
      assert.equal(r.status, 202, `job ${i} on ${by.host.name}: ${JSON.stringify(r.json)}`);
      accepted.push({ id: r.json.job.id, by });
    }
    for (const server of [a!, b!]) {
      const r = await call(server, tokens.quota, 'POST', '/v1/files/q.h5/datasets', { path: '/over', dtype: 'int32', shape: [10] });
      assert.equal(r.status, 429, `${server.host.name} refuses job ${quota + 1}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.code, 'PH5_ERR_QUEUE_FULL');
    }
    // Another project is not held back by this one's quota.
    const other = await call(b!, tokens.main, 'POST', '/v1/files/other.h5/datasets', { path: '/d', dtype: 'int32', shape: [10] });
    assert.equal(other.status, 202, JSON.stringify(other.json));

    // Each queued job, watched on the server that did NOT accept it: its event stream and a
    // long-poll, both open before any pool exists.
    const peer = (s: ApiServer) => (s === a ? b! : a!);
    for (const { id, by } of accepted) {
      const seen = await call(peer(by), tokens.quota, 'GET', `/v1/jobs/${id}`);
      assert.equal(seen.status, 200, `${peer(by).host.name} knows the job ${by.host.name} accepted`);
      assert.equal(seen.json.state, 'queued');
    }
    const streams = accepted.map(({ id, by }) => eventStates(peer(by), tokens.quota, id));
    const polls = accepted.map(({ id, by }) => call(peer(by), tokens.quota, 'GET', `/v1/jobs/${id}?wait=60`));
    await sleep(500);
    startPool();
    for (const [i, states] of (await Promise.all(streams)).entries()) {
      assert.equal(states[0], 'queued', `stream ${i} starts from the job's state when opened: ${states}`);
      assert.equal(states.at(-1), 'completed', `stream ${i}: ${states}\n${logs()}`);
    }
    for (const [i, poll] of (await Promise.all(polls)).entries()) {
      assert.equal(poll.status, 200);
      assert.equal(poll.json.state, 'completed', `long-poll ${i} woke with the completion`);
    }
    // The jobs finished: the quota is free again on both servers.
    for (const server of [b!, a!]) {
      const r = await call(server, tokens.quota, 'POST', '/v1/files/q.h5/datasets', { path: `/after-${server.host.name}`, dtype: 'int32', shape: [10] });
      assert.equal(r.status, 202, `${server.host.name} accepts again: ${JSON.stringify(r.json)}`);
      assert.equal((await finished(server, tokens.quota, r.json.job.id)).state, 'completed');
    }
  } finally {
    await stopAll([a!, b!]);
  }
});

/** Sends `count` requests alternating between the servers; the statuses, and who refused. */
async function alternate(pair: ApiServer[], count: number): Promise<{ ok: number; limited: Answer[]; refusedBy: Set<string> }> {
  let ok = 0;
  const limited: Answer[] = [];
  const refusedBy = new Set<string>();
  for (let i = 0; i < count; i++) {
    const server = pair[i % 2]!;
    const r = await call(server, tokens.rate, 'GET', '/v1/files');
    if (r.status === 200) ok++;
    else {
      assert.equal(r.status, 429, JSON.stringify(r.json));
      limited.push(r);
      refusedBy.add(server.host.name);
    }
  }
  return { ok, limited, refusedBy };
}

test('the rate limit is global across the servers with PH5_RATE_LIMIT_STORE=redis (and per server with process)', { timeout: 120_000 }, async () => {
  const limit = 20;
  const shared = await Promise.all(hosts.map((h) => startApi(h, { PH5_RATE_LIMIT_PER_MINUTE: String(limit) })));
  try {
    const { ok, limited, refusedBy } = await alternate(shared, 2 * limit + 4);
    assert.equal(ok, limit, 'the two servers together allow the limit once');
    assert.equal(limited.length, limit + 4);
    assert.equal(limited[0]!.json.code, 'PH5_ERR_RATE_LIMITED');
    assert.ok(Number(limited[0]!.headers.get('retry-after')) > 0);
    assert.deepEqual([...refusedBy].sort(), hosts.map((h) => h.name).sort(), 'both refuse once the shared count is spent');
  } finally {
    await stopAll(shared);
  }
  // The control: counted in each process, the same requests get twice the limit through.
  // (A token of its own would not be needed: the process counts start at zero.)
  const separate = await Promise.all(hosts.map((h) => startApi(h, { PH5_RATE_LIMIT_PER_MINUTE: String(limit), PH5_RATE_LIMIT_STORE: 'process' })));
  try {
    const { ok } = await alternate(separate, 2 * limit + 4);
    assert.equal(ok, 2 * limit, 'counted per server, each allows the whole limit');
  } finally {
    await stopAll(separate);
  }
});

test('read-your-writes across servers: status and values of a job accepted by the other one', { timeout: 300_000 }, async () => {
  startPool();
  const [a, b] = await Promise.all(hosts.map((h) => startApi(h, {})));
  const file = 'ryw.h5';
  const rounds = 6;
  for (let k = 0; k < rounds; k++) {
    // Even rounds: create and write on A, read on B; odd rounds the other way round.
    const [first, second] = k % 2 === 0 ? [a!, b!] : [b!, a!];
    const n = 500 + k;
    const create = await call(first, tokens.main, 'POST', `/v1/files/${file}/datasets`, { path: `/d${k}`, dtype: 'float64', shape: [n] });
    assert.equal(create.status, 202, JSON.stringify(create.json));
    // The other server accepts a write into the dataset right after the 202 (the registry is
    // in Redis), and knows the creation job.
    const values = new Float64Array(n).map((_, i) => k * 1e6 + i);
    const write = await call(second, tokens.main, 'PUT', `/v1/files/${file}/datasets/d${k}/value`, new Uint8Array(values.buffer));
    assert.equal(write.status, 202, `round ${k}: ${JSON.stringify(write.json)}`);
    const creation = await call(second, tokens.main, 'GET', `/v1/jobs/${create.json.job.id}`);
    assert.equal(creation.status, 200, `${second.host.name} knows ${first.host.name}'s job`);
    // The write's job, waited for on the server that did not accept it, then its values read there too.
    const job = await finished(first, tokens.main, write.json.job.id);
    assert.equal(job.state, 'completed', JSON.stringify(job));
    const read = await call(first, tokens.main, 'GET', `/v1/files/${file}/datasets/d${k}/value`);
    assert.equal(read.status, 200, JSON.stringify(read.json));
    assert.deepEqual(read.json.data, Array.from(values), `round ${k}: ${first.host.name} reads what ${second.host.name} accepted`);
  }
  // A later write replaces an earlier one accepted by the other server (per-file order
  // across servers), and both servers read the result at once.
  const d0 = new Float64Array(500).fill(1);
  const over = await call(b!, tokens.main, 'PUT', `/v1/files/${file}/datasets/d0/value?select=[0:500]`, new Uint8Array(d0.buffer));
  assert.equal(over.status, 202);
  const overAgain = await call(
    a!,
    tokens.main,
    'PUT',
    `/v1/files/${file}/datasets/d0/value?select=[0:250]`,
    new Uint8Array(new Float64Array(250).fill(2).buffer),
  );
  assert.equal(overAgain.status, 202);
  assert.equal((await finished(b!, tokens.main, overAgain.json.job.id)).state, 'completed');
  const want = [...new Array(250).fill(2), ...new Array(250).fill(1)];
  for (const server of [a!, b!])
    assert.deepEqual((await call(server, tokens.main, 'GET', `/v1/files/${file}/datasets/d0/value`)).json.data, want, server.host.name);

  // An independent reader finds every write in the file.
  const sums = await h5py<number[]>(path.join(dataDir, 'main', file), `f = h5py.File(path, 'r'); out = [float(f[f'd{k}'][:].sum()) for k in range(${rounds})]`);
  assert.equal(sums[0], 250 * 2 + 250 * 1, 'd0 after the overwrite');
  for (let k = 1; k < rounds; k++) {
    const n = 500 + k;
    assert.equal(sums[k], k * 1e6 * n + ((n - 1) * n) / 2, `d${k} in the file`);
  }
});

test('an API host that dies loses nothing it accepted: the other host reports the jobs and reads their values', { timeout: 240_000 }, async () => {
  startPool();
  const [a, b] = await Promise.all(hosts.map((h) => startApi(h, {})));
  const file = 'dies.h5';
  const n = 64;
  const created = await call(a!, tokens.main, 'POST', `/v1/files/${file}/datasets`, { path: '/x', dtype: 'int64', shape: [8, n] });
  assert.equal(created.status, 202, JSON.stringify(created.json));
  // Eight row writes accepted by A, none waited for; then A's host goes down at once.
  const ids: string[] = [];
  for (let row = 0; row < 8; row++) {
    const values = new BigInt64Array(n).map((_, i) => BigInt(row * 1000 + i));
    const r = await call(a!, tokens.main, 'PUT', `/v1/files/${file}/datasets/x/value?select=[${row}:${row + 1},0:${n}]`, new Uint8Array(values.buffer));
    assert.equal(r.status, 202, JSON.stringify(r.json));
    ids.push(r.json.job.id);
  }
  if (site.lab) {
    const killed = site.lab.killAll(a!.host.name);
    assert.ok(killed.includes(a!.proc.pid!), `the API was among ${a!.host.name}'s processes: ${killed}`);
  } else a!.proc.kill('SIGKILL');
  await exited(a!.proc);
  const down = await fetch(`${a!.url}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
    () => 'answered',
    () => 'down',
  );
  assert.equal(down, 'down', `${a!.host.name}'s API is gone`);
  // B knows every job A accepted, sees each complete, and reads every row.
  for (const id of ids) assert.equal((await finished(b!, tokens.main, id)).state, 'completed', `${id}\n${logs()}`);
  const read = await call(b!, tokens.main, 'GET', `/v1/files/${file}/datasets/x/value`);
  assert.equal(read.status, 200, JSON.stringify(read.json));
  const want = Array.from({ length: 8 }, (_, row) => Array.from({ length: n }, (_, i) => row * 1000 + i));
  assert.deepEqual(read.json.data, want);
  await b!.stop();
});
