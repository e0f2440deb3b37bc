/**
 * Fault injection for the worker: a stream of overlapping writes to a few files while the
 * pool's processes are SIGKILLed at random moments. Shared by the integration test (>= 10
 * kills) and bench/fault-injection.ts (50 kills, for the closing note).
 *
 * The expected content of every dataset is computed here, independently of the worker: the
 * writes applied one after the other in acceptance order (the per-file sequence number the
 * API stamped, read back from the queue), starting from the fill value 0. The files are
 * read back with h5py and checked with h5dump.
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileStateKey } from '../../services/shared/file-state.js';
import { ShardQueues } from './queues.js';
import { client } from './client.js';
import { h5dump, h5py } from './h5.js';
import { childPids } from './proc.js';
import { startStack, type Stack } from './stack.js';

const execFileP = promisify(execFile);

export interface FaultOptions {
  kills: number;
  minWrites: number;
  ranks?: number;
  files?: string[];
  datasets?: string[];
  /** Datasets created gzip-compressed in small chunks: their rewritten chunks move (crash safety of filtered writes). */
  compressed?: string[];
  rows?: number;
  cols?: number;
  clients?: number;
  /** Extra environment for the stack. */
  env?: NodeJS.ProcessEnv;
  /** Called with progress lines. */
  note?: (line: string) => void;
  /** Between kills: the pool runs this long (random in [min, max]) after it is back. */
  killGapMs?: [number, number];
  /** Something to do to the stack mid-stream instead of / besides kills (e.g. restart Redis). */
  chaos?: (stack: Stack, accepted: () => number) => Promise<void>;
  drainTimeoutMs?: number;
  /** Starts the stack the stream runs against (default: startStack, a pool on this host). */
  startStack?: (opts: { ranks: number; env: NodeJS.ProcessEnv }) => Promise<Stack>;
  /**
   * What may be killed, once the pool is fully up (null while it is not): default mpirun
   * and its children, the ranks. A victim's kill() may do more than one SIGKILL (all of a
   * host's processes) or something else that ends the pool (cutting a host's link).
   */
  victims?: (stack: Stack) => Promise<Victim[] | null>;
}

export interface Victim {
  name: string;
  pid: number;
  kill(): void;
}

/** mpirun and its children (the ranks on this host), once there are `ranks` of them. */
function localVictims(ranks: number): (stack: Stack) => Promise<Victim[] | null> {
  return async (stack) => {
    const mpirun = stack.pool.pid;
    const children = mpirun ? await childPids(mpirun) : [];
    if (!mpirun || children.length !== ranks) return null;
    const sigkill = (name: string, pid: number): Victim => ({ name, pid, kill: () => process.kill(pid, 'SIGKILL') });
    return [sigkill('mpirun', mpirun), ...children.map((pid, i) => sigkill(`rank${i}`, pid))];
  };
}

export interface FaultReport {
  kills: number;
  killed: Record<string, number>;
  writes: number;
  jobs: number;
  seconds: number;
  notCompleted: string[];
  mismatches: string[];
  unreadable: string[];
  outOfOrder: string[];
  leftoverStaged: number;
  restarts: number;
  /** Restarts the supervisor forced because the launcher outlived a dead rank. */
  stuckLaunchers: number;
  logs: string;
  diagnostics: string;
}

/** Quick test settings: a dead pool's jobs and leases come back within ~3 s, a stuck launcher goes within 5 s. */
export const FAST_RECOVERY_ENV = {
  PH5_JOB_LOCK_MS: '3000',
  PH5_STALLED_INTERVAL_MS: '1000',
  PH5_LEASE_MS: '3000',
  PH5_GIVE_BACK_MS: '1500',
  PH5_RANK_EXIT_GRACE_MS: '5000',
};

interface Sent {
  client: number;
  file: string;
  dataset: string;
  rowStart: number;
  rows: number;
  values: number[][];
  jobId: string;
  /** Its place among the job's ops: small writes arriving together share a job. */
  opIndex: number;
}

/** A kill the supervisor has not recovered from by then is a failure, not a wait. */
const POOL_BACK_WITHIN_MS = 60_000;

/** An error that says what the pool's processes were doing, with the end of their logs. */
async function poolStuck(stack: Stack, what: string): Promise<Error> {
  const ps = await execFileP('ps', ['-eo', 'pid,ppid,pgid,stat,etime,args', '--forest']).then(
    (r) => r.stdout,
    (e) => String(e),
  );
  const tree = ps
    .split('\n')
    .filter((l) => /PID|mpirun|orted|prterun|main\.js/.test(l))
    .join('\n');
  return new Error(`${what}\nprocesses:\n${tree}\nlast log lines:\n${stack.logs().split('\n').slice(-60).join('\n')}`);
}

function rand(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

export async function runFaultStream(opts: FaultOptions): Promise<FaultReport> {
  const files = opts.files ?? ['f0.h5', 'f1.h5', 'f2.h5'];
  const datasets = opts.datasets ?? ['a', 'b'];
  const compressed = opts.compressed ?? ['b'];
  const rows = opts.rows ?? 48;
  const cols = opts.cols ?? 6;
  const note = opts.note ?? (() => {});
  const stack = await (opts.startStack ?? startStack)({ ranks: opts.ranks ?? 3, env: { PH5_LOG_LEVEL: 'info', ...FAST_RECOVERY_ENV, ...opts.env } });
  const victimsOf = opts.victims ?? localVictims(opts.ranks ?? 3);
  const t0 = Date.now();
  const api = client(stack.url);
  const sent: Sent[] = [];
  const killed: Record<string, number> = {};
  let kills = 0;
  try {
    for (const file of files) {
      for (const d of datasets) {
        const layout = compressed.includes(d) ? { chunks: [Math.min(8, rows), cols], compression: 'gzip', compressionLevel: 1 } : {};
        const job = await api.accepted('POST', `/v1/files/${file}/datasets`, { path: d, dtype: 'int32', shape: [rows, cols], fillValue: 0, ...layout });
        if (job.state !== 'completed') throw new Error(`creating ${file}:${d} failed: ${JSON.stringify(job.error)}`);
      }
    }

    let streaming = true;
    let abandoned = false;
    let writeNo = 0;
    // The stream is paced by the kills: about minWrites in all, spread over the kill period.
    const quota = () => (streaming ? Math.ceil((opts.minWrites * 1.1 * (kills + 1)) / (opts.kills + 1)) : opts.minWrites);
    const sender = async (c: number) => {
      while ((writeNo < quota() || streaming) && !abandoned) {
        if (writeNo >= quota()) {
          await sleep(100);
          continue;
        }
        const k = ++writeNo;
        const file = files[rand(0, files.length - 1)]!;
        const dataset = datasets[rand(0, datasets.length - 1)]!;
        const rowStart = rand(0, rows - 1);
        const n = rand(1, Math.min(12, rows - rowStart));
        const values = Array.from({ length: n }, (_, r) => Array.from({ length: cols }, (_, col) => k * 1000 + r * cols + col));
        for (let attempt = 0; ; attempt++) {
          const r = await api.call('PUT', `/v1/files/${file}/datasets/${dataset}/value?select=[${rowStart}:${rowStart + n},0:${cols}]`, values);
          if (r.status === 202) {
            sent.push({ client: c, file, dataset, rowStart, rows: n, values, jobId: r.json.job.id, opIndex: r.json.job.ops[0]?.index ?? 0 });
            break;
          }
          // 503 while Redis is down: not accepted, so the client tries again (as a real one would).
          if (r.status !== 503 || attempt > 200) throw new Error(`write ${k}: ${r.status} ${JSON.stringify(r.json)}`);
          await sleep(100);
        }
        await sleep(rand(20, 250));
      }
    };
    const senders = Array.from({ length: opts.clients ?? 6 }, (_, c) => sender(c));

    const killer = async () => {
      const [gapMin, gapMax] = opts.killGapMs ?? [300, 2000];
      while (kills < opts.kills) {
        // Wait for a running pool (after a restart: all ranks up), then let it work a moment.
        const upBy = Date.now() + POOL_BACK_WITHIN_MS;
        while (!(await victimsOf(stack))) {
          if (Date.now() > upBy) throw await poolStuck(stack, `the pool did not come back with all its ranks within ${POOL_BACK_WITHIN_MS} ms`);
          await sleep(100);
        }
        await sleep(rand(gapMin, gapMax));
        const mpirun = stack.pool.pid!;
        const targets = await victimsOf(stack);
        if (!targets) continue;
        const victim = targets[rand(0, targets.length - 1)]!;
        try {
          victim.kill();
        } catch {
          continue;
        }
        kills++;
        killed[victim.name] = (killed[victim.name] ?? 0) + 1;
        note(
          `kill ${kills}/${opts.kills}: SIGKILL ${victim.name} (pid ${victim.pid}) at ${((Date.now() - t0) / 1000).toFixed(1)} s, ${sent.length} writes accepted`,
        );
        // The supervisor notices and restarts; wait for a new mpirun before looking again.
        const goneBy = Date.now() + POOL_BACK_WITHIN_MS;
        while (stack.pool.pid === mpirun) {
          if (Date.now() > goneBy) throw await poolStuck(stack, `mpirun (pid ${mpirun}) was still the pool ${POOL_BACK_WITHIN_MS} ms after the kill`);
          await sleep(50);
        }
      }
    };
    try {
      await Promise.all([killer(), opts.chaos?.(stack, () => sent.length)]);
    } catch (err) {
      // Stop the senders before the stack goes, so none is left writing to a dead API.
      abandoned = true;
      await Promise.allSettled(senders);
      throw err;
    }
    streaming = false;
    await Promise.all(senders);
    note(`stream over: ${sent.length} writes accepted; waiting for the queue to drain`);

    const notCompleted: string[] = [];
    const deadline = Date.now() + (opts.drainTimeoutMs ?? 240_000);
    for (const s of sent) {
      let job: any;
      do {
        const r = await api.call('GET', `/v1/jobs/${s.jobId}?wait=${Date.now() < deadline ? 5 : 0}`);
        job = r.json;
      } while (job.state !== 'completed' && job.state !== 'failed' && Date.now() < deadline);
      if (job.state !== 'completed') notCompleted.push(`${s.jobId} (${s.file}): ${job.state} ${JSON.stringify(job.error)}`);
    }
    const seconds = (Date.now() - t0) / 1000;

    // Acceptance order: the per-file sequence numbers, read from the queue.
    const queue = new ShardQueues(stack.redis.url);
    const seqOf = new Map<string, number>();
    let diagnostics = '';
    try {
      for (const s of sent) {
        const job = await queue.getJob(s.jobId);
        seqOf.set(s.jobId, job?.data.seq ?? NaN);
      }
      if (notCompleted.length) {
        const redis = await queue.queues[0]!.client;
        diagnostics += `queue: ${JSON.stringify(await queue.counts())}\n`;
        for (const file of files) diagnostics += `${file}: ${JSON.stringify(await redis.hgetall(fileStateKey('default', file)))}\n`;
        for (const s of sent.filter((x) => notCompleted.some((n) => n.startsWith(x.jobId))).slice(0, 5)) {
          const job = await queue.getJob(s.jobId);
          diagnostics += `stuck ${s.jobId} ${s.file} seq ${job?.data.seq} state ${await job?.getState()} attempts ${job?.attemptsMade} stalled ${job?.stalledCounter}\n`;
        }
      }
    } finally {
      await queue.close();
    }
    // A client's writes are sequential: a later one must have been accepted after.
    const outOfOrder: string[] = [];
    const lastSeq = new Map<string, number>();
    for (const s of sent) {
      const key = `${s.client}:${s.file}`;
      const seq = seqOf.get(s.jobId)!;
      if (!(seq > (lastSeq.get(key) ?? 0))) outOfOrder.push(`${s.jobId} seq ${seq} after ${lastSeq.get(key)}`);
      lastSeq.set(key, seq);
    }

    const mismatches: string[] = [];
    const unreadable: string[] = [];
    for (const file of files) {
      const expected: Record<string, number[][]> = {};
      for (const d of datasets) expected[d] = Array.from({ length: rows }, () => Array(cols).fill(0));
      const writes = sent.filter((s) => s.file === file).sort((a, b) => seqOf.get(a.jobId)! - seqOf.get(b.jobId)! || a.opIndex - b.opIndex);
      for (const w of writes) w.values.forEach((row, r) => (expected[w.dataset]![w.rowStart + r] = [...row]));
      const filePath = stack.filePath(file);
      try {
        await h5dump(filePath, ['-H']);
      } catch (err) {
        unreadable.push(`${file}: h5dump: ${(err as Error).message}`);
      }
      let actual: Record<string, number[][]>;
      try {
        actual = await h5py(filePath, `f = h5py.File(path, 'r'); out = {k: f[k][()].tolist() for k in ${JSON.stringify(datasets)}}`);
      } catch (err) {
        unreadable.push(`${file}: h5py: ${(err as Error).message}`);
        continue;
      }
      for (const d of datasets) {
        for (let r = 0; r < rows; r++) {
          if (JSON.stringify(actual[d]![r]) !== JSON.stringify(expected[d]![r])) {
            mismatches.push(`${file}:${d} row ${r}: got ${JSON.stringify(actual[d]![r])}, expected ${JSON.stringify(expected[d]![r])}`);
          }
        }
      }
    }
    // Payloads are deleted right after BullMQ completes their job: give that a moment.
    let staged: string[] = [];
    for (let i = 0; i < 30; i++) {
      staged = await readdir(path.join(stack.dataDir, '.staging')).catch(() => []);
      if (staged.length === 0) break;
      await sleep(100);
    }
    return {
      kills,
      killed,
      writes: sent.length,
      jobs: sent.length + files.length * datasets.length,
      seconds,
      notCompleted,
      mismatches,
      unreadable,
      outOfOrder,
      leftoverStaged: staged.length,
      restarts: stack.pool.restarts,
      stuckLaunchers: stack.logs().match(/worker pool stuck/g)?.length ?? 0,
      logs: stack.logs(),
      diagnostics,
    };
  } finally {
    await stack.stop();
  }
}
