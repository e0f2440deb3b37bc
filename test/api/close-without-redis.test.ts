/**
 * The API shuts down while Redis is down: app.close() must not wait for Redis to come back.
 * It used to hang for as long as Redis stayed away (the job-event reader waited for a read
 * that ioredis kept queued for the reconnection), so a supervisor stopping the stack after
 * Redis died had to kill the API.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startApi } from '../helpers/api.js';

test('app.close() returns promptly while Redis is down', async () => {
  const api = await startApi();
  // The event reader is started by the first long-poll-capable request; make sure it runs.
  const listed = await api.app.inject({ method: 'GET', url: '/v1/jobs' });
  assert.equal(listed.statusCode, 200);
  await api.redis.kill();
  await new Promise((r) => setTimeout(r, 1500)); // ioredis is now reconnecting
  const t0 = performance.now();
  const closed = await Promise.race([api.app.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('hung'), 10_000).unref())]);
  assert.equal(closed, 'closed', 'app.close() still waiting after 10 s with Redis down');
  assert.ok(performance.now() - t0 < 5_000, `app.close() took ${Math.round(performance.now() - t0)} ms`);
  await api.redis.stop().catch(() => {});
});
