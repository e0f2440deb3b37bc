/**
 * What counting the rate limit in Redis costs (PH5_RATE_LIMIT_STORE=redis, one Lua call per
 * request) against counting it in the API process (`process`). Two API servers side by
 * side, one process each, on one redis-server (unix socket) and one data directory, no
 * pool; in paired rounds, the order alternating, each gets `requests` authenticated
 * `GET /v1/files` (a directory listing: no Redis of its own, so the rate limit's round trip
 * is the only one) from `connections` keep-alive connections (autocannon). Reported: the
 * request rate and the API's and Redis's CPU microseconds per request, medians of the rounds.
 *
 *   node dist/bench/rate-limit-store.js [--rounds 5] [--requests 20000] [--connections 16]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { API_NODE_FLAGS } from '../services/api/node-flags.js';
import { cpuSeconds } from '../test/helpers/proc.js';
import { startRedis } from '../test/helpers/redis.js';
import { freePort } from '../test/helpers/stack.js';
import { median } from './suite/stats.js';

const API_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'services', 'api', 'server.js');
type Store = 'process' | 'redis';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, requests: { type: 'string', default: '20000' }, connections: { type: 'string', default: '16' } },
});
const rounds = Number(args.rounds);
const requests = Number(args.requests);
const connections = Number(args.connections);

const token = randomBytes(24).toString('hex');
const redis = await startRedis();
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ph5-rl-bench-'));

function healthy(url: string): Promise<boolean> {
  return fetch(`${url}/healthz`)
    .then((r) => r.ok)
    .catch(() => false);
}

async function startApi(store: Store): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(process.execPath, [...API_NODE_FLAGS, API_ENTRY], {
    env: {
      ...process.env,
      PH5_REDIS_URL: redis.url,
      PH5_DATA_DIR: dataDir,
      PH5_PORT: String(port),
      PH5_LOG_LEVEL: 'warn',
      PH5_API_PROCESSES: '1',
      PH5_TOKENS: JSON.stringify([{ name: 'bench', project: 'bench', role: 'admin', token }]),
      PH5_RATE_LIMIT_PER_MINUTE: String(1e9),
      PH5_RATE_LIMIT_STORE: store,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (await healthy(url)) return { url, proc };
    if (proc.exitCode !== null) throw new Error(`API (${store}) exited with ${proc.exitCode}`);
    await sleep(50);
  }
}

const apis = { process: await startApi('process'), redis: await startApi('redis') };
const results: Record<Store, Array<{ rps: number; apiUs: number; redisUs: number }>> = { process: [], redis: [] };

async function round(store: Store): Promise<void> {
  const api = apis[store];
  const cpu0 = { api: await cpuSeconds(api.proc.pid!), redis: await cpuSeconds(redis.process.pid!) };
  let bad = 0;
  // Timed to the last answer: autocannon itself notices the end only at its next 1 s tick.
  let last = 0;
  const t0 = performance.now();
  const result = await autocannon({
    url: `${api.url}/v1/files`,
    connections,
    amount: requests,
    headers: { authorization: `Bearer ${token}` },
    requests: [
      {
        onResponse: (status: number) => {
          last = performance.now();
          if (status !== 200) bad++;
        },
      },
    ],
  });
  const seconds = (last - t0) / 1000;
  if (bad || result.errors) throw new Error(`${store}: ${bad} answers not 200, ${result.errors} errors`);
  // CPU read at once, not at the last answer: the idle second at the end costs none.
  const cpu1 = { api: await cpuSeconds(api.proc.pid!), redis: await cpuSeconds(redis.process.pid!) };
  const n = result.requests.total;
  results[store].push({ rps: n / seconds, apiUs: ((cpu1.api - cpu0.api) / n) * 1e6, redisUs: ((cpu1.redis - cpu0.redis) / n) * 1e6 });
}

try {
  await round('process'); // warm-up of both (JIT, connections), not counted
  await round('redis');
  results.process.length = 0;
  results.redis.length = 0;
  for (let r = 0; r < rounds; r++) {
    const order: Store[] = r % 2 === 0 ? ['process', 'redis'] : ['redis', 'process'];
    for (const store of order) await round(store);
  }
  const load = os.loadavg().map((l) => l.toFixed(2));
  console.log(`load average ${load.join(' ')}; ${rounds} rounds of ${requests} GET /v1/files over ${connections} connections`);
  for (const store of ['process', 'redis'] as const) {
    const r = results[store];
    console.log(
      `${store.padEnd(7)}: ${median(r.map((x) => x.rps)).toFixed(0)} req/s, API ${median(r.map((x) => x.apiUs)).toFixed(0)} µs CPU/request, Redis ${median(r.map((x) => x.redisUs)).toFixed(0)} µs CPU/request` +
        `  (req/s per round: ${r.map((x) => x.rps.toFixed(0)).join(', ')})`,
    );
  }
} finally {
  for (const api of Object.values(apis)) api.proc.kill('SIGTERM');
  await Promise.all(Object.values(apis).map((a) => (a.proc.exitCode === null ? new Promise((r) => a.proc.once('exit', r)) : Promise.resolve())));
  await redis.stop();
  await rm(dataDir, { recursive: true, force: true });
}
