/**
 * Ctrl-C of `npm start`, sent as a terminal sends it: SIGINT to up.js's whole process group.
 * Only the supervisor may act on it (Redis, the API and the pool run in groups of their
 * own); it drains the pool, then stops the API, then Redis. Idle, that takes a few seconds;
 * busy, the write in hand completes first (the file checked with h5py, the job's state read
 * back from Redis's AOF). Afterwards no process of the stack (redis-server, API, mpirun, a
 * rank) is left, found by a marker in their environment.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { ShardQueues } from '../helpers/queues.js';
import { startUp, type Up } from '../helpers/up.js';
import { startRedisServer } from '../../services/shared/redis-server.js';

const stacks: Up[] = [];
after(async () => {
  for (const s of stacks) await s.cleanup();
});

/** Ctrl-C: SIGINT to the process group up.js leads. Resolves with how long up.js took to exit. */
async function ctrlC(up: Up): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const t0 = Date.now();
  process.kill(-up.pid, 'SIGINT');
  const { code, signal } = await up.exit;
  return { code, signal, ms: Date.now() - t0 };
}

async function nothingLeft(up: Up): Promise<void> {
  // A process SIGKILLed by the supervisor needs a moment to be reaped by init.
  for (let i = 0; i < 20 && (await up.processes()).length > 0; i++) await sleep(100);
  const left = await up.processes();
  assert.deepEqual(left, [], `left behind by up.js:\n${left.map((p) => `${p.pid} ${p.args}`).join('\n')}\n${up.logs()}`);
}

test('an idle stack stops on Ctrl-C in a few seconds, in order, with nothing left (3 times)', { timeout: 300_000 }, async () => {
  for (let round = 0; round < 3; round++) {
    const up = await startUp({ ranks: 2 });
    stacks.push(up);
    await up.waitReady(90_000);
    const { code, signal, ms } = await ctrlC(up);
    const log = up.logs();
    assert.equal(signal, null, log);
    assert.equal(code, 0, log);
    assert.ok(ms < 10_000, `took ${ms} ms\n${log}`);
    // The pool drained (it could reach Redis: Redis had not seen the SIGINT).
    assert.match(log, /SIGUSR2: draining/);
    assert.match(log, /drained; exiting/);
    assert.doesNotMatch(log, /did not drain|ENOENT|ECONNREFUSED|restarting/);
    assert.ok(log.indexOf('drained; exiting') < log.lastIndexOf('[ph5] stopped'), log);
    await nothingLeft(up);
    console.log(`round ${round}: Ctrl-C to exit ${ms} ms`);
  }
});

test('a busy stack finishes the write in hand on Ctrl-C: the job completes and the file is right', { timeout: 300_000 }, async () => {
  const up = await startUp({ ranks: 2 });
  stacks.push(up);
  await up.waitReady(90_000);
  const c = client(up.url);
  const n = 16 * 1024 * 1024; // 128 MiB of float64: a job that takes a while on 2 ranks
  const created = await c.accepted('POST', '/v1/files/busy.h5/datasets', { path: 'big', dtype: 'float64', shape: [n] });
  assert.equal(created.state, 'completed', JSON.stringify(created));
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = i;
  const put = await c.call('PUT', '/v1/files/busy.h5/datasets/big/value', new Uint8Array(values.buffer));
  assert.equal(put.status, 202, JSON.stringify(put.json));
  const location = put.headers.get('location')!;
  const id = location.split('/').pop()!;
  for (;;) {
    const { json } = await c.call('GET', location);
    if (json.state === 'running') break;
    assert.notEqual(json.state, 'completed', 'the job finished before the test could signal; make it bigger');
    await sleep(10);
  }
  const { code, ms } = await ctrlC(up);
  const log = up.logs();
  assert.equal(code, 0, log);
  assert.match(log, /drained; exiting/);
  assert.doesNotMatch(log, /did not drain|ENOENT|ECONNREFUSED|restarting/);
  await nothingLeft(up);
  console.log(`busy: Ctrl-C to exit ${ms} ms`);

  const got = await h5py<[number, number, boolean]>(
    path.join(up.dataDir, 'default', 'busy.h5'),
    "d = h5py.File(path, 'r')['big'][:]; out = [float(d[12345]), float(d[-1]), bool((d == np.arange(d.size, dtype='f8')).all())]",
  );
  assert.deepEqual(got, [12345, n - 1, true]);
  // The job's record, from the AOF the stopped Redis left.
  const redis = await startRedisServer(path.join(up.dataDir, '.redis'));
  const queues = new ShardQueues(redis.url);
  try {
    const job = await queues.getJob(id);
    assert.equal(await job?.getState(), 'completed');
    assert.equal(job?.attemptsMade, 1, 'completed by the draining pool, not retried');
  } finally {
    await queues.close();
    await redis.stop();
  }
});
