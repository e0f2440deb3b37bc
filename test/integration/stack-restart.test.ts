/**
 * `npm start` keeps its own Redis and its API up. kill -9 of its redis-server: a new one is
 * started on the same AOF, /readyz answers 200 again within a bounded time, a job accepted
 * before the kill completes and so does one accepted after. kill -9 of the API: a new API
 * answers. A tokens file the API refuses: up.js exits non-zero at once, nothing left.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { ShardQueues } from '../helpers/queues.js';
import { startUp, type StackProcess, type Up } from '../helpers/up.js';

const stacks: Up[] = [];
const dirs: string[] = [];
after(async () => {
  for (const s of stacks) await s.cleanup();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function only(up: Up, what: (p: StackProcess) => boolean): Promise<number> {
  const found = (await up.processes()).filter(what);
  assert.equal(found.length, 1, JSON.stringify(found));
  return found[0]!.pid;
}

test('kill -9 of npm start’s Redis: it comes back, nothing accepted is lost', { timeout: 300_000 }, async () => {
  const up = await startUp({ ranks: 2 });
  stacks.push(up);
  await up.waitReady(90_000);
  const c = client(up.url);
  await c.accepted('POST', '/v1/files/r.h5/datasets', { path: 'x', dtype: 'int32', shape: [8] });

  // A job accepted, and still queued when Redis dies: the queue is paused so that the pool
  // cannot have taken it.
  const socket = path.join(up.dataDir, '.redis', 'redis.sock');
  const queues = new ShardQueues(`unix://${socket}`);
  await queues.pause();
  await queues.close();
  const before = await c.call('PUT', '/v1/files/r.h5/datasets/x/value?select=[0:4]', [1, 2, 3, 4]);
  assert.equal(before.status, 202, JSON.stringify(before.json));

  const redisPid = await only(up, (p) => p.comm === 'redis-server');
  const t0 = Date.now();
  process.kill(redisPid, 'SIGKILL');
  // Down first (the API says so), then back.
  for (
    let i = 0;
    i < 100 &&
    (await fetch(`${up.url}/readyz`).then(
      (r) => r.ok,
      () => false,
    ));
    i++
  )
    await sleep(50);
  const back = await up.waitReady(30_000);
  const recoveryMs = Date.now() - t0;
  console.log(`redis kill -9 -> /readyz 200 again in ${recoveryMs} ms`);
  assert.ok(back >= 0);
  assert.notEqual(await only(up, (p) => p.comm === 'redis-server'), redisPid, 'a new redis-server');
  assert.match(up.logs(), /redis-server ended \(killed by SIGKILL\)/);
  assert.match(up.logs(), /restarting redis-server/);

  // The AOF kept the paused state and the job; let the pool have it.
  const again = new ShardQueues(`unix://${socket}`);
  await again.resume();
  await again.close();
  const first = await c.waitJob(before.headers.get('location')!, 60_000);
  assert.equal(first.state, 'completed', JSON.stringify(first));
  const after = await c.accepted('PUT', '/v1/files/r.h5/datasets/x/value?select=[4:8]', [5, 6, 7, 8]);
  assert.equal(after.state, 'completed', JSON.stringify(after));
  assert.deepEqual(await h5py(path.join(up.dataDir, 'default', 'r.h5'), "out = h5py.File(path, 'r')['x'][:].tolist()"), [1, 2, 3, 4, 5, 6, 7, 8]);

  process.kill(-up.pid, 'SIGINT');
  assert.equal((await up.exit).code, 0, up.logs());
});

test('kill -9 of npm start’s API: a new API answers, and the stack still writes', { timeout: 300_000 }, async () => {
  const up = await startUp({ ranks: 2 });
  stacks.push(up);
  await up.waitReady(90_000);
  const apiPid = await only(up, (p) => p.args.includes('api/server.js'));
  const t0 = Date.now();
  process.kill(apiPid, 'SIGKILL');
  for (
    let i = 0;
    i < 100 &&
    (await fetch(`${up.url}/healthz`).then(
      (r) => r.ok,
      () => false,
    ));
    i++
  )
    await sleep(50);
  await up.waitReady(30_000);
  console.log(`API kill -9 -> /readyz 200 again in ${Date.now() - t0} ms`);
  assert.notEqual(await only(up, (p) => p.args.includes('api/server.js')), apiPid, 'a new API process');
  assert.equal(up.proc.exitCode, null, 'npm start runs on');
  const c = client(up.url);
  const job = await c.accepted('POST', '/v1/files/a.h5/datasets', { path: 'y', dtype: 'int8', shape: [2] });
  assert.equal(job.state, 'completed');
  process.kill(-up.pid, 'SIGINT');
  assert.equal((await up.exit).code, 0, up.logs());
  assert.deepEqual(await up.processes(), []);
});

test('a tokens file the API refuses: npm start exits non-zero promptly, nothing left', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ph5-badtokens-'));
  dirs.push(dir);
  const tokens = path.join(dir, 'tokens.json');
  await writeFile(tokens, JSON.stringify([{ name: 'x', project: '../x', role: 'admin', token: 'a-token-that-is-long-enough-0123456789' }]));
  const up = await startUp({ ranks: 2, env: { PH5_TOKENS_FILE: tokens } });
  stacks.push(up);
  const t0 = Date.now();
  const { code } = await up.exit;
  const ms = Date.now() - t0;
  console.log(`bad tokens file -> exit ${code} in ${ms} ms`);
  assert.notEqual(code, 0, up.logs());
  assert.ok(ms < 20_000, `took ${ms} ms`);
  assert.match(up.logs(), /the API: giving up, it never started/);
  assert.doesNotMatch(up.logs(), /worker pool: /, 'no pool was started');
  for (let i = 0; i < 20 && (await up.processes()).length; i++) await sleep(100);
  assert.deepEqual(await up.processes(), []);
});
