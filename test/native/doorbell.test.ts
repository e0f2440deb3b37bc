/**
 * The worker's doorbell (services/worker/doorbell.ts) under a real mpirun with 3 ranks:
 * strangers change nothing, one ring per bcast even when rings arrive together, a
 * blocked rank wakes at the ring without burning CPU, a closed doorbell falls back to
 * polling without losing a bcast, and so does a rank that cannot reach rank 0 at all.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mpirun } from '../helpers/mpirun.js';

interface Rank0 {
  rank: 0;
  connectedAfterSetUp: number;
  knocks: Array<{ name: string; bytesBack: number; closedByRank0: boolean }>;
  rungAt: number;
  warnings: string[];
}
interface Follower {
  rank: number;
  connectedAfterSetUp: boolean;
  connectedAtEnd: boolean;
  received: string[];
  blockedMs: number;
  lateReceivedAt: number;
  blockedCpuMs: number;
  warnings: string[];
}

test('doorbell: strangers refused, rings counted, quiet wait, fallback to polling', { timeout: 120_000 }, async () => {
  const { results } = await mpirun<Rank0 | Follower>(3, 'doorbell', [], 90_000);
  const [rank0, ...followers] = results as [Rank0, ...Follower[]];

  assert.equal(rank0.connectedAfterSetUp, 2, 'both ranks connected, strangers did not count');
  for (const k of rank0.knocks) {
    assert.equal(k.bytesBack, 0, `${k.name}: got no acknowledgement`);
    assert.ok(k.closedByRank0, `${k.name}: rank 0 hung up`);
  }
  assert.deepEqual(rank0.warnings, []);

  for (const f of followers) {
    console.log(
      `rank ${f.rank}: blocked ${f.blockedMs} ms on the doorbell using ${f.blockedCpuMs.toFixed(1)} ms CPU; ` +
        `had the plan ${f.lateReceivedAt - rank0.rungAt} ms after the ring`,
    );
    assert.equal(f.connectedAfterSetUp, true, `rank ${f.rank} joined the doorbell`);
    assert.deepEqual(f.received, ['plan 0', 'plan 1', 'plan 2', 'late', 'after 1', 'after 2'], `rank ${f.rank} got every bcast, in order`);
    // It waited for the ring rather than passing through (a lower bound, not a timing claim).
    assert.ok(f.blockedMs >= 700, `rank ${f.rank} waited for the ring (${f.blockedMs} ms)`);
    // A blocked read: a second of waiting costs next to nothing (polling every 2-10 ms costs far more).
    assert.ok(f.blockedCpuMs < 100, `rank ${f.rank} used ${f.blockedCpuMs} ms CPU while blocked`);
    assert.equal(f.connectedAtEnd, false, `rank ${f.rank} noticed the closed doorbell`);
    assert.ok(
      f.warnings.some((w) => /doorbell: .*waiting by polling from now on/.test(w)),
      `rank ${f.rank} said it falls back to polling: ${JSON.stringify(f.warnings)}`,
    );
  }
});

test('doorbell: a rank that cannot reach rank 0 says so and waits by polling', { timeout: 120_000 }, async () => {
  type Result = { rank: number; answers?: string[]; connected?: boolean; received?: string[]; warnings?: string[] };
  const { results } = await mpirun<Result>(3, 'doorbell', ['unreachable'], 90_000);
  assert.deepEqual(results[0]!.answers, ['1', '0', '0'], 'both ranks told rank 0 they are not connected');
  for (const f of results.slice(1)) {
    assert.equal(f.connected, false);
    assert.deepEqual(f.received, ['a', 'b'], `rank ${f.rank} got every bcast`);
    assert.ok(
      f.warnings!.some((w) => /doorbell: cannot reach rank 0 \(tried 127\.0\.0\.1\); waiting by polling/.test(w)),
      JSON.stringify(f.warnings),
    );
  }
});
