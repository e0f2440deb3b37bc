/**
 * Many small writes: N writes of one 1 KiB row each (float64 x 128) from 32 concurrent HTTP
 * clients into one dataset, 4 ranks, measured end to end (first request sent -> every job
 * completed); and, in the same run on the same Redis, the raw BullMQ throughput of no-op
 * jobs (32 concurrent producers, a Worker in its own process whose processor does nothing).
 *
 *   npm run bench:small-writes                 # 10,000 writes
 *   npm run bench:small-writes -- --quick      # 500 writes (CI: keeps the harness alive)
 *   node dist/bench/small-writes.js --writes 2000 --clients 32 --ranks 4 --raw-concurrency 1,32 --warmup 2000 --json out.json
 *
 * The machine is shared and its speed drifts over tens of seconds, so ph5 and raw BullMQ
 * are measured in interleaved rounds (`--rounds`, 5 by default): ph5, then each raw
 * concurrency, again and again. Each round's ratio compares runs made seconds apart (the
 * drift cancels out); the headline ratio is the median of the rounds' ratios, and the
 * report also gives every round and the ratio of the medians.
 *
 * Both sides are measured warm, as a running service is: before its measured run, ph5
 * takes `--warmup` writes (same clients, a dataset of their own in the same file) and each
 * raw Worker that many no-op jobs, so JIT compilation and first-use costs of either are not
 * counted.
 *
 * Beside the figures it prints where the time goes: the API's accept latency and rate, the
 * worker's per-job cost split into its steps (from the jobs' own timings), the gap BullMQ
 * adds between two jobs, and the CPU each process used. The machine is shared and noisy:
 * read ratios, not absolute times. Not a test: nothing here asserts a speed.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { JOB_OPTIONS } from '../services/api/domain/jobs.js';
import { QUEUE_PREFIX, queueName, shardOfFile, type JobData, type JobResult } from '../services/shared/jobs.js';
import { redisOptions } from '../services/shared/redis.js';
import { client, type FinishedJob } from '../test/helpers/client.js';
import { h5py } from '../test/helpers/h5.js';
import { helperProducer } from '../test/helpers/queues.js';
import { childPids, cpuSeconds } from '../test/helpers/proc.js';
import { startStack, type Stack } from '../test/helpers/stack.js';
import { RAW_PREFIX } from './raw-worker.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROW = 128; // float64 values: 1 KiB per row
const FILE = 'small-writes.h5';
/** All the benchmark's jobs are on FILE (project 'default'), so in its shard's queue. */
const QUEUE_NAME = queueName(shardOfFile('default', FILE));
const DATASET = 'rows';
const WARMUP_DATASET = 'warmup';

export interface SmallWritesOptions {
  writes: number;
  clients: number;
  ranks: number;
  /** Concurrency of the raw no-op Worker; one raw run per value. */
  rawConcurrency: number[];
  /** Writes for the split profile (accept with no pool, then drain); 0 skips it. */
  splitWrites: number;
  /** Writes (ph5) and no-op jobs (each raw Worker) before the measured runs; 0: none. */
  warmupWrites: number;
  /** Interleaved rounds of ph5 and raw runs; the report gives each round, the medians, and the median paired ratio. */
  rounds: number;
  log?: (line: string) => void;
}

export interface RawResult {
  concurrency: number;
  jobs: number;
  /** Bytes of each no-op job's data (JSON). */
  dataBytes: number;
  seconds: number;
  jobsPerSecond: number;
  redis: RedisCost;
  /** Rewrites of Redis's append-only file that ran during the measured run. */
  aofRewrites: number;
}

export interface SmallWritesResult {
  writes: number;
  clients: number;
  ranks: number;
  ph5: {
    seconds: number;
    writesPerSecond: number;
    /** Time until the last request was answered (202), and the accept rate over it. */
    acceptSeconds: number;
    acceptedPerSecond: number;
    latencyMs: { p50: number; p99: number; max: number };
    non202: number;
    errors: number;
    failedJobs: number;
    /** Jobs the writes were queued as (small writes arriving together share one). */
    jobs: number;
  };
  /** Per raw concurrency, its median round. */
  raw: RawResult[];
  /** Median over the rounds of ph5 writes/s over the round's best raw jobs/s. */
  ratio: number;
  /** Median ph5 writes/s over the best median raw jobs/s. */
  ratioOfMedians: number;
  profile: Profile;
  verified: boolean;
  /** Every round's figures (the fields above are the median round's). */
  rounds: Array<{ ph5WritesPerSecond: number; raw: Array<{ concurrency: number; jobsPerSecond: number }>; ratio: number; aofRewrites: number }>;
}

export interface Profile {
  sampledJobs: number;
  /**
   * From the sampled jobs' own records. Jobs applied in one epoch share its timings, so the
   * step times are medians per epoch (ms); heldMs (taken -> completed) and queuedMs
   * (accepted -> taken) are medians per job.
   */
  worker: {
    epochs: number;
    jobsPerEpoch: number;
    totalMs: number;
    openMs: number;
    applyMs: number;
    closeMs: number;
    otherMs: number;
    /** Share of jobs (in acceptance order) whose row follows the previous job's row: the coalescing opportunity. */
    touchingShare: number;
    heldMs: number;
    queuedMs: number;
  };
  /** CPU seconds each part used during the ph5 run (2 cores = 2 s per wall second). */
  cpuSeconds: Record<string, number>;
  wallSeconds: number;
  redis: RedisCost;
  /** Rewrites of Redis's append-only file that ran during the measured run. */
  aofRewrites: number;
  /** The two halves apart: the API accepting with no pool running, then the pool draining that backlog. */
  split?: { acceptOnlyPerSecond: number; acceptLatencyP50Ms: number; drainPerSecond: number };
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

function rowBytes(i: number): Buffer {
  const values = new Float64Array(ROW);
  for (let k = 0; k < ROW; k++) values[k] = i + k / 1000;
  return Buffer.from(values.buffer);
}

async function completedCount(queue: Queue): Promise<{ completed: number; failed: number }> {
  const counts = await queue.getJobCounts('completed', 'failed');
  return { completed: counts.completed ?? 0, failed: counts.failed ?? 0 };
}

/** Polls until `target` more jobs than `base` have finished; returns the time they did. */
async function waitFinished(queue: Queue, base: number, target: number, timeoutMs: number): Promise<{ at: number; failed: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = await completedCount(queue);
    if (c.completed + c.failed - base >= target) return { at: performance.now(), failed: c.failed };
    if (Date.now() > deadline) throw new Error(`only ${c.completed + c.failed - base} of ${target} jobs finished within ${timeoutMs} ms`);
    // Coarse enough that the polling itself is a small share of Redis's work.
    await sleep(25);
  }
}

/** Redis's own per-command counters (INFO commandstats): calls and microseconds. */
async function commandStats(redisUrl: string): Promise<Map<string, { calls: number; usec: number }>> {
  const redis = new Redis(redisOptions(redisUrl, 'consumer'));
  try {
    const info = await redis.info('commandstats');
    const out = new Map<string, { calls: number; usec: number }>();
    for (const m of info.matchAll(/^cmdstat_(\S+):calls=(\d+),usec=(\d+)/gm)) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
    return out;
  } finally {
    redis.disconnect();
  }
}

/** The rewrites of the append-only file since Redis started, from INFO persistence. */
function rewriteCount(persistence: string): number {
  return Number(/^aof_rewrites:(\d+)/m.exec(persistence)?.[1] ?? 0);
}

/** How many times Redis has rewritten its append-only file since it started. */
async function aofRewrites(redisUrl: string): Promise<number> {
  const redis = new Redis(redisOptions(redisUrl, 'consumer'));
  try {
    return rewriteCount(await redis.info('persistence'));
  } finally {
    redis.disconnect();
  }
}

/**
 * Redis rewrites its append-only file in a child process each time the file has doubled,
 * and the bench writes hundreds of MB to it: a rewrite during a measured run takes a core
 * from whatever is being measured, ph5 or raw BullMQ alike, and made single runs of either
 * side up to twice as slow. The bench's Redis therefore does no automatic rewrite (a
 * service pays for them every few minutes, not every few seconds); every measured run
 * starts right after a rewrite has finished (BGREWRITEAOF, which keeps the file small), and
 * reports any rewrite during it.
 */
async function compactAof(redisUrl: string): Promise<number> {
  const redis = new Redis(redisOptions(redisUrl, 'consumer'));
  try {
    await redis.bgrewriteaof().catch(() => {}); // refused while one runs: waiting for it is as good
    for (;;) {
      const info = await redis.info('persistence');
      if (/^aof_rewrite_in_progress:0/m.test(info) && /^aof_rewrite_scheduled:0/m.test(info)) return rewriteCount(info);
      await sleep(50);
    }
  } finally {
    redis.disconnect();
  }
}

export interface RedisCost {
  /** Redis commands per job (Lua scripts count as one), and Redis CPU per job. */
  callsPerJob: number;
  usecPerJob: number;
  top: string;
}

function redisCost(before: Map<string, { calls: number; usec: number }>, after: Map<string, { calls: number; usec: number }>, jobs: number): RedisCost {
  const diff: [string, number, number][] = [];
  for (const [name, a] of after) {
    const b = before.get(name) ?? { calls: 0, usec: 0 };
    if (a.calls > b.calls) diff.push([name, a.calls - b.calls, a.usec - b.usec]);
  }
  diff.sort((x, y) => y[1] - x[1]);
  const calls = diff.reduce((n, d) => n + d[1], 0);
  const usec = diff.reduce((n, d) => n + d[2], 0);
  return {
    callsPerJob: Number((calls / jobs).toFixed(1)),
    usecPerJob: Number((usec / jobs).toFixed(0)),
    top: diff
      .slice(0, 6)
      .map(([n, c]) => `${n} ${(c / jobs).toFixed(1)}`)
      .join(', '),
  };
}

async function cpuOf(stack: Stack): Promise<Record<string, number>> {
  const mpirun = stack.pool.pid;
  const ranks = mpirun ? await childPids(mpirun) : [];
  let rankCpu = 0;
  for (const pid of ranks) rankCpu += await cpuSeconds(pid);
  return {
    api: await cpuSeconds(stack.api.pid!),
    redis: await cpuSeconds(stack.redis.process.pid!),
    ranks: rankCpu,
    mpirun: mpirun ? await cpuSeconds(mpirun) : 0,
    bench: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
  };
}

/** Sends `writes` row writes from `clients` connections with autocannon; resolves when all are answered. */
async function fire(url: string, writes: number, clients: number, dataset = DATASET) {
  let next = 0;
  let non202 = 0;
  const jobIds = new Set<string>();
  const t0 = performance.now();
  const t0Wall = Date.now();
  // autocannon resolves on its own 1-second tick: the last answer's time is taken here.
  let lastAnswer = t0;
  const result = await autocannon({
    url,
    connections: clients,
    amount: writes,
    timeout: 60,
    requests: [
      {
        method: 'PUT',
        setupRequest: (req) => {
          const i = next++ % writes;
          return {
            ...req,
            path: `/v1/files/${FILE}/datasets/${dataset}/value?select=[${i}:${i + 1},0:${ROW}]`,
            headers: { 'content-type': 'application/octet-stream' },
            body: rowBytes(i),
          };
        },
        onResponse: (status, body) => {
          lastAnswer = performance.now();
          if (status !== 202) non202++;
          // Small writes arriving together share a job (group commit): count the jobs.
          const id = /"id":"([^"]+)"/.exec(body ?? '')?.[1];
          if (status === 202 && id) jobIds.add(id);
        },
      },
    ],
  });
  const tAccepted = lastAnswer;
  const accepted = result.requests.sent - non202 - result.errors - result.timeouts;
  return { result, non202, accepted, jobs: jobIds.size, jobIds, t0, t0Wall, tAccepted };
}

/**
 * The two halves apart: the API accepting with no pool running (HTTP + staging + enqueue),
 * then a fresh pool draining that backlog (take + write + complete, nothing else competing).
 */
async function runSplit(stack: Stack, writes: number, clients: number): Promise<NonNullable<Profile['split']>> {
  const queue = new Queue(QUEUE_NAME, { connection: helperProducer(stack.redis.url), prefix: QUEUE_PREFIX });
  try {
    await stack.pool.stop(60_000);
    const base = await completedCount(queue);
    const baseDone = base.completed + base.failed;
    const fired = await fire(stack.url, writes, clients);
    stack.pool.start();
    const first = await waitFinished(queue, baseDone, 1, 120_000);
    const last = await waitFinished(queue, baseDone, fired.jobs, 15 * 60_000);
    return {
      acceptOnlyPerSecond: fired.accepted / ((fired.tAccepted - fired.t0) / 1000),
      acceptLatencyP50Ms: fired.result.latency.p50,
      drainPerSecond: (fired.accepted * (1 - 1 / fired.jobs)) / ((last.at - first.at) / 1000),
    };
  } finally {
    await queue.close();
  }
}

/**
 * A burst like the measured one, into a dataset of its own in the same file, until all of
 * it is applied: the API and the ranks are then as warm (JIT-compiled hot paths) as in a
 * service that has been running.
 */
async function warmUp(stack: Stack, api: ReturnType<typeof client>, opts: SmallWritesOptions): Promise<void> {
  const created = (await api.accepted('POST', `/v1/files/${FILE}/datasets`, {
    path: WARMUP_DATASET,
    dtype: 'float64',
    shape: [opts.warmupWrites, ROW],
  })) as FinishedJob;
  if (created.state !== 'completed') throw new Error(`creating the warm-up dataset failed: ${JSON.stringify(created.error)}`);
  const queue = new Queue(QUEUE_NAME, { connection: helperProducer(stack.redis.url), prefix: QUEUE_PREFIX });
  try {
    const base = await completedCount(queue);
    const fired = await fire(stack.url, opts.warmupWrites, opts.clients, WARMUP_DATASET);
    if (fired.non202 > 0 || fired.accepted !== opts.warmupWrites) throw new Error(`warm-up: ${fired.non202} writes refused, ${fired.accepted} accepted`);
    await waitFinished(queue, base.completed + base.failed, fired.jobs, 5 * 60_000);
  } finally {
    await queue.close();
  }
}

/**
 * The raw no-op job's data: the job ph5 would queue for ONE of these writes (its first op
 * only). Always the same size, whatever the group sizes of the run: BullMQ's throughput
 * falls as job data grows (on this machine about 8,500 jobs/s with 700 bytes of data, 5,000 with
 * 4 KB, a 15-op group's size), so a group-sized job would flatter the ratio, and a size that varied
 * with the first group of each round made the baseline swing from round to round.
 */
function oneWriteJob(data: JobData): JobData {
  return { ...data, ops: data.ops.slice(0, 1) };
}

async function runPh5(
  stack: Stack,
  opts: SmallWritesOptions,
  dataset: string,
): Promise<{ ph5: SmallWritesResult['ph5']; profile: Profile; sample: JobData | undefined }> {
  const { writes, clients } = opts;
  const queue = new Queue<JobData, JobResult>(QUEUE_NAME, { connection: helperProducer(stack.redis.url), prefix: QUEUE_PREFIX });
  try {
    const base = await completedCount(queue);
    const baseDone = base.completed + base.failed;
    const rewritesBefore = await compactAof(stack.redis.url);
    const cpuBefore = await cpuOf(stack);
    const statsBefore = await commandStats(stack.redis.url);
    const { result, non202, accepted, jobs: jobCount, jobIds, t0, t0Wall, tAccepted } = await fire(stack.url, writes, clients, dataset);
    const done = await waitFinished(queue, baseDone, jobCount, 15 * 60_000);
    const cpuAfter = await cpuOf(stack);
    const redis = redisCost(statsBefore, await commandStats(stack.redis.url), accepted);
    const rewritesDuring = (await aofRewrites(stack.redis.url)) - rewritesBefore;
    // End to end: first request sent -> the last job's own finish time (BullMQ's finishedOn),
    // not when a poll noticed it.
    let lastFinished = 0;
    for (const id of jobIds) lastFinished = Math.max(lastFinished, (await queue.getJob(id))?.finishedOn ?? 0);
    const seconds = lastFinished > 0 ? (lastFinished - t0Wall) / 1000 : (done.at - t0) / 1000;

    // Where the time went, from the jobs' own records (a sample is enough for medians).
    const jobs = await queue.getJobs(['completed'], 0, Math.min(writes, 2000) - 1);
    const ours = jobs.filter((j) => j.data.file === FILE && j.processedOn && j.finishedOn && j.returnvalue?.timings);
    // Jobs applied together in one epoch share its timings (one open/apply/close).
    const epochs = new Map<string, Job<JobData, JobResult>[]>();
    for (const j of ours) {
      const tm = j.returnvalue.timings;
      const key = `${j.returnvalue.pool}|${tm.openMs}|${tm.applyMs}|${tm.closeMs}`;
      epochs.set(key, [...(epochs.get(key) ?? []), j]);
    }
    const perEpoch = [...epochs.values()];
    const e = (pick: (tm: JobResult['timings']) => number) => median(perEpoch.map((js) => Math.max(...js.map((j) => pick(j.returnvalue.timings)))));
    const totalMs = e((tm) => tm.totalMs);
    const openMs = e((tm) => tm.openMs);
    const applyMs = e((tm) => tm.applyMs);
    const closeMs = e((tm) => tm.closeMs);
    const jobsPerEpoch = median(perEpoch.map((js) => js.length));
    // The worker coalesces writes that touch *in acceptance order*; with many concurrent
    // clients, how often does the next accepted row follow the previous one?
    const bySeq = ours.filter((j) => j.data.seq !== undefined).sort((a, b) => a.data.seq! - b.data.seq!);
    const firstRow = (j: Job<JobData>) => (j.data.ops[0]?.op === 'write' ? j.data.ops[0].hyperslab.start[0]! : NaN);
    let touching = 0;
    for (let k = 1; k < bySeq.length; k++) if (firstRow(bySeq[k]!) === firstRow(bySeq[k - 1]!) + 1) touching++;
    const touchingShare = bySeq.length > 1 ? touching / (bySeq.length - 1) : NaN;
    const cpu: Record<string, number> = {};
    for (const k of Object.keys(cpuAfter)) cpu[k] = Number((cpuAfter[k]! - cpuBefore[k]!).toFixed(2));

    return {
      ph5: {
        seconds,
        writesPerSecond: accepted / seconds,
        acceptSeconds: (tAccepted - t0) / 1000,
        acceptedPerSecond: accepted / ((tAccepted - t0) / 1000),
        latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
        non202,
        errors: result.errors + result.timeouts,
        failedJobs: done.failed - base.failed,
        jobs: jobCount,
      },
      profile: {
        sampledJobs: ours.length,
        worker: {
          epochs: perEpoch.length,
          jobsPerEpoch,
          totalMs,
          openMs,
          applyMs,
          closeMs,
          otherMs: totalMs - openMs - applyMs - closeMs,
          touchingShare,
          heldMs: median(ours.map((j) => j.finishedOn! - j.processedOn!)),
          queuedMs: median(ours.map((j) => j.returnvalue.timings.queuedMs)),
        },
        cpuSeconds: cpu,
        wallSeconds: Number(seconds.toFixed(2)),
        aofRewrites: rewritesDuring,
        redis,
      },
      sample: ours[0] ? oneWriteJob(ours[0].data) : undefined,
    };
  } finally {
    await queue.close();
  }
}

export async function runRaw(redisUrl: string, jobs: number, producers: number, concurrency: number, data: unknown, warmup = 0): Promise<RawResult> {
  const name = `raw-${concurrency}-${Date.now()}`;
  const worker = spawn(process.execPath, [path.join(here, 'raw-worker.js'), redisUrl, name, String(concurrency)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const queue = new Queue(name, { connection: helperProducer(redisUrl), prefix: RAW_PREFIX });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.stdout.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
      worker.once('exit', (code) => reject(new Error(`raw worker exited (${code})`)));
    });
    const produce = async (count: number) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: producers }, async () => {
          while (next < count) {
            next++;
            await queue.add('noop', data, JOB_OPTIONS);
          }
        }),
      );
    };
    if (warmup > 0) {
      await produce(warmup);
      await waitFinished(queue, 0, warmup, 10 * 60_000);
    }
    const rewritesBefore = await compactAof(redisUrl);
    const statsBefore = await commandStats(redisUrl);
    const t0 = performance.now();
    await produce(jobs);
    const t0Wall = Date.now() - (performance.now() - t0);
    const done = await waitFinished(queue, warmup, jobs, 10 * 60_000);
    // As for ph5: until the last job's own finish time, not the poll that noticed it.
    let lastFinished = 0;
    for (let from = 0; from < jobs + warmup; from += 1000) {
      for (const j of await queue.getJobs(['completed'], from, from + 999)) lastFinished = Math.max(lastFinished, j.finishedOn ?? 0);
    }
    const seconds = lastFinished > 0 ? (lastFinished - t0Wall) / 1000 : (done.at - t0) / 1000;
    const redis = redisCost(statsBefore, await commandStats(redisUrl), jobs);
    const rewritesDuring = (await aofRewrites(redisUrl)) - rewritesBefore;
    return {
      concurrency,
      jobs,
      dataBytes: Buffer.byteLength(JSON.stringify(data)),
      seconds,
      jobsPerSecond: jobs / seconds,
      redis,
      aofRewrites: rewritesDuring,
    };
  } finally {
    worker.kill('SIGTERM');
    if (worker.exitCode === null) await new Promise((r) => worker.once('exit', r));
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
}

async function verify(stack: Stack, writes: number, dataset: string): Promise<boolean> {
  const bad = await h5py<number>(
    stack.filePath(FILE),
    `d = h5py.File(path, 'r')['${dataset}'][:${writes}]\n` +
      `want = np.arange(${writes})[:, None] + np.arange(${ROW})[None, :] / 1000\n` +
      'out = int((d != want).any(axis=1).sum())',
  );
  return bad === 0;
}

export async function runSmallWrites(opts: SmallWritesOptions): Promise<SmallWritesResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  log(`small-writes: ${opts.writes} x 1 KiB rows, ${opts.clients} clients, ${opts.ranks} ranks (${os.cpus().length} cores)`);
  // One client address sending thousands of writes with thousands queued: lift the API's
  // per-client rate limit and per-project queue cap, which would otherwise answer 429.
  const stack = await startStack({
    ranks: opts.ranks,
    env: { PH5_LOG_LEVEL: 'warn', PH5_RATE_LIMIT_PER_MINUTE: '0', PH5_MAX_QUEUED_PER_PROJECT: '0' },
  });
  try {
    const admin = new Redis(redisOptions(stack.redis.url, 'consumer'));
    await admin.config('SET', 'auto-aof-rewrite-percentage', '0').finally(() => admin.disconnect());
    const api = client(stack.url);
    const created = (await api.accepted('POST', `/v1/files/${FILE}/datasets`, { path: DATASET, dtype: 'float64', shape: [opts.writes, ROW] })) as FinishedJob;
    if (created.state !== 'completed') throw new Error(`creating the dataset failed: ${JSON.stringify(created.error)}`);
    // Warm-up: the first writes pay for JIT, connection setup and the file's first open.
    for (let i = 0; i < 20; i++) {
      await api.accepted('PUT', `/v1/files/${FILE}/datasets/${DATASET}/value?select=[${i}:${i + 1},0:${ROW}]`, rowBytes(i));
    }
    if (opts.warmupWrites > 0) await warmUp(stack, api, opts);
    const rounds: SmallWritesResult['rounds'] = [];
    const ph5Runs: Array<Awaited<ReturnType<typeof runPh5>>> = [];
    const rawRuns = new Map<number, RawResult[]>(opts.rawConcurrency.map((c) => [c, []]));
    let verified = true;
    for (let round = 0; round < opts.rounds; round++) {
      // Each round writes a dataset of its own, so that each can be checked whole.
      const dataset = round === 0 ? DATASET : `${DATASET}-${round}`;
      if (round > 0) {
        const made = (await api.accepted('POST', `/v1/files/${FILE}/datasets`, { path: dataset, dtype: 'float64', shape: [opts.writes, ROW] })) as FinishedJob;
        if (made.state !== 'completed') throw new Error(`creating ${dataset} failed: ${JSON.stringify(made.error)}`);
      }
      log(`round ${round + 1}/${opts.rounds}: ph5 measuring`);
      const run = await runPh5(stack, opts, dataset);
      ph5Runs.push(run);
      log(`ph5: ${run.ph5.writesPerSecond.toFixed(0)} writes/s end to end (${run.ph5.seconds.toFixed(2)} s)`);
      const raws: RawResult[] = [];
      for (const c of opts.rawConcurrency) {
        log(`raw BullMQ: measuring (worker concurrency ${c})`);
        const r = await runRaw(stack.redis.url, opts.writes, opts.clients, c, run.sample ?? { pad: 'x'.repeat(300) }, opts.warmupWrites);
        rawRuns.get(c)!.push(r);
        raws.push(r);
      }
      verified &&= await verify(stack, opts.writes, dataset);
      rounds.push({
        ph5WritesPerSecond: run.ph5.writesPerSecond,
        raw: raws.map((r) => ({ concurrency: r.concurrency, jobsPerSecond: r.jobsPerSecond })),
        ratio: run.ph5.writesPerSecond / Math.max(...raws.map((r) => r.jobsPerSecond)),
        aofRewrites: run.profile.aofRewrites + raws.reduce((n, r) => n + r.aofRewrites, 0),
      });
    }
    const medianOf = <T>(runs: T[], value: (t: T) => number): T => [...runs].sort((a, b) => value(a) - value(b))[Math.floor((runs.length - 1) / 2)]!;
    const { ph5, profile } = medianOf(ph5Runs, (r) => r.ph5.writesPerSecond);
    if (opts.splitWrites > 0) {
      log(`ph5 split: ${opts.splitWrites} writes accepted with the pool stopped, then drained`);
      profile.split = await runSplit(stack, opts.splitWrites, opts.clients);
    }
    const raw = opts.rawConcurrency.map((c) => medianOf(rawRuns.get(c)!, (r) => r.jobsPerSecond));
    const best = Math.max(...raw.map((r) => r.jobsPerSecond));
    const ratio = medianOf(rounds, (r) => r.ratio).ratio;
    return {
      writes: opts.writes,
      clients: opts.clients,
      ranks: opts.ranks,
      ph5,
      raw,
      ratio,
      ratioOfMedians: ph5.writesPerSecond / best,
      profile,
      verified,
      rounds,
    };
  } finally {
    await stack.stop();
  }
}

const ms = (v: number) => `${v.toFixed(1)} ms`;

export function formatReport(r: SmallWritesResult): string {
  const p = r.profile.worker;
  const lines = [
    `small writes: ${r.writes} x 1 KiB, ${r.clients} clients, ${r.ranks} ranks; median of ${r.rounds.length} interleaved round(s)`,
    ...r.rounds.map(
      (x, i) =>
        `  round ${i + 1}: ph5 ${x.ph5WritesPerSecond.toFixed(0)} writes/s; raw ${x.raw.map((y) => `c=${y.concurrency} ${y.jobsPerSecond.toFixed(0)}`).join(', ')} jobs/s; ratio ${(x.ratio * 100).toFixed(1)} %${x.aofRewrites ? ` (Redis AOF rewrites during its runs: ${x.aofRewrites})` : ''}`,
    ),
    `  ph5 end to end        ${r.ph5.writesPerSecond.toFixed(0).padStart(7)} writes/s  (${r.ph5.seconds.toFixed(2)} s; failed jobs ${r.ph5.failedJobs}, non-202 ${r.ph5.non202}, errors ${r.ph5.errors}; file ${r.verified ? 'verified' : 'WRONG'})`,
    ...r.raw.map(
      (x) =>
        `  raw BullMQ no-op c=${String(x.concurrency).padEnd(3)} ${x.jobsPerSecond.toFixed(0).padStart(7)} jobs/s    (${x.seconds.toFixed(2)} s; job data ${x.dataBytes} bytes: one write's op)`,
    ),
    `  ratio ph5 / best raw  ${(r.ratio * 100).toFixed(1).padStart(6)} %       (median of the rounds' ratios; of the medians above: ${(r.ratioOfMedians * 100).toFixed(1)} %; targets: >= 50 %, >= 3000 writes/s)`,
    'where the time goes:',
    `  API accept            ${r.ph5.acceptedPerSecond.toFixed(0).padStart(7)} req/s over ${r.ph5.acceptSeconds.toFixed(2)} s; latency p50 ${r.ph5.latencyMs.p50} ms, p99 ${r.ph5.latencyMs.p99} ms`,
    `  group commit: ${r.writes} writes queued as ${r.ph5.jobs} jobs (${(r.writes / Math.max(1, r.ph5.jobs)).toFixed(1)} writes per job)`,
    `  worker: ${r.profile.sampledJobs} sampled jobs in ${p.epochs} epochs (median ${p.jobsPerEpoch} jobs/epoch); per epoch ${ms(p.totalMs)} = open ${ms(p.openMs)} + apply ${ms(p.applyMs)} + close ${ms(p.closeMs)} + lease/plan/bcast/gather/cleanup ${ms(p.otherMs)}`,
    `  rows in acceptance order that touch the previous row (coalescable): ${(p.touchingShare * 100).toFixed(0)} %`,
    `  per job: ${ms(p.totalMs / Math.max(1, p.jobsPerEpoch))} of epoch; held by the pool ${ms(p.heldMs)} (taken -> completed); queued ${ms(p.queuedMs)} (accepted -> taken)`,
    `  Redis per ph5 write: ${r.profile.redis.callsPerJob} commands, ${r.profile.redis.usecPerJob} us Redis CPU (${r.profile.redis.top})`,
    ...r.raw.map((x) => `  Redis per raw job c=${x.concurrency}: ${x.redis.callsPerJob} commands, ${x.redis.usecPerJob} us (${x.redis.top})`),
    ...(r.profile.split
      ? [
          `  split: API alone accepts ${r.profile.split.acceptOnlyPerSecond.toFixed(0)} req/s (p50 ${r.profile.split.acceptLatencyP50Ms} ms); pool alone drains ${r.profile.split.drainPerSecond.toFixed(0)} writes/s`,
        ]
      : []),
    `  CPU s during ph5 run (wall ${r.profile.wallSeconds} s, ${os.cpus().length} cores): ${Object.entries(r.profile.cpuSeconds)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  ];
  return lines.join('\n');
}

export function parseArgs(argv: string[]): SmallWritesOptions & { json?: string } {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  return {
    writes: Number(get('writes') ?? (quick ? 500 : 10_000)),
    clients: Number(get('clients') ?? 32),
    ranks: Number(get('ranks') ?? 4),
    rawConcurrency: (get('raw-concurrency') ?? '1,32').split(',').map(Number),
    splitWrites: Number(get('split') ?? (quick ? 500 : 2000)),
    warmupWrites: Number(get('warmup') ?? (quick ? 200 : 2000)),
    rounds: Number(get('rounds') ?? (quick ? 1 : 5)),
    ...(get('json') ? { json: get('json')! } : {}),
  };
}

if (process.argv[1]?.endsWith('small-writes.js')) {
  const opts = parseArgs(process.argv.slice(2));
  runSmallWrites(opts).then(
    async (r) => {
      console.log(formatReport(r));
      if (opts.json) await writeFile(opts.json, JSON.stringify(r, null, 2));
      process.exit(r.verified && r.ph5.failedJobs === 0 ? 0 : 1);
    },
    (err: unknown) => {
      console.error((err as Error).stack ?? String(err));
      process.exit(1);
    },
  );
}
