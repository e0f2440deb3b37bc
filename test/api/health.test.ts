/**
 * Liveness, readiness (Redis reachable AND a live worker pool), and the API's behaviour
 * while Redis is down: a fast 503 with Retry-After, never a hang, and nothing accepted.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { keys } from '../../services/shared/jobs.js';
import { startApi, type TestApi } from '../helpers/api.js';

let api: TestApi;
before(async () => {
  api = await startApi();
});
after(async () => {
  await api?.stop();
});

test('healthz answers while the process is up', async () => {
  const res = await api.app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { status: 'ok' });
});

test('readyz is 503 without a worker pool heartbeat, 200 with a fresh one, 503 again when it is stale', async () => {
  const none = await api.app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(none.statusCode, 503);
  assert.match(String(none.headers['content-type']), /^application\/problem\+json/);
  assert.equal(none.json().code, 'PH5_ERR_NOT_READY');
  assert.ok(none.headers['retry-after']);

  // What a pool's heartbeat writes: its score in the live set and its record (with a TTL).
  await api.app.redis.zadd(keys.pools, Date.now(), 'pool-a');
  const recordless = await api.app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(recordless.statusCode, 503, 'a set entry without its record is no live pool');
  await api.app.redis.set(keys.pool('pool-a'), '{}', 'PX', 60_000);
  const ready = await api.app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(ready.statusCode, 200, ready.body);
  assert.deepEqual(ready.json(), { status: 'ready', pools: 1 });

  await api.app.redis.zadd(keys.pools, Date.now() - 60_000, 'pool-a');
  const stale = await api.app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(stale.statusCode, 503);
  assert.equal(stale.json().code, 'PH5_ERR_NOT_READY');
});

test('Redis down: every route that needs it answers 503 + Retry-After within 3 s, and nothing is accepted', async () => {
  const created = await api.app.inject({ method: 'POST', url: '/v1/files/up.h5/datasets', payload: { path: '/d', dtype: 'int32', shape: [4] } });
  assert.equal(created.statusCode, 202);
  const jobUrl = created.headers.location as string;
  await api.app.redis.multi().zadd(keys.pools, Date.now(), 'pool-a').set(keys.pool('pool-a'), '{}', 'PX', 60_000).exec();
  const jobsBefore = await api.jobCount();
  await sleep(1100); // appendfsync everysec: let the AOF catch up before the crash

  await api.redis.kill();
  try {
    const requests: { name: string; method: 'GET' | 'POST' | 'PUT'; url: string; payload?: unknown; headers?: Record<string, string> }[] = [
      { name: 'create', method: 'POST', url: '/v1/files/down.h5/datasets', payload: { path: '/e', dtype: 'int8', shape: [4] } },
      { name: 'JSON write', method: 'PUT', url: '/v1/files/up.h5/datasets/d/value', payload: [1, 2, 3, 4] },
      {
        name: 'binary write',
        method: 'PUT',
        url: '/v1/files/up.h5/datasets/d/value',
        payload: Buffer.alloc(16),
        headers: { 'content-type': 'application/octet-stream' },
      },
      { name: 'job', method: 'GET', url: jobUrl },
      { name: 'job with wait', method: 'GET', url: `${jobUrl}?wait=10` },
      { name: 'metadata', method: 'GET', url: '/v1/files/up.h5/datasets/d' },
      { name: 'readyz', method: 'GET', url: '/readyz' },
    ];
    for (const r of requests) {
      const t0 = Date.now();
      const res = await api.app.inject({
        method: r.method,
        url: r.url,
        ...(r.payload === undefined ? {} : { payload: r.payload as never }),
        ...(r.headers ? { headers: r.headers } : {}),
      });
      const ms = Date.now() - t0;
      assert.equal(res.statusCode, 503, `${r.name}: ${res.body}`);
      assert.ok(ms < 3000, `${r.name} answered in ${ms} ms`);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.ok(['PH5_ERR_UNAVAILABLE', 'PH5_ERR_NOT_READY'].includes(res.json().code), `${r.name}: ${res.json().code}`);
      assert.ok(Number(res.headers['retry-after']) > 0, `${r.name} has Retry-After`);
    }
    assert.deepEqual(await api.staged(), [], 'no payload left in staging');
    const health = await api.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200, 'the process itself is still alive');
  } finally {
    await api.redis.restart();
  }

  // Back: the same clients reconnect on their own, and the refused requests left nothing.
  let res;
  for (let i = 0; i < 100; i++) {
    res = await api.app.inject({ method: 'GET', url: jobUrl });
    if (res.statusCode === 200) break;
    await sleep(100);
  }
  assert.equal(res?.statusCode, 200, 'the API recovers when Redis is back');
  assert.equal(await api.jobCount(), jobsBefore, 'nothing was queued while Redis was down');
  assert.deepEqual(await api.app.redis.hkeys(keys.datasets('default', 'down.h5')), [], 'nothing was registered');
});
