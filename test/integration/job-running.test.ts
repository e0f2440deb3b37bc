/**
 * On a real stack (2 ranks under mpirun, a real redis-server), a job reads `running` only
 * while an epoch of a live pool applies it. A rank that stays out of the collective write
 * of /poison (the watchdog test's fault injection) holds an epoch in progress for as long
 * as the test needs, so nothing here depends on how fast a write is:
 *
 * - the job whose epoch is in progress reads `running` (GET, the list, its event stream);
 * - jobs of other files the pool took meanwhile are 'active' in BullMQ but read `queued`
 *   (before, all of them read `running` in such a hang);
 * - SIGSTOP of every rank: once the pool's heartbeat record expires, the hung job reads
 *   `queued` too, /readyz answers 503 and /metrics shows no live pool and nothing applied;
 * - SIGCONT: the watchdog ends the pool (ph5_watchdog_firings_total counts it), the poison
 *   job fails with PH5_ERR_WATCHDOG, the held jobs complete.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { fileStateKey, parseApplying } from '../../services/shared/file-state.js';
import { redisOptions } from '../../services/shared/redis.js';
import { client } from '../helpers/client.js';
import { childPids } from '../helpers/proc.js';
import { ShardQueues } from '../helpers/queues.js';
import { startStack, type Stack } from '../helpers/stack.js';

const STEP_TIMEOUT_MS = 30_000;

let stack: Stack;
let redis: Redis;
let queues: ShardQueues;
let stopped: number[] = [];
before(async () => {
  stack = await startStack({
    ranks: 2,
    env: { PH5_STEP_TIMEOUT_MS: String(STEP_TIMEOUT_MS), PH5_HUNG_JOB_ATTEMPTS: '1', PH5_FAULT_HANG_DATASET: '/poison', PH5_LOG_LEVEL: 'info' },
  });
  redis = new Redis(redisOptions(stack.redis.url, 'consumer'));
  queues = new ShardQueues(stack.redis.url);
});
after(async () => {
  for (const pid of stopped) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      /* gone */
    }
  }
  await queues?.close();
  redis?.disconnect();
  await stack?.stop();
});

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${stack.logs().slice(-3000)}`);
    await sleep(100);
  }
}

async function metric(name: string, labels = ''): Promise<number | null> {
  const body = await (await fetch(`${stack.url}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? null : Number(line.split(' ').pop());
}

/** The ranks under mpirun (its children), by their command line. */
async function ranks(): Promise<number[]> {
  const out = [];
  for (const pid of await childPids(stack.pool.pid!)) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('main.js')) out.push(pid);
  }
  return out;
}

test(
  'running means applied by a live pool: a hung epoch’s job is running, the jobs held beside it are queued, and nothing is running once the pool is stopped',
  { timeout: 300_000 },
  async () => {
    const api = client(stack.url);
    for (const [file, dataset] of [
      ['p.h5', 'poison'],
      ['q.h5', 'x'],
      ['r.h5', 'y'],
    ] as const) {
      const created = await api.accepted('POST', `/v1/files/${file}/datasets`, { path: dataset, dtype: 'int32', shape: [4] });
      assert.equal(created.state, 'completed', JSON.stringify(created.error));
    }
    assert.equal(await metric('ph5_watchdog_firings_total'), 0);

    // The poison write's epoch starts and hangs (rank 1 stays out of its collective).
    const poison = await api.call('PUT', '/v1/files/p.h5/datasets/poison/value', [1, 2, 3, 4]);
    assert.equal(poison.status, 202);
    const poisonUrl = poison.headers.get('location')!;
    const poisonId = poisonUrl.split('/').pop()!;
    await until('the poison job to read running', 30_000, async () => ((await api.call('GET', poisonUrl)).json.state === 'running' ? true : undefined));
    const mark = parseApplying(await redis.hget(fileStateKey('default', 'p.h5'), 'applying'));
    const seq = (await queues.getJob(poisonId))!.data.seq;
    assert.ok(mark && mark.first <= seq && seq <= mark.last, `the epoch's mark ${JSON.stringify(mark)} covers seq ${seq}`);

    // Jobs of other files: the pool takes them (BullMQ 'active') but cannot apply them.
    const held = [];
    for (const [file, dataset] of [
      ['q.h5', 'x'],
      ['r.h5', 'y'],
    ]) {
      const r = await api.call('PUT', `/v1/files/${file}/datasets/${dataset}/value`, [5, 6, 7, 8]);
      assert.equal(r.status, 202);
      held.push(r.headers.get('location')!);
    }
    const heldIds = held.map((l) => l.split('/').pop()!);
    await until('the pool to take the other jobs', 30_000, async () =>
      (await Promise.all(heldIds.map(async (id) => (await queues.getJob(id))!.getState()))).every((s) => s === 'active') ? true : undefined,
    );
    for (const l of held) assert.equal((await api.call('GET', l)).json.state, 'queued', 'held by the pool, not applied: queued');
    assert.equal((await api.call('GET', poisonUrl)).json.state, 'running', 'its epoch is still in progress');
    const list = (await api.call('GET', '/v1/jobs?state=running')).json;
    assert.deepEqual(
      list.jobs.map((j: any) => j.id),
      [poisonId],
      'the list agrees',
    );
    const stream = await fetch(`${stack.url}/v1/jobs/${heldIds[0]}/events`, { signal: AbortSignal.timeout(5_000) });
    const firstFrame = new TextDecoder().decode((await stream.body!.getReader().read()).value);
    assert.match(firstFrame, /"state":"queued"/, firstFrame);
    await stream.body!.cancel().catch(() => {});
    assert.equal(await metric('ph5_jobs_phase', '{phase="applying"}'), 1);
    assert.equal(await metric('ph5_jobs_phase', '{phase="held"}'), 2);
    assert.equal(await metric('ph5_pools_live'), 1);

    // Every rank stopped: the jobs stay 'active' in BullMQ, but no live pool applies anything.
    stopped = await ranks();
    assert.equal(stopped.length, 2, 'two ranks under mpirun');
    for (const pid of stopped) process.kill(pid, 'SIGSTOP');
    const t0 = Date.now();
    await until('/readyz to say no pool is live', 20_000, async () => ((await fetch(`${stack.url}/readyz`)).status === 503 ? true : undefined));
    console.log(`# /readyz 503 ${Date.now() - t0} ms after SIGSTOP of the ranks`);
    assert.equal(await (await queues.getJob(poisonId))!.getState(), 'active', 'BullMQ still says active');
    assert.equal((await api.call('GET', poisonUrl)).json.state, 'queued', 'nothing applies it now');
    for (const l of held) assert.equal((await api.call('GET', l)).json.state, 'queued');
    assert.deepEqual((await api.call('GET', '/v1/jobs?state=running')).json.jobs, []);
    assert.equal(await metric('ph5_pools_live'), 0);
    assert.equal(await metric('ph5_jobs_phase', '{phase="applying"}'), 0);
    assert.equal(await metric('ph5_jobs_phase', '{phase="held"}'), 3);

    // Resumed: the watchdog ends the hung pool, a new one fails the poison job and applies the rest.
    for (const pid of stopped) process.kill(pid, 'SIGCONT');
    stopped = [];
    const failed = await api.waitJob(poisonUrl, 180_000);
    assert.equal(failed.state, 'failed', JSON.stringify(failed));
    assert.equal(failed.error.code, 'PH5_ERR_WATCHDOG');
    for (const l of held) assert.equal((await api.waitJob(l, 120_000)).state, 'completed');
    assert.ok((await metric('ph5_watchdog_firings_total'))! >= 1, 'the firing is counted');
  },
);
