/**
 * The sharded queue's pure parts: a job id names its file's shard and is still a UUID v4;
 * the division of shards among pools is a partition, the same whatever order the pools
 * are listed in, bounded (at most ceil(SHARDS / pools) each), and moves few shards when a
 * pool joins.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allQueueNames, newJobId, queueName, queueOfJobId, SHARDS, shardOfFile, shardOfJobId } from '../../services/shared/jobs.js';
import { assignShards } from '../../services/worker/shards.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('a job id is a UUID v4 whose first digit is its file’s shard', () => {
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) {
    const file = `f${i}.h5`;
    const id = newJobId('proj', file);
    assert.match(id, UUID_V4);
    assert.equal(shardOfJobId(id), shardOfFile('proj', file));
    assert.equal(queueOfJobId(id), queueName(shardOfFile('proj', file)));
    seen.add(shardOfFile('proj', file));
  }
  assert.equal(seen.size, SHARDS, 'files spread over every shard');
  assert.equal(shardOfFile('a', 'b.h5'), shardOfFile('a', 'b.h5'));
  assert.equal(shardOfJobId('other-project-job'), null);
  assert.equal(queueOfJobId('Zed'), null);
  assert.deepEqual(
    allQueueNames(),
    Array.from({ length: SHARDS }, (_, s) => `ph5-writes-${s.toString(16)}`),
  );
});

test('shards are divided among pools: a bounded partition, independent of listing order', () => {
  for (let n = 1; n <= 6; n++) {
    const pools = Array.from({ length: n }, (_, i) => `host:${1000 + i}:${(i * 7919).toString(16)}`);
    const a = assignShards(pools);
    const b = assignShards([...pools].reverse());
    assert.deepEqual([...a].sort(), [...b].sort(), 'same answer in any order');
    const all = [...a.values()].flat().sort((x, y) => x - y);
    assert.deepEqual(
      all,
      Array.from({ length: SHARDS }, (_, i) => i),
      `every shard exactly once (${n} pools)`,
    );
    for (const shards of a.values()) assert.ok(shards.length <= Math.ceil(SHARDS / n));
    if (n <= SHARDS) assert.equal(a.size, n, 'every pool gets some');
  }
  assert.deepEqual(assignShards([]), new Map());
});

test('a pool joining moves few shards (rendezvous), not a reshuffle', () => {
  const owner = (m: Map<string, number[]>) => new Map([...m].flatMap(([pool, shards]) => shards.map((s) => [s, pool] as const)));
  for (const [before, after] of [
    [
      ['p1', 'p2'],
      ['p1', 'p2', 'p3'],
    ],
    [['a:1:x'], ['a:1:x', 'b:2:y']],
    [
      ['h:1', 'h:2', 'h:3'],
      ['h:1', 'h:2', 'h:3', 'h:4'],
    ],
  ]) {
    const x = owner(assignShards(before!));
    const y = owner(assignShards(after!));
    const moved = [...x].filter(([s, pool]) => y.get(s) !== pool).length;
    const joiner = after!.at(-1)!;
    const taken = [...y].filter(([, pool]) => pool === joiner).length;
    // Ideal: only the joiner's share moves; the load bound may move a few more.
    assert.ok(moved <= taken + 2, `${before} -> ${after}: ${moved} shards moved, ${taken} to the new pool`);
  }
});
