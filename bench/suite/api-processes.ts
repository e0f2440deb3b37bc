/**
 * The API as several processes (PH5_API_PROCESSES): does accepting scale with processes
 * where cores allow? Two APIs side by side, one per process count (default 1 and 2), each
 * with its own redis-server and data directory, no worker pool (what is measured is the
 * accept path: HTTP parsing, staging, fsync, Redis; the pool would compete for the same
 * cores and its speed is the bulk scenario's business). In paired rounds, the order
 * alternating, each API gets:
 *
 *   - parallel uploads: `clients` connections each PUT `uploadBytes` of float64
 *     (octet-stream) into a dataset of its own file; time from the first byte sent to the
 *     last 202 (every payload staged and fsynced, every job queued);
 *   - small writes: `smallWrites` 1 KiB row PUTs from `smallClients` keep-alive
 *     connections (autocannon), the accept rate (group commit is per process).
 *
 * Reported: medians per process count, the median of the per-round paired ratios (time of
 * 1 process / time of N), and the CPU seconds the API processes and Redis used per round,
 * which say what limits the scaling (a saturated core, Redis, the client itself).
 *
 *   npm run bench:api-processes -- [--quick] [--rounds N] [--processes 1,2] [--json FILE]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { API_NODE_FLAGS } from '../../services/api/node-flags.js';
import { childPids, cpuSeconds } from '../../test/helpers/proc.js';
import { startRedis, type TestRedis } from '../../test/helpers/redis.js';
import { freePort } from '../../test/helpers/stack.js';
import { MiB, median } from './stats.js';

const API_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'services', 'api', 'server.js');
const ROW = 128; // float64 values: 1 KiB per row

export interface ApiProcessesOptions {
  /** Process counts compared, the first is the baseline. */
  processes: number[];
  clients: number;
  uploadBytes: number;
  rounds: number;
  /** Small writes per round and side; 0 skips them. */
  smallWrites: number;
  smallClients: number;
  /** Where the data directories (and so the staging files) live. */
  base: string;
  log: (line: string) => void;
}

export interface ApiProcessesSide {
  processes: number;
  /** Per round: seconds until every upload was answered 202. */
  uploadSeconds: number[];
  /** Per round: CPU seconds of the API processes (primary + workers), of Redis and of this (the uploading client) process during the uploads. */
  uploadCpu: Array<{ api: number; redis: number; client?: number }>;
  /** Per round: small writes accepted per second. */
  smallPerSecond: number[];
  smallCpu: Array<{ api: number; redis: number }>;
}

export interface ApiProcessesResult {
  cores: number;
  fs: string;
  clients: number;
  uploadBytes: number;
  smallWrites: number;
  smallClients: number;
  rounds: number;
  sides: ApiProcessesSide[];
  /** Load average (1 min) when the scenario started and ended: scaling needs idle cores. */
  load?: [number, number];
  /** Per compared count (after the first): median over rounds of baseline time / its time (> 1: faster). */
  uploadSpeedup: Record<number, number>;
  /** The same for small writes: its rate / the baseline's rate. */
  smallSpeedup: Record<number, number>;
}

interface Api {
  processes: number;
  url: string;
  redis: TestRedis;
  dataDir: string;
  proc: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
}

/** One request on a connection of its own; resolves with the status and which process answered. */
function request(url: string, method: string, body?: Buffer, contentType = 'application/octet-stream'): Promise<{ status: number; pid: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, headers: body ? { 'content-type': contentType, 'content-length': String(body.length) } : {} });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c.length < 4096 ? c : ''));
      res.on('end', () => resolve({ status: res.statusCode!, pid: Number(res.headers['x-ph5-pid']), text }));
      res.on('error', reject);
    });
    req.end(body);
  });
}

async function startApi(processes: number, base: string): Promise<Api> {
  const redis = await startRedis();
  const dataDir = await mkdtemp(path.join(base, 'ph5-api-procs-'));
  const port = await freePort();
  let output = '';
  const proc = spawn(process.execPath, [...API_NODE_FLAGS, API_ENTRY], {
    env: {
      ...process.env,
      PH5_REDIS_URL: redis.url,
      PH5_DATA_DIR: dataDir,
      PH5_PORT: String(port),
      PH5_HOST: '127.0.0.1',
      PH5_LOG_LEVEL: 'warn',
      PH5_API_PROCESSES: String(processes),
      PH5_DEBUG_PID_HEADER: '1',
      // One client address sending thousands of requests with thousands queued (no pool).
      PH5_RATE_LIMIT_PER_MINUTE: '0',
      PH5_MAX_QUEUED_PER_PROJECT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.on('data', (b: Buffer) => (output += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const url = `http://127.0.0.1:${port}`;
  const api: Api = {
    processes,
    url,
    redis,
    dataDir,
    proc,
    logs: () => output,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      await redis.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  // Up when every process answers (the first listens before the last).
  const pids = new Set<number>();
  const deadline = Date.now() + 60_000;
  while (pids.size < processes) {
    if (Date.now() > deadline || proc.exitCode !== null) {
      await api.stop();
      throw new Error(`the API with ${processes} process(es) did not come up:\n${output}`);
    }
    const r = await request(`${url}/healthz`, 'GET').catch(() => null);
    if (r?.status === 200) pids.add(r.pid);
    else await sleep(50);
  }
  return api;
}

/** CPU seconds of the API (its primary and workers) and of its Redis so far. */
async function cpuOf(api: Api): Promise<{ api: number; redis: number }> {
  let cpu = await cpuSeconds(api.proc.pid!);
  for (const pid of await childPids(api.proc.pid!)) cpu += await cpuSeconds(pid);
  return { api: cpu, redis: await cpuSeconds(api.redis.process.pid!) };
}

const cpuSince = (a: { api: number; redis: number }, b: { api: number; redis: number }) => ({
  api: Number((b.api - a.api).toFixed(2)),
  redis: Number((b.redis - a.redis).toFixed(2)),
});

/** Removes the staged payloads (no pool will ever apply them): a round's bytes do not pile up. */
async function clearStaging(api: Api): Promise<void> {
  const staging = path.join(api.dataDir, '.staging');
  for (const name of await readdir(staging).catch(() => [] as string[])) if (name.endsWith('.bin')) await rm(path.join(staging, name), { force: true });
}

async function accepted(api: Api, method: string, url: string, body: Buffer, contentType?: string): Promise<void> {
  const r = await request(`${api.url}${url}`, method, body, contentType);
  if (r.status !== 202) throw new Error(`${method} ${url}: ${r.status} ${r.text.slice(0, 300)}`);
}

/** Creates the datasets a side writes into (accepted only: without a pool they stay pending, which writes are validated against). */
async function prepare(api: Api, opts: ApiProcessesOptions, rows: number): Promise<void> {
  const json = 'application/json';
  for (let c = 0; c < opts.clients; c++) {
    await accepted(
      api,
      'POST',
      `/v1/files/up-${c}.h5/datasets`,
      Buffer.from(JSON.stringify({ path: 'x', dtype: 'float64', shape: [opts.uploadBytes / 8] })),
      json,
    );
  }
  if (opts.smallWrites > 0)
    await accepted(api, 'POST', '/v1/files/small.h5/datasets', Buffer.from(JSON.stringify({ path: 'rows', dtype: 'float64', shape: [rows, ROW] })), json);
}

async function uploads(
  api: Api,
  opts: ApiProcessesOptions,
  payload: Buffer,
): Promise<{ seconds: number; cpu: { api: number; redis: number; client: number } }> {
  const before = await cpuOf(api);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: opts.clients }, (_, c) => accepted(api, 'PUT', `/v1/files/up-${c}.h5/datasets/x/value`, payload)));
  const seconds = (performance.now() - t0) / 1000;
  const client = process.cpuUsage(client0);
  const cpu = { ...cpuSince(before, await cpuOf(api)), client: Number(((client.user + client.system) / 1e6).toFixed(2)) };
  await clearStaging(api);
  return { seconds, cpu };
}

async function smallWrites(
  api: Api,
  opts: ApiProcessesOptions,
  firstRow: number,
  count: number,
): Promise<{ perSecond: number; cpu: { api: number; redis: number } }> {
  const row = Buffer.from(new Float64Array(ROW).fill(1).buffer);
  let next = 0;
  let bad = 0;
  const before = await cpuOf(api);
  const t0 = performance.now();
  let last = t0;
  const result = await autocannon({
    url: api.url,
    connections: opts.smallClients,
    amount: count,
    timeout: 60,
    requests: [
      {
        method: 'PUT',
        setupRequest: (req) => {
          const i = firstRow + (next++ % count);
          return {
            ...req,
            path: `/v1/files/small.h5/datasets/rows/value?select=[${i}:${i + 1},0:${ROW}]`,
            headers: { 'content-type': 'application/octet-stream' },
            body: row,
          };
        },
        onResponse: (status) => {
          last = performance.now();
          if (status !== 202) bad++;
        },
      },
    ],
  });
  const cpu = cpuSince(before, await cpuOf(api));
  const ok = result.requests.sent - bad - result.errors - result.timeouts;
  if (ok < count) throw new Error(`small writes: ${count - ok} of ${count} not accepted (${bad} non-202, ${result.errors} errors)`);
  await clearStaging(api);
  return { perSecond: ok / ((last - t0) / 1000), cpu };
}

export async function runApiProcesses(opts: ApiProcessesOptions): Promise<ApiProcessesResult> {
  const { log } = opts;
  const warmSmall = Math.min(1000, opts.smallWrites);
  const rows = warmSmall + opts.rounds * opts.smallWrites;
  const fs = opts.base === '/dev/shm' ? 'tmpfs' : opts.base;
  log(
    `api-processes: ${opts.processes.join(' vs ')} processes, ${opts.clients} × ${opts.uploadBytes / MiB} MiB uploads, ${opts.smallWrites} small writes × ${opts.smallClients} clients, ${opts.rounds} paired rounds, ${os.availableParallelism()} cores, ${fs}`,
  );
  const payload = Buffer.alloc(opts.uploadBytes);
  new Float64Array(payload.buffer, payload.byteOffset, opts.uploadBytes / 8).forEach((_, i, a) => (a[i] = i));
  const apis: Api[] = [];
  const load0 = os.loadavg()[0]!;
  try {
    for (const n of opts.processes) apis.push(await startApi(n, opts.base));
    const sides: ApiProcessesSide[] = apis.map((a) => ({ processes: a.processes, uploadSeconds: [], uploadCpu: [], smallPerSecond: [], smallCpu: [] }));
    for (const api of apis) {
      await prepare(api, opts, rows);
      // Warm-up: JIT, connections, the first staging files.
      await uploads(api, opts, payload);
      if (warmSmall > 0) await smallWrites(api, opts, 0, warmSmall);
    }
    for (let round = 0; round < opts.rounds; round++) {
      const order = round % 2 === 0 ? apis.map((_, i) => i) : apis.map((_, i) => apis.length - 1 - i);
      for (const i of order) {
        const api = apis[i]!;
        const up = await uploads(api, opts, payload);
        sides[i]!.uploadSeconds.push(up.seconds);
        sides[i]!.uploadCpu.push(up.cpu);
        let line = `round ${round + 1}/${opts.rounds} ${api.processes} process(es): uploads ${up.seconds.toFixed(2)} s (${((opts.clients * opts.uploadBytes) / MiB / up.seconds).toFixed(0)} MiB/s; cpu api ${up.cpu.api} s, redis ${up.cpu.redis} s, client ${up.cpu.client} s)`;
        if (opts.smallWrites > 0) {
          const sw = await smallWrites(api, opts, warmSmall + round * opts.smallWrites, opts.smallWrites);
          sides[i]!.smallPerSecond.push(sw.perSecond);
          sides[i]!.smallCpu.push(sw.cpu);
          line += `; small writes ${sw.perSecond.toFixed(0)}/s (cpu api ${sw.cpu.api} s, redis ${sw.cpu.redis} s)`;
        }
        log(`  ${line}`);
      }
    }
    const base = sides[0]!;
    const uploadSpeedup: Record<number, number> = {};
    const smallSpeedup: Record<number, number> = {};
    for (const s of sides.slice(1)) {
      uploadSpeedup[s.processes] = median(s.uploadSeconds.map((t, r) => base.uploadSeconds[r]! / t));
      if (opts.smallWrites > 0) smallSpeedup[s.processes] = median(s.smallPerSecond.map((v, r) => v / base.smallPerSecond[r]!));
    }
    return {
      cores: os.availableParallelism(),
      fs,
      clients: opts.clients,
      uploadBytes: opts.uploadBytes,
      smallWrites: opts.smallWrites,
      smallClients: opts.smallClients,
      rounds: opts.rounds,
      load: [Number(load0.toFixed(2)), Number(os.loadavg()[0]!.toFixed(2))],
      sides,
      uploadSpeedup,
      smallSpeedup,
    };
  } finally {
    for (const api of apis) await api.stop();
  }
}

/** The bench suite's settings for this scenario. */
export function apiProcessesSettings(quick: boolean, rounds: number, log: (line: string) => void): ApiProcessesOptions {
  return quick
    ? { processes: [1, 2], clients: 4, uploadBytes: 16 * MiB, rounds, smallWrites: 500, smallClients: 16, base: '/dev/shm', log }
    : { processes: [1, 2], clients: 8, uploadBytes: 64 * MiB, rounds, smallWrites: 5000, smallClients: 32, base: '/dev/shm', log };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const opts = apiProcessesSettings(argv.includes('--quick'), Number(arg('--rounds') ?? 5), log);
  if (arg('--processes')) opts.processes = arg('--processes')!.split(',').map(Number);
  if (arg('--base')) opts.base = path.resolve(arg('--base')!);
  const json = arg('--json');
  runApiProcesses(opts).then(
    async (r) => {
      for (const s of r.sides) {
        console.log(
          `${s.processes} process(es): uploads median ${median(s.uploadSeconds).toFixed(2)} s (${((r.clients * r.uploadBytes) / MiB / median(s.uploadSeconds)).toFixed(0)} MiB/s), ` +
            `api cpu ${median(s.uploadCpu.map((c) => c.api)).toFixed(2)} s` +
            (r.smallWrites ? `; small writes median ${median(s.smallPerSecond).toFixed(0)}/s` : ''),
        );
      }
      console.log(
        `paired speedup, uploads: ${JSON.stringify(r.uploadSpeedup)}; small writes: ${JSON.stringify(r.smallSpeedup)}; load ${os
          .loadavg()
          .map((v) => v.toFixed(2))
          .join(' ')}`,
      );
      if (json) await writeFile(json, JSON.stringify(r, null, 1));
      process.exit(0);
    },
    (err: unknown) => {
      console.error((err as Error).stack ?? String(err));
      process.exit(1);
    },
  );
}
