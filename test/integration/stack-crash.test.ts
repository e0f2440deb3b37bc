/**
 * Accepted means durable, for the whole stack at once: right after a write's 202, the
 * API, Redis, mpirun and every rank are SIGKILLed together (a power cut, as far as the
 * processes can tell). Started again on the same data directory, the job completes and
 * the file holds exactly what was written (read back with h5py).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { API_NODE_FLAGS } from '../../services/api/node-flags.js';
import { WorkerPool } from '../../services/worker/pool.js';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { childPids } from '../helpers/proc.js';
import { startRedis } from '../helpers/redis.js';
import { freePort } from '../helpers/stack.js';

const API_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'services', 'api', 'server.js');
const N = 4096;

test('kill -9 of API, Redis, mpirun and ranks right after a 202: after a restart the job completes, data intact', { timeout: 300_000 }, async () => {
  const redis = await startRedis();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ph5-stack-crash-'));
  const port = await freePort();
  let output = '';
  const env = { ...process.env, PH5_REDIS_URL: redis.url, PH5_DATA_DIR: dataDir, PH5_PORT: String(port), PH5_HOST: '127.0.0.1', PH5_LOG_LEVEL: 'warn' };
  const url = `http://127.0.0.1:${port}`;
  const apis: ChildProcess[] = [];
  const pools: WorkerPool[] = [];
  const start = async () => {
    const api = spawn(process.execPath, [...API_NODE_FLAGS, API_ENTRY], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    api.stdout.on('data', (b: Buffer) => (output += b.toString()));
    api.stderr.on('data', (b: Buffer) => (output += b.toString()));
    apis.push(api);
    // No restart by the pool's own supervisor: this test is the supervisor (and dies too).
    const pool = new WorkerPool({ ranks: 2, env, stdio: 'pipe', restart: false, onOutput: (s) => (output += s), log: (s) => (output += `${s}\n`) });
    pools.push(pool);
    pool.start();
    for (let i = 0; ; i++) {
      if (
        (await fetch(`${url}/readyz`)
          .then((r) => r.status)
          .catch(() => 0)) === 200
      )
        return { api, pool };
      assert.ok(i < 1200, `the stack did not become ready:\n${output}`);
      await sleep(50);
    }
  };
  try {
    const first = await start();
    const c = client(url);
    const created = await c.call('POST', '/v1/files/crash.h5/datasets', { path: '/d', dtype: 'int32', shape: [N] });
    assert.equal(created.status, 202, JSON.stringify(created.json));
    assert.equal((await c.waitJob(created.headers.get('location')!)).state, 'completed');

    const values = Buffer.from(new Int32Array(Array.from({ length: N }, (_, i) => i * 7 - 3)).buffer);
    // The pool is frozen (SIGSTOP: alive, holding whatever it holds, but taking nothing) so
    // that the kill surely lands before the job is applied: a pool applies a small write
    // within milliseconds of its 202.
    const launcher = first.pool.pid!;
    const ranks = await childPids(launcher);
    for (const pid of [launcher, ...ranks]) process.kill(pid, 'SIGSTOP');
    const written = await c.call('PUT', '/v1/files/crash.h5/datasets/d/value', values);
    assert.equal(written.status, 202, JSON.stringify(written.json));
    // At once: everything the stack runs, ranks included (each has a process group of its own).
    const killedAt = Date.now();
    for (const pid of [first.api.pid!, launcher, ...ranks]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await redis.kill();
    await first.pool.stop(5_000).catch(() => {});
    await new Promise((r) => (first.api.exitCode !== null || first.api.signalCode !== null ? r(null) : first.api.once('exit', r)));

    await redis.restart(); // AOF replay: the job accepted before the kill is there
    await start();
    const job = await c.waitJob(written.headers.get('location')!, 120_000);
    assert.equal(job.state, 'completed', `${JSON.stringify(job)}\n${output}`);
    assert.ok(job.timings.finishedAt > killedAt, 'applied by the restarted stack');
    const data = await h5py<number[]>(path.join(dataDir, 'default', 'crash.h5'), "out = [int(v) for v in h5py.File(path, 'r')['d'][:]]");
    assert.deepEqual(
      data,
      Array.from({ length: N }, (_, i) => i * 7 - 3),
    );
    for (let i = 0; i < 100 && (await readdir(path.join(dataDir, '.staging'))).length > 0; i++) await sleep(50);
    assert.deepEqual(await readdir(path.join(dataDir, '.staging')), [], 'the completed job’s payload is removed');
  } finally {
    for (const p of pools) await p.stop(20_000).catch(() => {});
    for (const a of apis) if (a.exitCode === null && a.signalCode === null) a.kill('SIGKILL');
    await redis.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
