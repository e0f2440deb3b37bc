/**
 * What replicated acceptance costs per write: small PUTs (one row of 4 int32) through two
 * API processes on the same replicated Redis (primary and replica on namespaced hosts,
 * three sentinels, test/helpers/sentinel.ts), one with PH5_REDIS_MIN_REPLICAS=1 (a WAIT
 * before every 202), one without. Rounds alternate between the two (paired: the same
 * machine load, the same queue, the same pool), at concurrency 1 (latency) and 16
 * (throughput); p50/p99 latency and writes/s per mode, and the ratio.
 *
 *   npm run bench:replicated-accept            (PH5_BENCH_ROUNDS=6 PH5_BENCH_WRITES=300)
 *
 * Needs root (network namespaces), like the sentinel tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_NODE_FLAGS } from '../services/api/node-flags.js';
import { client, type FinishedJob } from '../test/helpers/client.js';
import { netnsUnavailable } from '../test/helpers/netns.js';
import { startSentinelLab, startSentinelStack } from '../test/helpers/sentinel.js';
import { freePort } from '../test/helpers/stack.js';

const API_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'services', 'api', 'server.js');
const ROUNDS = Number(process.env.PH5_BENCH_ROUNDS ?? 6);
const WRITES = Number(process.env.PH5_BENCH_WRITES ?? 300);
const COLS = 4;
const ROWS = 1_000_000;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function startApi(env: NodeJS.ProcessEnv): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(process.execPath, [...API_NODE_FLAGS, API_ENTRY], { env: { ...env, PH5_PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (
      await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { url, proc };
    await sleep(100);
  }
  throw new Error('the second API did not come up');
}

/** `writes` PUTs of one row each over `concurrency` clients; latencies in ms and the wall time. */
async function round(
  url: string,
  file: string,
  firstRow: number,
  writes: number,
  concurrency: number,
): Promise<{ latencies: number[]; seconds: number; errors: number }> {
  const api = client(url);
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < writes; i = next++) {
        const row = firstRow + i;
        const t = performance.now();
        const r = await api.call('PUT', `/v1/files/${file}/datasets/d/value?select=[${row}:${row + 1},0:${COLS}]`, [[row, row + 1, row + 2, row + 3]]);
        latencies.push(performance.now() - t);
        if (r.status !== 202) errors++;
      }
    }),
  );
  return { latencies, seconds: (performance.now() - t0) / 1000, errors };
}

async function main(): Promise<void> {
  const why = netnsUnavailable();
  if (why) throw new Error(`needs network namespaces: ${why}`);
  const redis = await startSentinelLab();
  const common = { PH5_MAX_QUEUED_PER_PROJECT: '0', PH5_RATE_LIMIT_PER_MINUTE: '0', PH5_REDIS_WAIT_MS: '1000' };
  const stack = await startSentinelStack(redis.url, { ranks: 2, env: { ...common, PH5_REDIS_MIN_REPLICAS: '1' } });
  let plain: { url: string; proc: ChildProcess } | undefined;
  try {
    plain = await startApi({
      ...process.env,
      PH5_REDIS_URL: redis.url,
      PH5_DATA_DIR: stack.dataDir,
      PH5_HOST: '127.0.0.1',
      PH5_LOG_LEVEL: 'warn',
      ...common,
      PH5_REDIS_MIN_REPLICAS: '0',
    });
    const modes = [
      { name: 'WAIT 1 replica', url: stack.url, file: 'wait.h5' },
      { name: 'no WAIT', url: plain.url, file: 'nowait.h5' },
    ];
    for (const m of modes) {
      const job = (await client(m.url).accepted('POST', `/v1/files/${m.file}/datasets`, {
        path: 'd',
        dtype: 'int32',
        shape: [ROWS, COLS],
        chunks: [1024, COLS],
        fillValue: 0,
      })) as FinishedJob;
      if (job.state !== 'completed') throw new Error(`creating ${m.file}: ${JSON.stringify(job.error)}`);
    }
    console.log(`replicated Redis: ${redis.url}; ${ROUNDS} paired rounds of ${WRITES} one-row PUTs per mode and concurrency`);
    const lines: string[] = [];
    let row = 0;
    for (const concurrency of [1, 16]) {
      const acc = new Map<string, { latencies: number[]; seconds: number; writes: number; errors: number }>();
      for (let r = 0; r < ROUNDS; r++) {
        // Alternate which mode goes first, so neither always runs on a warmer (or busier) machine.
        const order = r % 2 === 0 ? modes : [...modes].reverse();
        for (const m of order) {
          const res = await round(m.url, m.file, row, WRITES, concurrency);
          row += WRITES;
          const a = acc.get(m.name) ?? { latencies: [], seconds: 0, writes: 0, errors: 0 };
          a.latencies.push(...res.latencies);
          a.seconds += res.seconds;
          a.writes += WRITES;
          a.errors += res.errors;
          acc.set(m.name, a);
        }
      }
      const summary = modes.map((m) => {
        const a = acc.get(m.name)!;
        const sorted = [...a.latencies].sort((x, y) => x - y);
        return { mode: m.name, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), perSecond: a.writes / a.seconds, errors: a.errors };
      });
      const [w, n] = summary as [(typeof summary)[0], (typeof summary)[0]];
      for (const s of summary) {
        lines.push(
          `concurrency ${String(concurrency).padStart(2)}  ${s.mode.padEnd(15)} p50 ${s.p50.toFixed(2).padStart(6)} ms  p99 ${s.p99.toFixed(2).padStart(6)} ms  ${s.perSecond.toFixed(0).padStart(5)} writes/s  (${s.errors} not 202)`,
        );
      }
      lines.push(
        `concurrency ${String(concurrency).padStart(2)}  WAIT costs      p50 +${(w.p50 - n.p50).toFixed(2)} ms  p99 +${(w.p99 - n.p99).toFixed(2)} ms  throughput x${(w.perSecond / n.perSecond).toFixed(2)}`,
      );
      console.log(lines.slice(-3).join('\n'));
    }
    console.log(
      `\nsummary (load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}, ${os.availableParallelism()} cores)\n${lines.join('\n')}`,
    );
  } finally {
    if (plain) {
      plain.proc.kill('SIGTERM');
      await new Promise((r) => plain!.proc.once('exit', r));
    }
    await stack.stop();
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
