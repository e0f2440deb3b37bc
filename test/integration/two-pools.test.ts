/**
 * Two worker pools on one queue: a file is written by at most one pool at a time. Checked
 * from the pools' own logs of lease epochs (acquire/release with the fencing token): for
 * every file, the hold intervals of different pools never overlap, and fences grow with
 * time. Then the throughput of one pool and of two pools on writes to different files is
 * printed (not asserted: the machine is shared and noisy).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WorkerPool } from '../../services/worker/pool.js';
import { client } from '../helpers/client.js';
import { FAST_RECOVERY_ENV, leaseEvents, type LeaseEvent } from '../helpers/fault.js';
import { h5py } from '../helpers/h5.js';
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

async function stream(files: string[], writes: number, clients = 8): Promise<number> {
  const api = client(stack.url);
  const locations: string[] = [];
  let n = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (n < writes) {
        const k = n++;
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

test('two pools never hold one file at the same time (from their lease logs)', { timeout: 180_000 }, async () => {
  const shared = ['s0.h5', 's1.h5'];
  await createFiles(shared);
  await stream(shared, 240);

  const events = [...leaseEvents(stack.logs()), ...leaseEvents(secondLog)];
  const pools = new Set(events.map((e) => e.pool));
  assert.ok(pools.size >= 2, `both pools took leases (saw ${[...pools].join(', ')})`);
  for (const file of shared.map((f) => `default/${f}`)) {
    const mine = events.filter((e) => e.file === file);
    // Hold intervals, from each acquire to the release with the same fence.
    const intervals: Array<{ pool: string; fence: number; from: number; to: number }> = [];
    for (const a of mine.filter((e) => e.kind === 'acquire')) {
      const r = mine.find((e: LeaseEvent) => e.kind === 'release' && e.fence === a.fence && e.pool === a.pool);
      assert.ok(r, `lease ${a.fence} on ${file} was released`);
      intervals.push({ pool: a.pool, fence: a.fence, from: a.t, to: r!.t });
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
  const data = await h5py<number[][]>(stack.filePath('s0.h5'), "out = h5py.File(path, 'r')['d'][()].tolist()");
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
  console.log(`throughput, 300 one-row writes over 4 files, 8 clients: one pool ${one.toFixed(0)} writes/s, two pools ${two.toFixed(0)} writes/s (x${(two / one).toFixed(2)})`);
});
