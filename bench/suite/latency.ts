/**
 * Seed scenario latency: small writes one at a time, each waited for before the next is
 * sent (a user's script doing `PUT` then waiting), timed from request start to the job
 * `completed` as the client sees it (long-poll on the job URL). Beside it, the tutorial's
 * own whole-job time: `mpirun -n R python3 hdf5_parallel.py` (the tutorial's script, copied into
 * test/fixtures/seed), which
 * pays MPI start-up, Python imports and the file create for every write.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mpiEnv } from '../../services/worker/pool.js';
import { h5py } from '../../test/helpers/h5.js';
import { startStack } from '../../test/helpers/stack.js';
import { run, submit, waitJob } from './service.js';

export const SEED_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'seed', 'hdf5_parallel.py');

export interface LatencyResult {
  name: string;
  ranks: number;
  bytes: number;
  jobs: number;
  /** Milliseconds, request start -> completed, one per job. */
  ms: number[];
  /** Per job, from its own record: accepted -> taken by the pool, and the pool's time on it. */
  queuedMs?: number[];
  workerMs?: number[];
}

export interface LatencyOptions {
  ranks: number;
  jobs: number;
  /** Elements written per job. */
  elements: number;
  dtype: 'int32' | 'float64';
  /** JSON body (as the tutorial's user would send 42 ints) or raw bytes. */
  body: 'json' | 'bytes';
  name: string;
  log: (line: string) => void;
}

export async function runLatency(opts: LatencyOptions): Promise<LatencyResult> {
  const stack = await startStack({ ranks: opts.ranks, env: { PH5_LOG_LEVEL: 'warn', PH5_RATE_LIMIT_PER_MINUTE: '0' } });
  try {
    const file = 'latency.h5';
    await run(stack.url, 'POST', `/v1/files/${file}/datasets`, { path: 'test', dtype: opts.dtype, shape: [opts.elements] });
    const bodyFor = (j: number): unknown => {
      const values = Array.from({ length: opts.elements }, (_, i) => (opts.dtype === 'int32' ? i + j : i + j / 1000));
      if (opts.body === 'json') return values;
      return Buffer.from(opts.dtype === 'int32' ? Int32Array.from(values).buffer : Float64Array.from(values).buffer);
    };
    const queuedMs: number[] = [];
    const workerMs: number[] = [];
    const one = async (j: number): Promise<number> => {
      const body = bodyFor(j);
      const t0 = performance.now();
      const { location } = await submit(stack.url, 'PUT', `/v1/files/${file}/datasets/test/value`, body);
      const job = await waitJob(stack.url, location);
      const ms = performance.now() - t0;
      queuedMs.push(job.result?.timings?.queuedMs ?? NaN);
      workerMs.push(job.result?.timings?.totalMs ?? NaN);
      return ms;
    };
    // Warm-up: JIT, connections, the file's first open.
    for (let j = 0; j < 5; j++) await one(j);
    queuedMs.length = workerMs.length = 0;
    const ms: number[] = [];
    for (let j = 0; j < opts.jobs; j++) ms.push(await one(j));
    // The last write is in the file.
    const last = opts.jobs - 1;
    const got = await h5py<number[]>(stack.filePath(file), `out = [float(v) for v in h5py.File(path, 'r')['test'][:]]`);
    const expected = Array.from({ length: opts.elements }, (_, i) => (opts.dtype === 'int32' ? i + last : i + last / 1000));
    if (got.some((v, i) => v !== expected[i])) throw new Error(`${opts.name}: the file does not hold the last write: ${JSON.stringify(got.slice(0, 8))}`);
    opts.log(`  ${opts.name}: ${opts.jobs} jobs done`);
    return { name: opts.name, ranks: opts.ranks, bytes: opts.elements * (opts.dtype === 'int32' ? 4 : 8), jobs: opts.jobs, ms, queuedMs, workerMs };
  } finally {
    await stack.stop();
  }
}

/** The tutorial's whole job, `runs` times: seconds from mpirun's start to its exit. */
export function runSeed(ranks: number, runs: number): number[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-seed-'));
  try {
    copyFileSync(SEED_SCRIPT, path.join(dir, 'hdf5_parallel.py'));
    const out: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const r = spawnSync('mpirun', ['-n', String(ranks), '--oversubscribe', '/usr/bin/python3', 'hdf5_parallel.py'], {
        cwd: dir,
        env: mpiEnv(process.env),
        encoding: 'utf8',
        timeout: 10 * 60_000,
      });
      const seconds = (performance.now() - t0) / 1000;
      if (r.status !== 0) throw new Error(`seed script failed (${r.status ?? r.signal}): ${r.stderr}`);
      out.push(seconds);
      rmSync(path.join(dir, 'output.h5'), { force: true });
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
