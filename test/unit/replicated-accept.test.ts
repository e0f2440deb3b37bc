/**
 * When an accept counts as replicated (shared/replicated-accept.ts notReplicatedReason): only
 * a WAIT answered on the connection that carried the job's writes, with enough replicas.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../services/shared/config.js';
import { notReplicatedReason } from '../../services/shared/replicated-accept.js';

const table: Array<[acked: number | null, sameConnection: boolean, minReplicas: number, confirmed: boolean]> = [
  [null, false, 0, true], // off: never waits
  [1, true, 1, true],
  [2, true, 1, true],
  [0, true, 1, false], // timed out with no replica
  [1, true, 2, false],
  [null, true, 1, false], // WAIT failed (connection lost, UNBLOCKED)
  [1, false, 1, false], // answered on a new connection: it counted no write of ours
  [2, false, 2, false],
];

test('an accept is confirmed only by enough replicas on the same connection', () => {
  for (const [acked, sameConnection, minReplicas, confirmed] of table) {
    const reason = notReplicatedReason({ acked, sameConnection }, minReplicas);
    assert.equal(reason === null, confirmed, JSON.stringify({ acked, sameConnection, minReplicas, reason }));
  }
});

test('PH5_REDIS_MIN_REPLICAS / PH5_REDIS_WAIT_MS: off by default, validated', () => {
  assert.deepEqual(loadConfig({}).replication, { minReplicas: 0, waitMs: 1000 });
  assert.deepEqual(loadConfig({ PH5_REDIS_MIN_REPLICAS: '1', PH5_REDIS_WAIT_MS: '250' }).replication, { minReplicas: 1, waitMs: 250 });
  assert.throws(() => loadConfig({ PH5_REDIS_MIN_REPLICAS: '-1' }), /PH5_REDIS_MIN_REPLICAS/);
  assert.throws(() => loadConfig({ PH5_REDIS_WAIT_MS: '0' }), /PH5_REDIS_WAIT_MS/);
});
