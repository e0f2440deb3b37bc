/**
 * The write lease's fencing check (services/shared/file-lock.ts) against a real Redis: it
 * answers from memory only while the lease is certainly held, and a holder that was paused
 * past the TTL (its lease expired and was granted to another) learns it at its next check.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { CONFIRMED_FRACTION, FileLocks } from '../../services/shared/file-lock.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let a: Redis;
let b: Redis;

before(async () => {
  redis = await startRedis();
  a = new Redis(redis.url);
  b = new Redis(redis.url);
});
after(async () => {
  a.disconnect();
  b.disconnect();
  await redis.stop();
});

/** Blocks this process (no timers, no renewals), as a stopped or swapped-out holder. */
function freeze(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

test('a holder frozen past the TTL fails its next check; the new holder passes', async () => {
  const ttl = 1000;
  const first = await new FileLocks(a, ttl).tryAcquireWrite('p', 'f.h5');
  assert.ok(first);
  assert.equal(await first.check(), true);
  freeze(ttl + 200); // the renewal timer cannot run: the lease expires in Redis
  const second = await new FileLocks(b, ttl).tryAcquireWrite('p', 'f.h5');
  assert.ok(second, 'the expired lease is granted to another holder');
  assert.ok(second.fence > first.fence);
  assert.equal(await first.check(), false, 'the old holder is fenced off');
  assert.equal(first.held, false);
  assert.equal(await second.check(), true);
  await second.release();
  await first.release();
});

test('checks within the trusted window need no Redis round trip; fresh checks always ask', async () => {
  const ttl = 3000;
  const lease = await new FileLocks(a, ttl).tryAcquireWrite('p', 'g.h5');
  assert.ok(lease);
  const before = Number((await b.info('stats')).match(/total_commands_processed:(\d+)/)![1]);
  for (let i = 0; i < 20; i++) assert.equal(await lease.check(), true);
  const between = Number((await b.info('stats')).match(/total_commands_processed:(\d+)/)![1]);
  // Only the INFO call itself in between.
  assert.ok(between - before <= 2, `${between - before} commands for 20 checks`);
  // Taken away behind its back (not possible through FileLocks before expiry): a fresh check sees it.
  await b.del(lease.lockKey);
  assert.equal(await lease.check({ fresh: true }), false);
  assert.equal(await lease.check(), false, 'once lost, lost');
  await lease.release();
});

test('after the trusted window a check asks Redis again (and renewals keep the lease)', async () => {
  const ttl = 1200;
  const lease = await new FileLocks(a, ttl).tryAcquireWrite('p', 'h.h5');
  assert.ok(lease);
  await sleep(ttl * CONFIRMED_FRACTION + ttl); // several renewals happened meanwhile
  assert.equal(await lease.check(), true);
  await b.del(lease.lockKey);
  freeze(ttl * CONFIRMED_FRACTION + 50); // no renewal confirms the lease in this time
  assert.equal(await lease.check(), false, 'an unconfirmed lease is checked in Redis');
  await lease.release();
});
