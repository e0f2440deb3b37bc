/**
 * A write stream through the API while the Redis primary's host dies: several clients PUT
 * one row each (row k holds values derived from k, so any row can be checked alone) with an
 * Idempotency-Key per write, retrying 503s as a client should. Mid-stream the primary's host
 * is killed (its Redis and its sentinel, SIGKILL); the sentinels promote the replica.
 *
 * Optionally the replica lags first (`lagMs`: its redis-server is stopped with SIGSTOP
 * that long before the primary dies, and continued after): writes accepted in that window
 * exist only on the primary, which is how asynchronous replication loses acknowledged
 * writes when a host dies, made certain instead of left to the timing of one round trip.
 *
 * Afterwards every job that was answered 202 must complete and its row must be in the HDF5
 * file (read with h5py). Used by test/integration/sentinel-failover.test.ts (with WAIT:
 * nothing lost) and bench/sentinel-loss.ts (with and without).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { client } from './client.js';
import { h5py } from './h5.js';
import { FAST_RECOVERY_ENV } from './fault.js';
import { startSentinelLab, startSentinelStack, type SentinelLab, type SentinelStack } from './sentinel.js';

export interface FailoverStreamOptions {
  /** PH5_REDIS_MIN_REPLICAS for the API (0: no WAIT). */
  minReplicas: number;
  waitMs?: number;
  writes?: number;
  clients?: number;
  /** The primary's host dies once this many writes were accepted. */
  killAfter?: number;
  /** Stop the replica this long before the kill (0: no lag). */
  lagMs?: number;
  /**
   * The dead host boots again this long after the failover (its Redis rejoins as a replica).
   * With one replica and PH5_REDIS_MIN_REPLICAS=1 nothing is accepted (503) until then.
   * Undefined: it stays dead.
   */
  restartAfterMs?: number;
  note?: (line: string) => void;
  /** Extra environment for the API and the pool. */
  env?: NodeJS.ProcessEnv;
}

export interface FailoverStreamReport {
  accepted: number;
  /** 503 answers by problem code (retried by the clients). */
  unavailable: Record<string, number>;
  /** 409 PH5_ERR_IDEMPOTENCY_IN_PROGRESS answers (retried): keys whose reservation the failover orphaned. */
  inProgress: number;
  /** Any other answer or transport error: must stay empty. */
  unexpected: string[];
  /** Accepted writes whose job no longer exists or did not complete. */
  lostJobs: string[];
  /** Accepted writes whose row is not in the file as written. */
  missingRows: number[];
  /** Writes sent and answered 202 inside the lag window (between SIGSTOP of the replica and the kill). */
  acceptedWhileLagging: number;
  failoverMs: number;
  /** From the kill to the first 202 after it. */
  firstAcceptAfterKillMs: number;
  /** From the dead host's reboot to the first 202 after it (-1: no reboot). */
  firstAcceptAfterRestartMs: number;
  oldPrimary: string;
  newPrimary: string;
  seconds: number;
  logs: string;
}

const COLS = 4;
const FILE = 'f.h5';

export function rowValues(k: number): number[] {
  return Array.from({ length: COLS }, (_, c) => k * 10 + c + 1);
}

export async function runFailoverStream(opts: FailoverStreamOptions): Promise<FailoverStreamReport> {
  const writes = opts.writes ?? 400;
  const clients = opts.clients ?? 6;
  const killAfter = opts.killAfter ?? Math.floor(writes / 3);
  const lagMs = opts.lagMs ?? 0;
  const note = opts.note ?? (() => {});
  const t0 = Date.now();
  let redis: SentinelLab | undefined;
  let stack: SentinelStack | undefined;
  try {
    redis = await startSentinelLab();
    const oldPrimary = await redis.primaryAddress();
    note(`replicated Redis up: primary ${oldPrimary} (${redis.hostAt(oldPrimary)}), ${redis.url}`);
    stack = await startSentinelStack(redis.url, {
      ranks: 2,
      env: {
        ...FAST_RECOVERY_ENV,
        PH5_LOG_LEVEL: 'info',
        PH5_REDIS_MIN_REPLICAS: String(opts.minReplicas),
        PH5_REDIS_WAIT_MS: String(opts.waitMs ?? 1000),
        ...opts.env,
      },
    });
    const api = client(stack.url);
    const made = await api.accepted('POST', `/v1/files/${FILE}/datasets`, { path: 'd', dtype: 'int32', shape: [writes, COLS], fillValue: 0 });
    if (made.state !== 'completed') throw new Error(`creating the dataset failed: ${JSON.stringify(made.error)}`);

    const acceptedJobs = new Map<number, string>();
    const unavailable: Record<string, number> = {};
    const unexpected: string[] = [];
    let next = 0;
    let killedAt = 0;
    let restartedAt = 0;
    let firstAfterKill = 0;
    let firstAfterRestart = 0;
    let lagging = false;
    let acceptedWhileLagging = 0;
    let inProgress = 0;
    const sender = async (): Promise<void> => {
      for (let k = next++; k < writes; k = next++) {
        for (let attempt = 0; ; attempt++) {
          const sentWhileLagging = lagging;
          const r = await api
            .call('PUT', `/v1/files/${FILE}/datasets/d/value?select=[${k}:${k + 1},0:${COLS}]`, [rowValues(k)], { 'idempotency-key': `row-${k}` })
            .catch((err: Error) => ({ status: 0, json: { code: err.message } }));
          if (r.status === 202) {
            acceptedJobs.set(k, r.json.job.id);
            if (sentWhileLagging && lagging) acceptedWhileLagging++;
            if (killedAt && !firstAfterKill) firstAfterKill = Date.now();
            if (restartedAt && !firstAfterRestart) firstAfterRestart = Date.now();
            break;
          }
          if (r.status === 503) {
            const code = String(r.json?.code);
            unavailable[code] = (unavailable[code] ?? 0) + 1;
          } else if (r.status === 409 && r.json?.code === 'PH5_ERR_IDEMPOTENCY_IN_PROGRESS') {
            // The key's reservation outlived its request (the failover undid its release or
            // its record): it lapses within 30 s; the problem says to retry in a few seconds.
            inProgress++;
            await sleep(1000);
          } else {
            unexpected.push(`row ${k}: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
            note(`unexpected: ${unexpected.at(-1)}`);
            break;
          }
          if (attempt > 600) {
            unexpected.push(`row ${k}: still 503 after ${attempt} attempts`);
            break;
          }
          await sleep(200);
        }
      }
    };
    const chaos = async (): Promise<{ failoverMs: number; newPrimary: string }> => {
      while (acceptedJobs.size < killAfter && next < writes) await sleep(20);
      const primaryHost = redis!.hostAt(oldPrimary);
      const replica = redis!.redisProcess(primaryHost === 'redis-a' ? 'redis-b' : 'redis-a');
      if (lagMs > 0) {
        replica.kill('SIGSTOP');
        lagging = true;
        await sleep(lagMs);
      }
      const pids = redis!.killHost(primaryHost);
      killedAt = Date.now();
      lagging = false;
      if (lagMs > 0) replica.kill('SIGCONT');
      note(
        `killed host ${primaryHost} (${pids.length} processes) after ${acceptedJobs.size} accepted writes${lagMs ? `, ${acceptedWhileLagging} of them while the replica lagged ${lagMs} ms` : ''}`,
      );
      const newPrimary = await redis!.waitForFailover(oldPrimary);
      const failoverMs = Date.now() - killedAt;
      note(`failover to ${newPrimary} (${redis!.hostAt(newPrimary)}) after ${failoverMs} ms`);
      if (opts.restartAfterMs !== undefined) {
        await sleep(opts.restartAfterMs);
        redis!.restartHost(primaryHost);
        restartedAt = Date.now();
        note(`host ${primaryHost} booted again ${Date.now() - killedAt} ms after the kill`);
      }
      return { failoverMs, newPrimary };
    };
    let lastCount = -1;
    let stalledSince = Date.now();
    let told = false;
    const progress = setInterval(() => {
      note(
        `... ${acceptedJobs.size} accepted, next row ${next}, 503s ${JSON.stringify(unavailable)}, ${inProgress} in progress, ${unexpected.length} unexpected`,
      );
      if (acceptedJobs.size !== lastCount) [lastCount, stalledSince, told] = [acceptedJobs.size, Date.now(), false];
      // Nothing accepted for 40 s: say what the API and Redis were doing, once.
      if (!told && Date.now() - stalledSince > 40_000) {
        told = true;
        note(
          `stalled; last log lines:\n${stack!.logs().split('\n').slice(-150).join('\n')}\n--- redis ---\n${redis!.logs().split('\n').slice(-30).join('\n')}`,
        );
      }
    }, 5_000);
    const [, fo] = await Promise.all([Promise.all(Array.from({ length: clients }, sender)), chaos()]).finally(() => clearInterval(progress));
    note(`stream done: ${acceptedJobs.size} accepted, 503s ${JSON.stringify(unavailable)}, ${unexpected.length} unexpected`);

    // Every accepted job must complete (the pool resumed on the new primary).
    const lostJobs: string[] = [];
    const byJob = new Map<string, number[]>();
    for (const [k, id] of acceptedJobs) byJob.set(id, [...(byJob.get(id) ?? []), k]);
    const deadline = Date.now() + 120_000;
    for (const [id, rows] of byJob) {
      for (;;) {
        const r = await api.call('GET', `/v1/jobs/${id}?wait=10`).catch(() => ({ status: 0, json: null }));
        if (r.status === 200 && r.json.state === 'completed') break;
        if (r.status === 404 || (r.status === 200 && r.json.state === 'failed') || Date.now() > deadline) {
          lostJobs.push(`${id} (rows ${rows.join(',')}): ${r.status} ${r.json?.state ?? r.json?.code ?? ''}`);
          break;
        }
        if (r.status !== 200) await sleep(200);
      }
    }
    const rowsOnDisk = await h5py<number[][]>(stack.filePath(FILE), "out = h5py.File(path, 'r')['d'][...].tolist()");
    const missingRows = [...acceptedJobs.keys()].filter((k) => JSON.stringify(rowsOnDisk[k]) !== JSON.stringify(rowValues(k))).sort((a, b) => a - b);
    return {
      accepted: acceptedJobs.size,
      unavailable,
      unexpected,
      lostJobs,
      missingRows,
      acceptedWhileLagging,
      inProgress,
      failoverMs: fo.failoverMs,
      firstAcceptAfterKillMs: firstAfterKill ? firstAfterKill - killedAt : -1,
      firstAcceptAfterRestartMs: firstAfterRestart ? firstAfterRestart - restartedAt : -1,
      oldPrimary,
      newPrimary: fo.newPrimary,
      seconds: (Date.now() - t0) / 1000,
      logs: `${stack.logs()}\n--- redis ---\n${redis.logs()}`,
    };
  } finally {
    await stack?.stop().catch(() => {});
    await redis?.stop().catch(() => {});
  }
}
