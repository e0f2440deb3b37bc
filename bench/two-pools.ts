/**
 * Two pools against one: N writes of one row each (512 KiB by default), spread round-robin over F files
 * (different files, so the pools can work side by side), first with one pool of R ranks,
 * then with a second pool of R ranks added, on the same Redis and API, in the same run.
 *
 *   npm run bench:two-pools                                  # 400 writes of 512 KiB, 8 files, 2 + 2 ranks
 *   node dist/bench/two-pools.js --writes 800 --files 16 --kib 64 --ranks 2 --clients 16 --rounds 2
 *
 * Each phase: the clients send every write (HTTP PUT, `clients` at a time) while the shard
 * queues are paused, then the queues resume and the phase is timed until every job is
 * completed (BullMQ's counts over the shard queues): the pools' throughput on a backlog,
 * apart from the API's accept rate (printed too). `--mode stream` times instead from the
 * first request to the last completion, with the queues running (end to end, but bounded
 * by the API's accept rate on this 2-core machine). Before the two-pool phase the second pool is started and the bench waits
 * until both pools published the same membership (the shards are divided), so the phase
 * measures two working pools, not a start-up. Prints jobs/s of each and the ratio, and how
 * the jobs were shared between the pools (from the jobs' results). With --rounds 2 the
 * phases alternate one, two, one, two. Not a test: the machine is shared, read the ratio.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type Job } from 'bullmq';
import { shardOfFile, type JobData, type JobResult } from '../services/shared/jobs.js';
import { WorkerPool } from '../services/worker/pool.js';
import { client, type FinishedJob } from '../test/helpers/client.js';
import { childPids, cpuSeconds } from '../test/helpers/proc.js';
import { stableShards } from '../test/helpers/pools.js';
import { ShardQueues } from '../test/helpers/queues.js';
import { startStack, type Stack } from '../test/helpers/stack.js';

const { values: args } = parseArgs({
  options: {
    writes: { type: 'string', default: '400' },
    files: { type: 'string', default: '8' },
    kib: { type: 'string', default: '512' },
    ranks: { type: 'string', default: '2' },
    clients: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '1' },
    mode: { type: 'string', default: 'backlog' },
  },
});
const WRITES = Number(args.writes);
const FILES = Number(args.files);
const ROW_VALUES = (Number(args.kib) * 1024) / 8; // float64
const RANKS = Number(args.ranks);
const CLIENTS = Number(args.clients);
const ROUNDS = Number(args.rounds);
const BACKLOG = args.mode !== 'stream';
const ROWS = Math.ceil(WRITES / FILES);
const ENV = { PH5_LOG_LEVEL: 'warn', PH5_RATE_LIMIT_PER_MINUTE: '0', PH5_MAX_QUEUED_PER_PROJECT: '0' };
const files = Array.from({ length: FILES }, (_, i) => `pools-${i}.h5`);

function row(k: number): Buffer {
  const values = new Float64Array(ROW_VALUES).fill(k);
  return Buffer.from(values.buffer);
}

/** CPU seconds used so far: the API, Redis, and each pool's ranks (with its launcher). */
async function cpu(stack: Stack, pools: WorkerPool[]): Promise<number[]> {
  const out = [await cpuSeconds(stack.api.pid!), await cpuSeconds(stack.redis.process.pid!)];
  for (const pool of pools) {
    let sum = pool.pid ? await cpuSeconds(pool.pid) : 0;
    for (const pid of pool.pid ? await childPids(pool.pid) : []) sum += await cpuSeconds(pid).catch(() => 0);
    out.push(sum);
  }
  return out;
}

async function completed(queues: ShardQueues): Promise<number> {
  const c = await queues.counts('completed', 'failed');
  return (c.completed ?? 0) + (c.failed ?? 0);
}

/** Sends every write, waits until all are finished; jobs/s from the first request to the last completion. */
async function phase(
  stack: Stack,
  queues: ShardQueues,
  pools: WorkerPool[],
): Promise<{ perSecond: number; acceptPerSecond: number; failed: number; byPool: Map<string, number>; cpu: string }> {
  const base = await completed(queues);
  const failedBefore = (await queues.counts('failed')).failed ?? 0;
  let next = 0;
  const ids: string[] = [];
  if (BACKLOG) await queues.pause();
  const cpuBefore = await cpu(stack, pools);
  let t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < WRITES) {
        const k = next++;
        const file = files[k % FILES]!;
        const r = Math.floor(k / FILES) % ROWS;
        const res = await fetch(`${stack.url}/v1/files/${file}/datasets/d/value?select=[${r}:${r + 1},0:${ROW_VALUES}]`, {
          method: 'PUT',
          headers: { 'content-type': 'application/octet-stream' },
          body: row(k),
        });
        if (res.status !== 202) throw new Error(`write ${k}: ${res.status} ${await res.text()}`);
        ids.push(((await res.json()) as { job: { id: string } }).job.id);
      }
    }),
  );
  const acceptSeconds = (performance.now() - t0) / 1000;
  if (BACKLOG) {
    t0 = performance.now();
    await queues.resume();
  }
  while ((await completed(queues)) < base + WRITES) await sleep(20);
  const seconds = (performance.now() - t0) / 1000;
  const cpuAfter = await cpu(stack, pools);
  const used = cpuAfter.map((c, i) => c - cpuBefore[i]!);
  const cpuText = `CPU s: api ${used[0]!.toFixed(1)}, redis ${used[1]!.toFixed(1)}, ${used
    .slice(2)
    .map((c, i) => `pool ${i + 1} ${c.toFixed(1)}`)
    .join(', ')}`;
  const byPool = new Map<string, number>();
  for (const id of ids) {
    const job = (await queues.getJob(id)) as Job<JobData, JobResult> | undefined;
    const pool = job?.returnvalue?.pool ?? '?';
    byPool.set(pool, (byPool.get(pool) ?? 0) + 1);
  }
  const failed = ((await queues.counts('failed')).failed ?? 0) - failedBefore;
  return { perSecond: WRITES / seconds, acceptPerSecond: WRITES / acceptSeconds, failed, byPool, cpu: cpuText };
}

function describe(byPool: Map<string, number>): string {
  return [...byPool].map(([pool, n]) => `${pool.split(':').slice(-1)[0]}: ${n}`).join(', ');
}

async function main(): Promise<void> {
  console.log(
    `two pools vs one (${BACKLOG ? 'backlog: accepted while the queues are paused, then drained' : 'stream: sent and drained at once'}): ${WRITES} writes of ${args.kib} KiB over ${FILES} files, ${CLIENTS} clients, pools of ${RANKS} ranks, ${ROUNDS} round(s)`,
  );
  const stack = await startStack({ ranks: RANKS, env: ENV });
  const queues = new ShardQueues(stack.redis.url);
  let second: WorkerPool | undefined;
  try {
    const api = client(stack.url);
    for (const f of files) {
      const job = (await api.accepted('POST', `/v1/files/${f}/datasets`, { path: 'd', dtype: 'float64', shape: [ROWS, ROW_VALUES] })) as FinishedJob;
      if (job.state !== 'completed') throw new Error(`creating ${f}: ${JSON.stringify(job.error)}`);
    }
    await stableShards(stack.redis.url, 1);
    const ones: number[] = [];
    const twos: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const one = await phase(stack, queues, [stack.pool]);
      ones.push(one.perSecond);
      console.log(
        `  one pool:  ${one.perSecond.toFixed(1)} jobs/s (API accepted ${one.acceptPerSecond.toFixed(0)}/s)${one.failed ? ` (${one.failed} failed)` : ''}; ${one.cpu}`,
      );

      second = new WorkerPool({
        ranks: RANKS,
        env: { ...process.env, ...ENV, PH5_REDIS_URL: stack.redis.url, PH5_DATA_DIR: stack.dataDir },
        stdio: 'pipe',
        onOutput: () => {},
      });
      second.start();
      const shards = await stableShards(stack.redis.url, 2);
      const filesOf = [...shards].map(
        ([id, s]) => `${id.split(':').slice(-1)[0]}: ${s.length} shards, ${files.filter((f) => s.includes(shardOfFile('default', f))).length} files`,
      );
      const two = await phase(stack, queues, [stack.pool, second]);
      twos.push(two.perSecond);
      console.log(
        `  two pools: ${two.perSecond.toFixed(1)} jobs/s (API accepted ${two.acceptPerSecond.toFixed(0)}/s)${two.failed ? ` (${two.failed} failed)` : ''}  [${filesOf.join('; ')}] jobs by pool: ${describe(two.byPool)}; ${two.cpu}`,
      );
      await second.stop(60_000);
      second = undefined;
      await stableShards(stack.redis.url, 1);
    }
    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      const m = Math.floor(s.length / 2);
      return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
    };
    console.log(
      `result (median of ${ROUNDS}): one pool ${median(ones).toFixed(1)} jobs/s, two pools ${median(twos).toFixed(1)} jobs/s, ratio x${(median(twos) / median(ones)).toFixed(2)} (target > 1)`,
    );
  } finally {
    await second?.stop(60_000);
    await queues.close();
    await stack.stop();
  }
}

await main();
