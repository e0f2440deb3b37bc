/**
 * The supervisor against launchers that misbehave. A stand-in launcher (a Python script in
 * place of mpirun) starts stand-in ranks: the node executable with the worker's entry point
 * on its command line, as real ranks have, doing nothing. Real processes and signals; no
 * MPI is needed to make a launcher outlive one of its ranks, which is the point.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { childrenOf } from '../../services/worker/launcher-watch.js';
import { WORKER_ENTRY, WorkerPool } from '../../services/worker/pool.js';
import { isRunning } from '../helpers/proc.js';

let dir: string;
let launcher: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ph5-launcher-'));
  launcher = path.join(dir, 'fake-mpirun');
  // Like an mpirun whose cleanup missed a dead rank: it never reaps its ranks (one that
  // dies stays its zombie child) and runs on whatever happens to them. Its other children
  // (sleep) come and go: they are not ranks. SIGUSR2 (the drain signal) ends it.
  await writeFile(
    launcher,
    [
      '#!/usr/bin/python3',
      'import os, time',
      `node, entry = ${JSON.stringify(process.execPath)}, ${JSON.stringify(WORKER_ENTRY)}`,
      "for _ in range(2): os.spawnv(os.P_NOWAIT, node, [node, '-e', 'setInterval(() => {}, 1e9)', entry])",
      'while True:',
      "    os.waitpid(os.spawnv(os.P_NOWAIT, '/bin/sleep', ['sleep', '0.2']), 0)",
      '',
    ].join('\n'),
  );
  await chmod(launcher, 0o755);
});
after(async () => {
  await sleep(300); // the launchers' last sleep children, orphaned by a drain, end
  await rm(dir, { recursive: true, force: true });
});

async function runningOf(pids: number[]): Promise<number> {
  return (await Promise.all(pids.map(isRunning))).filter(Boolean).length;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** The stand-in ranks of the pool's current launcher, once both are up. */
async function ranksOf(pool: WorkerPool): Promise<{ launcher: number; ranks: number[] }> {
  return until('two stand-in ranks', 10_000, async () => {
    const pid = pool.pid;
    if (pid === undefined) return undefined;
    const ranks: number[] = [];
    for (const child of (await childrenOf(pid)) ?? []) {
      const cmdline = await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes(WORKER_ENTRY) && cmdline.startsWith(process.execPath)) ranks.push(child);
    }
    return ranks.length === 2 ? { launcher: pid, ranks } : undefined;
  });
}

function startPool(graceMs: number): { pool: WorkerPool; log: string[] } {
  const log: string[] = [];
  const pool = new WorkerPool({
    ranks: 2,
    launcher: 'mpirun',
    mpirun: launcher,
    env: { ...process.env },
    rankExitGraceMs: graceMs,
    log: (m) => log.push(m),
    stdio: 'pipe',
  });
  pool.start();
  return { pool, log };
}

test('a launcher that outlives a dead rank is killed with its other ranks, and the pool starts again', { timeout: 60_000 }, async () => {
  const { pool, log } = startPool(1500);
  try {
    const first = await ranksOf(pool);
    process.kill(first.ranks[0]!, 'SIGKILL');
    const killedAt = Date.now();
    const second = await until('a new launcher', 20_000, () => (pool.pid !== undefined && pool.pid !== first.launcher ? pool.pid : undefined));
    const waited = Date.now() - killedAt;
    assert.ok(waited >= 1500, `restarted after ${waited} ms: the grace period was not given`);
    assert.match(log.join('\n'), /worker pool stuck: rank process \d+ ended over 1\.5 s ago but the launcher \(pid \d+\) is still running/);
    assert.equal(await isRunning(first.launcher), false, 'the stuck launcher is gone');
    assert.equal(await isRunning(first.ranks[1]!), false, 'its surviving rank is gone too');
    assert.equal(pool.restarts, 1);
    assert.ok(second > 0);
    await ranksOf(pool); // the new pool has its ranks
  } finally {
    await pool.stop(5_000);
  }
});

test('a launcher killed outright does not leave its ranks running beside the next pool', { timeout: 60_000 }, async () => {
  const { pool } = startPool(60_000);
  try {
    const first = await ranksOf(pool);
    // Let the watch see the ranks (it looks once a second), then kill the launcher alone.
    await sleep(1500);
    process.kill(first.launcher, 'SIGKILL');
    await until('the orphaned ranks to be killed', 5_000, async () => ((await runningOf(first.ranks)) === 0 ? true : undefined));
  } finally {
    await pool.stop(5_000);
  }
});

test('a healthy launcher is left alone: helper processes that come and go are not ranks', { timeout: 60_000 }, async () => {
  const { pool, log } = startPool(500);
  let ranks: number[] = [];
  try {
    const first = await ranksOf(pool);
    ranks = first.ranks;
    await sleep(4_000);
    assert.equal(pool.pid, first.launcher);
    assert.equal(pool.restarts, 0);
    assert.equal(await runningOf(ranks), 2);
    assert.doesNotMatch(log.join('\n'), /stuck/);
  } finally {
    await pool.stop(5_000);
  }
  // stop() sends SIGUSR2, which ends the script without its ranks (no real drain here):
  // the supervisor kills them.
  await until('no stand-in rank to outlive stop()', 2_000, async () => ((await runningOf(ranks)) === 0 ? true : undefined));
});
