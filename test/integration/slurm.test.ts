/**
 * The worker pool under a real Slurm (Debian's slurmctld + slurmd + munge, a single-node
 * cluster made by the test): docker/slurm/ph5-worker.sbatch is submitted with sbatch, its
 * ranks start with `srun --mpi=pmix`, complete writes sent through the real API, and the
 * job ends cleanly (pool drained, exit 0) on `scancel --batch --signal=USR1`, on plain
 * scancel (SIGTERM everywhere), and on Slurm's own time-limit warning (--signal=B:USR1@N).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { slurmUnavailable, startSlurm, type SlurmCluster } from '../helpers/slurm.js';
import { freePort } from '../helpers/stack.js';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const REPO = path.resolve(DIST, '..');
const SBATCH = path.join(REPO, 'docker', 'slurm', 'ph5-worker.sbatch');
const API_ENTRY = path.join(DIST, 'services', 'api', 'server.js');

const unavailable = slurmUnavailable();
if (unavailable) console.error(`# slurm.test: SKIPPED: ${unavailable}`);

let slurm: SlurmCluster | undefined;
let redis: TestRedis | undefined;
let apiProc: ChildProcess | undefined;
let work: string;
let url: string;
let apiOutput = '';
const jobs: string[] = [];

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: () => Promise<string> | string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms: ${await what()}`);
}

before(async () => {
  if (unavailable) return;
  work = await mkdtemp(path.join(os.tmpdir(), 'ph5-slurm-work-'));
  slurm = await startSlurm();
  redis = await startRedis();
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  apiProc = spawn(process.execPath, [API_ENTRY], {
    env: {
      ...process.env,
      PH5_REDIS_URL: redis.url,
      PH5_DATA_DIR: path.join(work, 'data'),
      PH5_PORT: String(port),
      PH5_HOST: '127.0.0.1',
      PH5_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  apiProc.stdout!.on('data', (b: Buffer) => (apiOutput += b.toString()));
  apiProc.stderr!.on('data', (b: Buffer) => (apiOutput += b.toString()));
  await waitFor(
    async () => (await fetch(`${url}/healthz`)).ok,
    30_000,
    () => `the API to start\n${apiOutput}`,
  );
});

after(async () => {
  for (const id of jobs) await slurm?.scancel(id).catch(() => {});
  if (apiProc && apiProc.exitCode === null) {
    apiProc.kill('SIGTERM');
    await new Promise((r) => apiProc!.once('exit', r));
  }
  await slurm?.stop();
  await redis?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Submits the template for a 4-rank pool (overcommitted on this 2-CPU node). */
async function submitPool(name: string, extra: string[] = []): Promise<{ id: string; log: string; readLog: () => Promise<string> }> {
  const log = path.join(work, `${name}-%j.log`);
  const id = await slurm!.sbatch(SBATCH, ['--ntasks=4', '--overcommit', `--output=${log}`, `--chdir=${work}`, `--job-name=${name}`, ...extra], {
    ...process.env,
    PH5_REDIS_URL: redis!.url,
    PH5_DATA_DIR: path.join(work, 'data'),
    PH5_HOME: REPO,
    PH5_LOG_LEVEL: 'info',
  });
  jobs.push(id);
  const file = log.replace('%j', id);
  return { id, log: file, readLog: () => readFile(file, 'utf8').catch(() => '(no log yet)') };
}

test('sbatch runs a pool that completes a write; USR1 to the batch shell drains it to exit 0', { skip: unavailable, timeout: 240_000 }, async () => {
  const pool = await submitPool('ph5-a');
  const context = async () => `${await pool.readLog()}\n${(await slurm!.job(pool.id)).raw}\n${apiOutput}`;
  await slurm!.waitJob(pool.id, ['RUNNING'], 60_000, pool.readLog);
  // Ready = the pool's heartbeat reached Redis through the API's view.
  await waitFor(async () => (await fetch(`${url}/readyz`)).ok, 90_000, context);

  const api = client(url);
  const created = await api.accepted('POST', '/v1/files/slurm.h5/datasets', { path: 'rows', dtype: 'int32', shape: [4, 3] });
  assert.equal(created.state, 'completed', JSON.stringify(created));
  const job = await api.accepted('PUT', '/v1/files/slurm.h5/datasets/rows/value', [
    [1, 2, 3],
    [4, 5, 6],
    [7, 8, 9],
    [10, 11, 12],
  ]);
  assert.equal(job.state, 'completed', JSON.stringify(job));
  assert.equal(job.result.ranks, 4, 'all four Slurm tasks took part');

  const data = await h5py<number[][]>(path.join(work, 'data', 'default', 'slurm.h5'), "out = h5py.File(path, 'r')['rows'][()].tolist()");
  assert.deepEqual(data, [
    [1, 2, 3],
    [4, 5, 6],
    [7, 8, 9],
    [10, 11, 12],
  ]);

  // What `#SBATCH --signal=B:USR1@120` does before the time limit: USR1 to the batch shell.
  await slurm!.scancel(pool.id, ['--batch', '--signal=USR1']);
  const end = await slurm!.waitJob(pool.id, ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'], 90_000);
  const log = await pool.readLog();
  assert.equal(end.state, 'COMPLETED', `${end.raw}\n${log}`);
  assert.equal(end.exitCode, '0:0', log);
  assert.match(log, /draining/);
  assert.match(log, /supervisor exited with status 0/);
  assert.match(log, /4 ranks via srun/);
  // Idle tasks waited on rank 0's doorbell (TCP between srun tasks), not by polling MPI.
  assert.match(log, /doorbell: 3 of 3 ranks connected/);
});

test('plain scancel (SIGTERM to script, supervisor, srun and ranks) drains the pool too', { skip: unavailable, timeout: 180_000 }, async () => {
  const pool = await submitPool('ph5-b');
  await slurm!.waitJob(pool.id, ['RUNNING'], 60_000, pool.readLog);
  // Rank 0 consuming the queue = its drain handlers are installed.
  await waitFor(async () => /consuming/.test(await pool.readLog()), 90_000, pool.readLog);
  await slurm!.scancel(pool.id);
  const end = await slurm!.waitJob(pool.id, ['COMPLETED', 'FAILED', 'CANCELLED'], 90_000);
  // Slurm records a scancelled job as CANCELLED whatever the script returns; what matters is
  // that the pool drained in order rather than being killed after KillWait.
  assert.equal(end.state, 'CANCELLED', end.raw);
  await waitFor(async () => /supervisor exited with status 0/.test(await pool.readLog()), 30_000, pool.readLog);
  const log = await pool.readLog();
  assert.match(log, /drained; exiting/, log);
  assert.doesNotMatch(log, /did not drain/, log);
});

test("the time limit's warning signal (--signal=B:USR1@N) drains the pool before Slurm kills it", { skip: unavailable, timeout: 180_000 }, async () => {
  // The template asks for USR1 120 s before the limit; a one-minute job with a 45 s warning
  // shows the same path in under a minute (slurmctld checks these about every 30 s).
  const pool = await submitPool('ph5-c', ['--time=1', '--signal=B:USR1@45']);
  await slurm!.waitJob(pool.id, ['RUNNING'], 60_000, pool.readLog);
  const end = await slurm!.waitJob(pool.id, ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'], 120_000, pool.readLog);
  const log = await pool.readLog();
  assert.equal(end.state, 'COMPLETED', `${end.raw}\n${log}`);
  assert.equal(end.exitCode, '0:0', log);
  assert.match(log, /signal received, draining/);
  assert.match(log, /drained; exiting/);
  assert.match(log, /supervisor exited with status 0/);
});
