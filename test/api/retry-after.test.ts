/**
 * Every 429 and every 503 carries Retry-After (docs/api.md promises it; clients back off
 * by it): the project queue full, the rate limit, load shedding, readiness, Redis
 * unreachable. Over HTTP against a listening server with a real Redis.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startApi, type TestApi } from '../helpers/api.js';

async function listening(env: NodeJS.ProcessEnv): Promise<{ api: TestApi; url: string }> {
  const api = await startApi(env);
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  return { api, url: `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}` };
}

async function assertBackOff(res: Response, status: number, code: string, what: string): Promise<void> {
  const body = (await res.json()) as { code: string };
  assert.equal(res.status, status, `${what}: ${JSON.stringify(body)}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/, what);
  assert.equal(body.code, code, what);
  const retryAfter = res.headers.get('retry-after');
  assert.ok(
    retryAfter !== null && /^\d+$/.test(retryAfter) && Number(retryAfter) > 0,
    `${what}: Retry-After is a positive number of seconds (got ${retryAfter})`,
  );
}

/** Keeps this process's event loop busy for `ms`, letting it turn every `sliceMs`. */
async function lagFor(ms: number, sliceMs = 200): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const sliceEnd = Date.now() + sliceMs;
    while (Date.now() < sliceEnd);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

test('429 PH5_ERR_QUEUE_FULL carries Retry-After, for creations and for writes', async () => {
  const { api, url } = await listening({ PH5_MAX_QUEUED_PER_PROJECT: '1' });
  try {
    assert.equal((await fetch(`${url}/v1/files/f.h5/datasets`, json({ path: '/a', dtype: 'int8', shape: [4] }))).status, 202);
    await assertBackOff(await fetch(`${url}/v1/files/f.h5/datasets`, json({ path: '/b', dtype: 'int8', shape: [4] })), 429, 'PH5_ERR_QUEUE_FULL', 'creation');
    const write = await fetch(`${url}/v1/files/f.h5/datasets/a/value`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(4),
    });
    await assertBackOff(write, 429, 'PH5_ERR_QUEUE_FULL', 'binary write');
    assert.equal(await api.jobCount(), 1);
  } finally {
    await api.stop();
  }
});

test('429 PH5_ERR_RATE_LIMITED keeps the rate limit’s own Retry-After (the time left in its window)', async () => {
  const { api, url } = await listening({ PH5_RATE_LIMIT_PER_MINUTE: '2' });
  try {
    for (let i = 0; i < 2; i++) assert.equal((await fetch(`${url}/v1/files`)).status, 200);
    const res = await fetch(`${url}/v1/files`);
    await assertBackOff(res, 429, 'PH5_ERR_RATE_LIMITED', 'rate limit');
    assert.ok(Number(res.headers.get('retry-after')) > 5, 'the window’s remaining seconds, not the default');
  } finally {
    await api.stop();
  }
});

test('503 PH5_ERR_OVERLOADED (event loop lagging) carries Retry-After', async () => {
  const { api, url } = await listening({ PH5_MAX_EVENT_LOOP_DELAY_MS: '100' });
  try {
    let res: Response | undefined;
    for (let attempt = 0; attempt < 5 && res?.status !== 503; attempt++) {
      // A sustained lag, as a CPU-bound stall of the API's process would make: the loop still
      // turns every 200 ms, so under-pressure measures the delay (one long pause with no
      // sample at all is served on purpose, plugins/external/under-pressure.ts). The request
      // goes out once a full sample interval (1 s) has seen the lag.
      const lagging = lagFor(3000);
      const pending = sleep(1500).then(() => fetch(`${url}/v1/files`));
      await lagging;
      res = await pending;
    }
    await assertBackOff(res!, 503, 'PH5_ERR_OVERLOADED', 'overloaded');
  } finally {
    await api.stop();
  }
});

test('503 from readiness and from an unreachable Redis carries Retry-After', async () => {
  const { api, url } = await listening({});
  try {
    await assertBackOff(await fetch(`${url}/readyz`), 503, 'PH5_ERR_NOT_READY', 'no pool');
    await api.redis.kill();
    await assertBackOff(await fetch(`${url}/readyz`), 503, 'PH5_ERR_NOT_READY', 'readyz without Redis');
    await assertBackOff(await fetch(`${url}/v1/files/f.h5/groups`, json({ path: '/g' })), 503, 'PH5_ERR_UNAVAILABLE', 'a job without Redis');
  } finally {
    await api.redis.restart().catch(() => {});
    // The API's clients reconnect before it is closed (closing while they are still
    // reconnecting hangs: seen apart from this test, left to the Redis-restart work).
    for (let i = 0; i < 100 && (await fetch(`${url}/v1/jobs`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
    await api.stop();
  }
});
