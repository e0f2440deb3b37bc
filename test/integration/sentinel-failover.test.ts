/**
 * Redis that survives its host: a primary (host redis-a), a replica (redis-b) and three
 * sentinels on namespaced hosts; the API and a worker pool reach them through a
 * redis+sentinel:// URL. Mid-stream the primary's host dies (every process on it, SIGKILL),
 * after its replica lagged behind for a moment. With replicated acceptance
 * (PH5_REDIS_MIN_REPLICAS=1) the sentinels promote the replica, the API and the pool carry on
 * without a restart, every write answered 202 completes and is in the HDF5 file (h5py), and
 * clients saw nothing but 503s in between (retried with their Idempotency-Key).
 *
 * The same stream without the WAIT loses the writes accepted while the replica lagged:
 * bench/sentinel-loss.ts measures that (not a test: how many it loses depends on timing).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { netnsUnavailable } from '../helpers/netns.js';
import { runFailoverStream } from '../helpers/sentinel-stream.js';

// Needs root (network namespaces). It was opt-in for a while: 2 of its first 12 runs, and more
// later, stalled after the failover. The cause was ioredis giving a client up for good when the
// sentinels announced the failover while it was reconnecting (services/shared/sentinel-connector.ts).
const skip = netnsUnavailable();

test("killing the Redis primary's host under a write stream loses no accepted job (WAIT 1 replica)", { timeout: 300_000, skip }, async () => {
  const r = await runFailoverStream({ minReplicas: 1, waitMs: 1000, writes: 300, clients: 6, lagMs: 600, restartAfterMs: 1500, note: (l) => console.log(l) });
  const { logs, ...summary } = r;
  console.log(JSON.stringify(summary));
  const diag = () => `${JSON.stringify(summary, null, 1)}\n${logs.split('\n').slice(-80).join('\n')}`;
  assert.deepEqual(r.unexpected, [], diag());
  assert.notEqual(r.newPrimary, r.oldPrimary);
  assert.equal(r.accepted, 300, diag());
  assert.deepEqual(r.lostJobs, [], diag());
  assert.deepEqual(r.missingRows, [], diag());
  // The lag window was real: the clients were refused in it (503), not accepted.
  assert.equal(r.acceptedWhileLagging, 0, diag());
  assert.ok((r.unavailable.PH5_ERR_NOT_REPLICATED ?? 0) + (r.unavailable.PH5_ERR_UNAVAILABLE ?? 0) > 0, diag());
});
