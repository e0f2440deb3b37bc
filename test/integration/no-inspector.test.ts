/**
 * No rank ever opens Node's inspector. The drain signal is SIGUSR2 (not SIGUSR1, whose
 * Node default is the inspector), ranks ignore SIGUSR1 from their first module on, and
 * before that their --inspect-port cannot bind. Tested as the issue found it, adversarially:
 * Ctrl-C of `npm start` (SIGINT to its process group) again and again during the pool's
 * first second; the drain signal and stray SIGUSR1s sent to mpirun (which forwards both to
 * the ranks) every 50 ms from the launcher's start; and SIGUSR1 to running ranks. Each
 * time: no "Debugger listening", no listener on 9229 by any process of the pool, and no
 * rank left once the pool has ended.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkerPool } from '../../services/worker/pool.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { markedProcesses, startUp, tcpListeners, type StackProcess, type Up } from '../helpers/up.js';

const INSPECTOR_PORT = 9229;
let redis: TestRedis;
let dataDir: string;
const stacks: Up[] = [];

before(async () => {
  redis = await startRedis();
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ph5-noinspect-'));
});
after(async () => {
  for (const s of stacks) await s.cleanup();
  await redis?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Listeners on the inspector's port, or any listener of a rank (a rank listens on nothing once started). */
async function inspectorListeners(procs: StackProcess[]): Promise<string[]> {
  const all = await tcpListeners(procs);
  return all
    .filter(
      (l) =>
        l.port === INSPECTOR_PORT ||
        (l.comm === 'node' && procs.find((p) => p.pid === l.pid)?.args.includes('worker/main.js') && !l.address.startsWith('127.')),
    )
    .map((l) => `${l.comm}[${l.pid}] ${l.address}:${l.port}`);
}

async function noneLeft(marker: string): Promise<void> {
  for (let i = 0; i < 30; i++) {
    const ranks = (await markedProcesses(marker)).filter((p) => p.args.includes('worker/main.js') || p.comm === 'mpirun');
    if (ranks.length === 0) return;
    await sleep(100);
  }
  const left = (await markedProcesses(marker)).map((p) => `${p.pid} ${p.args}`);
  assert.deepEqual(left, [], 'processes of the pool left behind');
}

test('Ctrl-C of npm start, again and again during the pool’s first second: no inspector (3 times)', { timeout: 300_000 }, async () => {
  for (let round = 0; round < 3; round++) {
    const up = await startUp({ ranks: 2 });
    stacks.push(up);
    await up.waitLog(/worker pool: 2 ranks/, 90_000);
    const seen: string[] = [];
    const t0 = Date.now();
    while (Date.now() - t0 < 1000 && up.proc.exitCode === null) {
      try {
        process.kill(-up.pid, 'SIGINT');
      } catch {
        /* exited */
      }
      seen.push(...(await inspectorListeners(await up.processes())));
      await sleep(50);
    }
    const { code } = await up.exit;
    const log = up.logs();
    assert.doesNotMatch(log, /Debugger listening/, log);
    assert.deepEqual(seen, [], log);
    assert.equal(code, 0, log);
    for (let i = 0; i < 30 && (await up.processes()).length; i++) await sleep(100);
    assert.deepEqual(await up.processes(), [], log);
  }
});

/** A 2-rank pool on the test's Redis, its processes marked so that they can be found in /proc. */
function startMarkedPool(): { marker: string; pool: WorkerPool; output: { text: string } } {
  const marker = randomUUID();
  const output = { text: '' };
  const pool = new WorkerPool({
    ranks: 2,
    env: { ...process.env, PH5_REDIS_URL: redis.url, PH5_DATA_DIR: dataDir, PH5_LOG_LEVEL: 'info', PH5_UP_TEST: marker },
    stdio: 'pipe',
    onOutput: (s) => (output.text += s),
    log: (s) => (output.text += `${s}\n`),
  });
  pool.start();
  return { marker, pool, output };
}

test('the drain signal and stray SIGUSR1s to mpirun every 50 ms from its start: no inspector, nothing left (3 times)', { timeout: 300_000 }, async () => {
  for (let round = 0; round < 3; round++) {
    const { marker, pool, output: log } = startMarkedPool();
    const output = (): string => log.text;
    const launcher = pool.pid!;
    const seen: string[] = [];
    const t0 = Date.now();
    // Stray SIGUSR1s start at once (the ranks' first milliseconds); the drain joins after
    // 300 ms, so that some SIGUSR1s land in ranks that are starting up.
    while (Date.now() - t0 < 1000) {
      try {
        process.kill(launcher, 'SIGUSR1');
      } catch {
        /* the launcher has ended */
      }
      if (Date.now() - t0 > 300) void pool.stop(20_000);
      seen.push(...(await inspectorListeners(await markedProcesses(marker))));
      await sleep(50);
    }
    await pool.stop(20_000);
    await pool.finished;
    assert.doesNotMatch(output(), /Debugger listening/, output());
    assert.deepEqual(seen, [], output());
    await noneLeft(marker);
  }
});

test('a running pool ignores SIGUSR1 (to mpirun and to each rank) and still drains cleanly', { timeout: 180_000 }, async () => {
  const { marker, pool, output: log } = startMarkedPool();
  try {
    for (let i = 0; i < 600 && !/consuming shards/.test(log.text); i++) await sleep(100);
    assert.match(log.text, /consuming shards/);
    const ranks = (await markedProcesses(marker)).filter((p) => p.comm === 'node' && p.args.includes('worker/main.js'));
    assert.equal(ranks.length, 2, log.text);
    for (let i = 0; i < 5; i++) {
      process.kill(pool.pid!, 'SIGUSR1');
      for (const r of ranks) process.kill(r.pid, 'SIGUSR1');
      await sleep(100);
    }
    await sleep(500);
    assert.deepEqual(await inspectorListeners(await markedProcesses(marker)), []);
    assert.doesNotMatch(log.text, /Debugger listening/);
    assert.match(log.text, /SIGUSR1 ignored/);
    assert.equal(pool.restarts, 0, log.text);
  } finally {
    await pool.stop(20_000);
  }
  assert.match(log.text, /SIGUSR2: draining/);
  assert.match(log.text, /drained; exiting/);
  await noneLeft(marker);
});
