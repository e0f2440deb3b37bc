/**
 * Two worker pools on one (sharded) queue. The pools divide the shard queues among
 * themselves: checked from what they publish (each pool's shards and the pools it saw) that
 * two stable pools own a partition of the shards. A file is written by at most one pool at
 * a time even while a shard moves between pools (one pool drains, the other takes its
 * shards; a new pool starts and takes some back): checked from the pools' own logs of lease
 * epochs (acquire/release with the fencing token): for every file, the hold intervals of
 * different pools never overlap, and fences grow with time. Then the throughput of one pool
 * and of two pools on writes to different files is printed (not asserted: the machine is
 * shared and noisy; bench/two-pools.ts measures it).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SHARDS, shardOfFile } from '../../services/shared/jobs.js';
import { WorkerPool } from '../../services/worker/pool.js';
import { client } from '../helpers/client.js';
import { FAST_RECOVERY_ENV } from '../helpers/fault.js';
import { workerEvents, type EventOf } from '../helpers/worker-events.js';
import { h5py } from '../helpers/h5.js';
import { stableShards } from '../helpers/pools.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
let second: WorkerPool;
let secondLog = '';
const ENV = { PH5_LOG_LEVEL: 'info', ...FAST_RECOVERY_ENV };

before(async () => {
  stack = await startStack({ ranks: 2, env: ENV });
  second = startSecond();
});
after(async () => {
  await second?.stop(20_000);
  await stack?.stop();
});

function startSecond(): WorkerPool {
  const pool = new WorkerPool({
    ranks: 2,
    env: { ...process.env, ...ENV, PH5_REDIS_URL: stack.redis.url, PH5_DATA_DIR: stack.dataDir },
    stdio: 'pipe',
    onOutput: (s) => (secondLog += s),
  });
  pool.start();
  return pool;
}

async function stablePartition(): Promise<Map<string, number[]>> {
  return stableShards(stack.redis.url, 2);
}

function lastLoggedShards(pool: string): number[] | null {
  const last = workerEvents(`${stack.logs()}\n${secondLog}`, 'shards')
    .filter((e) => e.pool === pool)
    .at(-1);
  return last ? last.own : null;
}

function assertPartition(owned: Map<string, number[]>): void {
  const lists = [...owned.values()];
  assert.equal(lists.length, 2);
  for (const [pool, shards] of owned) {
    assert.ok(shards.length > 0, `pool ${pool} owns some shards`);
    assert.deepEqual(lastLoggedShards(pool), shards, `pool ${pool} logged the shards it published`);
  }
  const union = lists.flat().sort((a, b) => a - b);
  assert.deepEqual(
    union,
    Array.from({ length: SHARDS }, (_, i) => i),
    `each shard is owned by exactly one pool: ${JSON.stringify([...owned])}`,
  );
}

async function stream(files: string[], writes: number, clients = 8, hold?: (k: number) => Promise<void> | undefined): Promise<number> {
  const api = client(stack.url);
  const locations: string[] = [];
  let n = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (n < writes) {
        const k = n++;
        await hold?.(k);
        const file = files[k % files.length]!;
        const row = k % 32;
        const r = await api.call('PUT', `/v1/files/${file}/datasets/d/value?select=[${row}:${row + 1},0:4]`, [[k, k, k, k]]);
        assert.equal(r.status, 202, JSON.stringify(r.json));
        locations.push(r.headers.get('location')!);
      }
    }),
  );
  for (const l of locations) assert.equal((await api.waitJob(l)).state, 'completed');
  return writes / ((Date.now() - t0) / 1000);
}

async function createFiles(files: string[]): Promise<void> {
  const api = client(stack.url);
  for (const f of files) {
    const job = await api.accepted('POST', `/v1/files/${f}/datasets`, { path: 'd', dtype: 'int32', shape: [32, 4], fillValue: 0 });
    assert.equal(job.state, 'completed', JSON.stringify(job.error));
  }
}

test('two stable pools own a partition of the shards (from what they publish and log)', { timeout: 60_000 }, async () => {
  assertPartition(await stablePartition());
});

test('two pools never hold one file at the same time, also while shards move (from their lease logs)', { timeout: 240_000 }, async () => {
  // Files in shards of the second pool, so that its drain hands them to the first pool and
  // its successor takes them back: both pools write them, one after the other.
  const owned = await stablePartition();
  const secondShards = new Set([...owned].find(([id]) => !workerEvents(stack.logs(), 'shards').some((e) => e.pool === id))![1]);
  const shared: string[] = [];
  for (let i = 0; shared.length < 2; i++) if (secondShards.has(shardOfFile('default', `s${i}.h5`))) shared.push(`s${i}.h5`);
  await createFiles(shared);
  // A third into the stream the second pool drains (the first takes over its shards); at
  // two thirds the stream waits until a new second pool has taken its share back.
  let drained: Promise<void> | undefined;
  let restarted: Promise<void> | undefined;
  await stream(shared, 240, 8, (k) => {
    if (k === 80) drained = second.stop(20_000);
    if (k < 160) return undefined;
    restarted ??= (async () => {
      await drained;
      second = startSecond();
      assertPartition(await stablePartition());
    })();
    return restarted;
  });

  const events = [...workerEvents(stack.logs(), 'lease'), ...workerEvents(secondLog, 'lease')];
  const pools = new Set(events.map((e) => e.pool));
  assert.ok(pools.size >= 2, `both pools took leases (saw ${[...pools].join(', ')})`);
  for (const file of shared.map((f) => `default/${f}`)) {
    const mine = events.filter((e) => e.file === file);
    // Hold intervals, from each acquire to the release with the same fence.
    const intervals: Array<{ pool: string; fence: number; from: number; to: number }> = [];
    for (const a of mine.filter((e) => e.action === 'acquire')) {
      const r = mine.find((e: EventOf<'lease'>) => e.action === 'release' && e.fence === a.fence && e.pool === a.pool);
      assert.ok(r, `lease ${a.fence} on ${file} was released`);
      intervals.push({ pool: a.pool, fence: a.fence, from: a.t, to: r.t });
    }
    intervals.sort((x, y) => x.from - y.from);
    const byPool = new Set(intervals.map((i) => i.pool));
    console.log(`${file}: ${intervals.length} lease epochs by ${byPool.size} pools`);
    for (let i = 1; i < intervals.length; i++) {
      const [p, q] = [intervals[i - 1]!, intervals[i]!];
      assert.ok(q.fence > p.fence, `fences grow with time on ${file}: ${p.fence} then ${q.fence}`);
      assert.ok(q.from >= p.to, `${file}: lease ${q.fence} (${q.pool}) began at ${q.from} before lease ${p.fence} (${p.pool}) ended at ${p.to}`);
    }
  }
  const data = await h5py<number[][]>(stack.filePath(shared[0]!), "out = h5py.File(path, 'r')['d'][()].tolist()");
  assert.equal(data.length, 32);
});

test('throughput of one pool and of two pools on writes to different files (printed)', { timeout: 240_000 }, async () => {
  const filesA = ['a0.h5', 'a1.h5', 'a2.h5', 'a3.h5'];
  const filesB = ['b0.h5', 'b1.h5', 'b2.h5', 'b3.h5'];
  await createFiles([...filesA, ...filesB]);
  const two = await stream(filesB, 300);
  await second.stop(20_000);
  const one = await stream(filesA, 300);
  second = startSecond();
  console.log(
    `throughput, 300 one-row writes over 4 files, 8 clients: one pool ${one.toFixed(0)} writes/s, two pools ${two.toFixed(0)} writes/s (x${(two / one).toFixed(2)})`,
  );
});
