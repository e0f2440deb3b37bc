/**
 * `npm run worker` (services/cli/worker.js) under mpirun, as an operator runs it: SIGTERM
 * to the supervisor is a graceful drain. mpirun would kill the ranks on SIGTERM, so the
 * supervisor turns it into SIGUSR2, which mpirun forwards: the job in hand finishes, the
 * command exits 0, and no rank is left behind.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { childPids } from '../helpers/proc.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { freePort } from '../helpers/stack.js';
import { exited } from '../../services/shared/child-exit.js';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const WORKER_CLI = path.join(DIST, 'services', 'cli', 'worker.js');
const API_ENTRY = path.join(DIST, 'services', 'api', 'server.js');

let redis: TestRedis;
let dataDir: string;
let api: ChildProcess;
let url: string;
let output = '';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  redis = await startRedis();
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ph5-drain-'));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  api = spawn(process.execPath, [API_ENTRY], {
    env: { ...process.env, PH5_REDIS_URL: redis.url, PH5_DATA_DIR: dataDir, PH5_PORT: String(port), PH5_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  api.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  api.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  for (let i = 0; i < 300; i++) {
    if (
      await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await sleep(100);
  }
  throw new Error(`the API did not start\n${output}`);
});

after(async () => {
  if (api && api.exitCode === null) {
    api.kill('SIGTERM');
    await exited(api);
  }
  await redis?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test('SIGTERM to `npm run worker` finishes the job in hand, then exits 0 with no rank left', { timeout: 180_000 }, async () => {
  const worker = spawn(process.execPath, [WORKER_CLI], {
    env: { ...process.env, PH5_REDIS_URL: redis.url, PH5_DATA_DIR: dataDir, PH5_RANKS: '2', PH5_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  worker.stdout.on('data', (b: Buffer) => (log += b.toString()));
  worker.stderr.on('data', (b: Buffer) => (log += b.toString()));
  try {
    const c = client(url);
    for (
      let i = 0;
      i < 600 &&
      !(await fetch(`${url}/readyz`).then(
        (r) => r.ok,
        () => false,
      ));
      i++
    )
      await sleep(100);
    const n = 16 * 1024 * 1024; // 128 MiB of float64: a job that takes a while on 2 ranks
    const created = await c.accepted('POST', '/v1/files/drain.h5/datasets', { path: 'big', dtype: 'float64', shape: [n] });
    assert.equal(created.state, 'completed', `${JSON.stringify(created)}\n${log}`);
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) values[i] = i;
    const put = await c.call('PUT', '/v1/files/drain.h5/datasets/big/value', new Uint8Array(values.buffer));
    assert.equal(put.status, 202, JSON.stringify(put.json));
    const location = put.headers.get('location')!;

    // Signal as soon as the pool has the job in hand.
    for (;;) {
      const { json } = await c.call('GET', location);
      if (json.state === 'running') break;
      assert.notEqual(json.state, 'completed', 'the job finished before the test could signal; make it bigger');
      await sleep(10);
    }
    const ranks = await childPids((await childPids(worker.pid!))[0]!);
    worker.kill('SIGTERM');
    const { code, signal } = await exited(worker);
    assert.equal(signal, null, log);
    assert.equal(code, 0, log);
    assert.match(log, /SIGTERM: draining the pool/);
    assert.match(log, /drained; exiting/);

    const job = await c.waitJob(location, 10_000);
    assert.equal(job.state, 'completed', JSON.stringify(job));
    assert.equal(job.attempts, 1, `completed on its first attempt: ${JSON.stringify(job)}`);
    // Finished by the pool that was draining, not killed and retried by another.
    assert.doesNotMatch(log, /did not drain|restarting/, log);
    const got = await h5py<[number, number]>(
      path.join(dataDir, 'default', 'drain.h5'),
      "d = h5py.File(path, 'r')['big']; out = [float(d[12345]), float(d[-1])]",
    );
    assert.deepEqual(got, [12345, n - 1]);
    assert.ok(ranks.length >= 2, `ranks found under mpirun: ${ranks}`);
    for (const pid of ranks) assert.equal(alive(pid), false, `rank ${pid} still alive after the drain`);
  } finally {
    if (worker.exitCode === null && worker.signalCode === null) {
      worker.kill('SIGKILL');
      await exited(worker);
    }
  }
});
