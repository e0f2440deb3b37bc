/**
 * `npm start` on one host listens on loopback only: no process of the stack (up.js, Redis,
 * the API, mpirun, the ranks) has a TCP listener on 0.0.0.0 or [::]. Read from
 * /proc/net/tcp{,6} and each process's sockets while the stack runs and after a write went
 * through it (ranks talking over shared memory, mpirun's listeners moved to loopback). The
 * same check on PH5_POOL_NETWORK=any (OpenMPI's defaults) finds mpirun's wildcard
 * listeners: the check can fail.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { isWildcard, startUp, type Listener, type Up } from '../helpers/up.js';
import path from 'node:path';

const stacks: Up[] = [];
after(async () => {
  for (const s of stacks) await s.cleanup();
});

const show = (ls: Listener[]) => ls.map((l) => `${l.comm}[${l.pid}] ${l.address}:${l.port}`).join('\n');

test('a single-host stack has no wildcard listener, and its pool still writes', { timeout: 180_000 }, async () => {
  const up = await startUp({ ranks: 2 });
  stacks.push(up);
  await up.waitReady(90_000);
  const c = client(up.url);
  await c.accepted('POST', '/v1/files/lo.h5/datasets', { path: 'x', dtype: 'int32', shape: [8] });
  const job = await c.accepted('PUT', '/v1/files/lo.h5/datasets/x/value', [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(job.state, 'completed', JSON.stringify(job));
  assert.deepEqual(await h5py(path.join(up.dataDir, 'default', 'lo.h5'), "out = h5py.File(path, 'r')['x'][:].tolist()"), [0, 1, 2, 3, 4, 5, 6, 7]);

  const listeners = await up.listeners();
  const comms = new Set(listeners.map((l) => l.comm));
  assert.ok(comms.has('mpirun'), `mpirun's listeners are seen:\n${show(listeners)}`);
  assert.ok(
    listeners.some((l) => l.port === Number(new URL(up.url).port)),
    `the API's listener is seen:\n${show(listeners)}`,
  );
  const wild = listeners.filter((l) => isWildcard(l.address));
  assert.deepEqual(wild, [], `wildcard listeners:\n${show(wild)}`);
  for (const l of listeners) assert.ok(l.address.startsWith('127.') || l.address === '::1', `not loopback: ${show([l])}`);
  assert.match(up.logs(), /listening on loopback/);

  up.proc.kill('SIGTERM');
  assert.equal((await up.exit).code, 0, up.logs());
});

test('PH5_POOL_NETWORK=any: OpenMPI listens on every interface (what the check above would catch)', { timeout: 180_000 }, async () => {
  const up = await startUp({ ranks: 2, env: { PH5_POOL_NETWORK: 'any' } });
  stacks.push(up);
  await up.waitReady(90_000);
  const listeners = await up.listeners();
  assert.ok(
    listeners.some((l) => l.comm === 'mpirun' && isWildcard(l.address)),
    `expected mpirun on a wildcard address:\n${show(listeners)}`,
  );
  up.proc.kill('SIGTERM');
  assert.equal((await up.exit).code, 0, up.logs());
});
