/**
 * Accepted means durable across a Redis crash: Redis is SIGKILLed in the middle of a write
 * stream and started again on its AOF. Every job the API accepted (202) must complete, and
 * the files must equal the accepted writes applied in order. Requests made while Redis is
 * down are refused with 503 (not accepted) and retried by the client.
 *
 * The Redis we start must fsync every write to the AOF (appendfsync always); with
 * `everysec` a crash may drop the last second of accepted jobs. The test sets it at run
 * time in case the server was started with another policy.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { redisOptions } from '../../services/shared/redis.js';
import { runFaultStream } from '../helpers/fault.js';

test('a Redis SIGKILL and restart during a write stream loses no accepted job', { timeout: 300_000 }, async () => {
  let downFor = 0;
  const r = await runFaultStream({
    kills: 0,
    minWrites: 300,
    note: (l) => console.log(l),
    chaos: async (stack, accepted) => {
      const admin = new Redis(redisOptions(stack.redis.url, 'consumer'));
      const policy = ((await admin.config('GET', 'appendfsync')) as string[])[1];
      if (policy !== 'always') await admin.config('SET', 'appendfsync', 'always');
      admin.disconnect();
      while (accepted() < 120) await sleep(50);
      const before = accepted();
      await stack.redis.kill();
      const t = Date.now();
      await sleep(1500);
      await stack.redis.restart();
      downFor = Date.now() - t;
      console.log(`redis SIGKILLed after ${before} accepted writes (appendfsync was '${policy}'), back after ${downFor} ms`);
      while (accepted() < 250) await sleep(50);
    },
  });
  console.log(`redis restart: ${r.writes} writes / ${r.jobs} jobs in ${r.seconds.toFixed(1)} s`);
  assert.ok(downFor > 0);
  assert.deepEqual(r.notCompleted, [], `accepted jobs lost or stuck:\n${r.diagnostics}`);
  assert.deepEqual(r.outOfOrder, []);
  assert.deepEqual(r.unreadable, []);
  assert.deepEqual(r.mismatches.slice(0, 10), []);
});
