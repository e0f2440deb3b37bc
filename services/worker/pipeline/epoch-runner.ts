/**
 * Plan → broadcast → write → report, for one file: takes the file's write lease (fenced),
 * reads its cursor, plans the jobs next in its order as one epoch, broadcasts the plan,
 * applies rank 0's share (apply.ts) under the watchdog, gathers the ranks' reports, moves
 * the cursor (fenced, atomically, after the file is closed) and settles the jobs. The
 * decisions are outcome.ts's (pure); this file does the I/O around them.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { mpi, stagingIo } from '../../../native/lib/index.js';
import { stagingDir, type Config } from '../../shared/config.js';
import type { FileLocks, WriteLease } from '../../shared/file-lock.js';
import { applyingMark, commitEpoch, fileStateKey, readCursor, recordedFailure, type Cursor } from '../../shared/file-state.js';
import { keys, type ApplyingEvent } from '../../shared/jobs.js';
import { applyPlan, RankError } from '../apply.js';
import { planSteps } from '../epoch.js';
import { decodeReport, encodeMessage, encodeReport, type Plan, type RankReport } from '../protocol.js';
import { removeFileDurably } from '../remove-file.js';
import type { WorkerSettings } from '../settings.js';
import { BROKEN_COLLECTIVE_GRACE_MS } from '../watchdog.js';
import type { DoorbellRinger } from '../doorbell.js';
import type { Logger } from '../log.js';
import { prepareChunks } from './chunk-allocation.js';
import { emitEvent } from './events.js';
import type { HangGuard } from './hang-guard.js';
import { releaseHeld, type FileInbox, type Held, type Inbox } from './inbox.js';
import { jobResult, replayedResult } from './job-result.js';
import { advanceCursor, classify, decide, epochAbort, isBlameless, preflight, settlesNow, stagedNames, waitsForMissing, type Outcome } from './outcome.js';
import { recoverInterrupted } from './recovery.js';
import { pacingWait } from './scheduler.js';
import type { SchedulerTrace } from './trace.js';

export interface EpochRunnerOptions {
  poolId: string;
  size: number;
  config: Config;
  settings: WorkerSettings;
  redis: Redis;
  locks: FileLocks;
  inbox: Inbox;
  guard: HangGuard;
  trace: SchedulerTrace;
  log: Logger;
  /** Rung right before each bcast the other ranks wait for (see doorbell.ts). */
  doorbell?: DoorbellRinger;
}

/** Held jobs as the pure decisions see them. */
function candidate(h: Held) {
  return { held: h, id: String(h.job.id), seq: h.seq, acceptedAt: h.acceptedAt, ops: h.job.data.ops, cancelled: Boolean(h.job.data.cancelled) };
}

export class EpochRunner {
  readonly #opts: EpochRunnerOptions;
  /** The first job of the epoch running now (for the pool's record). */
  current: string | null = null;

  constructor(opts: EpochRunnerOptions) {
    this.#opts = opts;
  }

  get #log(): Logger {
    return this.#opts.log;
  }

  #debug(msg: string): void {
    this.#opts.trace.debug(msg);
  }

  /** Splits a file's held jobs by the cursor, and notes since when the blocked ones wait for a missing predecessor. */
  #classify(inbox: FileInbox, cursor: Cursor) {
    const split = classify(inbox.held.values(), cursor.applied, this.#opts.settings.maxEpochJobs);
    const now = Date.now();
    for (const h of split.ready) h.blockedSince = null;
    for (const h of split.blocked) if (waitsForMissing(h, split.next)) h.blockedSince ??= now;
    return split;
  }

  /** Jobs redelivered after a crash that the file already has: finish them as they ended. */
  async #finishApplied(inbox: FileInbox, jobs: Held[]): Promise<void> {
    const { redis, size, poolId } = this.#opts;
    for (const h of jobs) {
      releaseHeld(inbox, h);
      const reason = await recordedFailure(redis, inbox.project, inbox.file, h.seq!);
      const outcome: Outcome = reason ? { kind: 'failed', reason } : { kind: 'done' };
      this.#opts.inbox.settle(h, outcome, () => replayedResult(h.job.data, size, poolId));
      this.#log.info(`job ${h.job.id} (seq ${h.seq} of ${inbox.key}) was applied before a restart; finished without writing again`);
    }
  }

  /** One turn of the scheduler on a file: an epoch if jobs are next in its order and its lease is free. */
  async epoch(inbox: FileInbox): Promise<void> {
    const { redis, locks, poolId } = this.#opts;
    // A look without the lease first: most waits end here, without touching the lock.
    let cursor = await readCursor(redis, inbox.project, inbox.file);
    let split = this.#classify(inbox, cursor);
    if (split.applied.length) await this.#finishApplied(inbox, split.applied);
    if (split.ready.length === 0) {
      if (split.blocked.length) await this.#opts.inbox.promotePredecessor(inbox, cursor.applied + 1);
      inbox.retryAt = Date.now() + 100;
      return;
    }
    this.#debug(`epoch? ${inbox.key}: ${split.ready.length} ready; lease`);
    const lease = await locks.tryAcquireWrite(
      inbox.project,
      inbox.file,
      () => emitEvent(this.#log, 'warn', { event: 'lease', action: 'lost', file: inbox.key, fence: leaseFence, pool: poolId, t: Date.now() }),
      poolId,
    );
    if (!lease) {
      inbox.retryAt = Date.now() + 20 + Math.random() * 30;
      return;
    }
    const leaseFence = lease.fence;
    emitEvent(this.#log, 'info', { event: 'lease', action: 'acquire', file: inbox.key, fence: lease.fence, pool: poolId, t: Date.now() });
    try {
      cursor = await readCursor(redis, inbox.project, inbox.file);
      split = this.#classify(inbox, cursor);
      if (split.applied.length) await this.#finishApplied(inbox, split.applied);
      if (split.ready.length === 0) {
        await commitEpoch(redis, lease, inbox.project, inbox.file, cursor.applied, null, []);
        inbox.retryAt = Date.now() + 200;
        return;
      }
      this.current = String(split.ready[0]!.job.id);
      await this.#run(inbox, lease, cursor, split.ready);
    } finally {
      this.current = null;
      emitEvent(this.#log, 'info', { event: 'lease', action: 'release', file: inbox.key, fence: lease.fence, pool: poolId, t: Date.now() });
      await lease.release().catch(() => {});
    }
  }

  async #run(inbox: FileInbox, lease: WriteLease, cursor: Cursor, ready: Held[]): Promise<void> {
    const { config, settings, size, poolId, guard } = this.#opts;
    const started = Date.now();
    this.#debug(`epoch ${lease.fence}: ${ready.length} ready`);
    const staging = stagingDir(config);
    const filePath = path.join(config.dataDir, inbox.project, inbox.file);
    await mkdir(path.dirname(filePath), { recursive: true });
    if (lease.previousDirty !== null && existsSync(filePath)) await recoverInterrupted(filePath, lease.previousDirty, this.#log);

    // Lost payloads fail their job before the epoch (the others still run). Writes staged
    // together share a file: each file is looked at once, all of them in one call.
    const candidates = ready.map(candidate);
    const names = stagedNames(candidates);
    const found = names.length > 0 ? await stagingIo.fileSizes(names.map((name) => path.join(staging, name))) : [];
    const pre = preflight({
      ready: candidates,
      stagedSizes: new Map(names.map((name, i) => [name, found[i]!])),
      hung: cursor.hung,
      hungJobAttempts: settings.hungJobAttempts,
      stepTimeoutMs: settings.stepTimeoutMs,
    });
    for (const c of pre.alone) c.held.alone = true;
    for (const { job: c, hangs } of pre.hungOut) this.#log.error(`job ${c.id} (seq ${c.seq} of ${inbox.key}) failed: it hung the pool ${hangs} times`);
    const outcomes = new Map<Held, Outcome>([...pre.outcomes].map(([c, o]) => [c.held, o]));
    const planned = pre.planned.map((c) => c.held);
    const deletion = pre.deletion;
    const steps = planSteps(
      planned.map((h) => ({ data: h.job.data, alone: h.alone })),
      { maxStepBytes: settings.maxStepBytes },
    );
    const plan: Plan = {
      epoch: lease.fence,
      file: filePath,
      mode: existsSync(filePath) ? 'rw' : 'create',
      staging,
      jobs: planned.map((h) => ({ id: String(h.job.id), seq: h.seq })),
      steps,
    };

    let reports: RankReport[] = [];
    if (steps.length > 0) {
      // Progress for jobs written in several steps (large writes are split).
      const stepsOf = planned.map((_, j) => steps.filter((s) => s.jobs.includes(j)).length);
      const doneSteps = planned.map(() => 0);
      this.#debug(`epoch ${lease.fence}: bcast ${steps.length} steps`);
      const message = encodeMessage({ type: 'plan', plan });
      const seqsOf = (jobs: Held[]) => jobs.flatMap((h) => (h.seq === null ? [] : [h.seq]));
      const stepSeqs = (p: number) => seqsOf(steps[p]!.jobs.map((j) => planned[j]!));
      const all = seqsOf(planned);
      this.#markApplying(inbox, all);
      guard.guard(inbox);
      guard.arm({ name: `the plan's broadcast (epoch ${lease.fence})`, seqs: all });
      this.#opts.doorbell?.ring();
      await mpi.bcast(message, 0);
      this.#debug(`epoch ${lease.fence}: apply`);
      const mine = await applyPlan(plan, 0, size, {
        phase: (p) => {
          if (typeof p !== 'number') return guard.arm({ name: `${p} of ${inbox.key} (epoch ${lease.fence})`, seqs: all });
          const st = steps[p]!;
          guard.arm({ name: `step ${p} (${st.op}${st.op === 'write' ? ` ${st.path}` : ''}) of epoch ${lease.fence} on ${inbox.key}`, seqs: stepSeqs(p) });
        },
        collectiveBroken: (p) => {
          this.#log.warn(
            `epoch ${lease.fence} on ${inbox.key}: HDF5 failed on this rank inside the collective write of step ${p}; the other ranks get ${BROKEN_COLLECTIVE_GRACE_MS} ms to reach the agreement`,
          );
          guard.arm(
            { name: `the agreement after a failed collective write (step ${p}, epoch ${lease.fence} on ${inbox.key})`, seqs: stepSeqs(p) },
            BROKEN_COLLECTIVE_GRACE_MS,
          );
        },
        beforeStep: async () => {
          if (!(await lease.check())) throw new RankError('PH5_ERR_LEASE_LOST', `the write lease on ${inbox.key} (fence ${lease.fence}) was lost`);
        },
        afterStep: (i) => {
          for (const j of steps[i]!.jobs) {
            doneSteps[j]!++;
            if (stepsOf[j]! > 1) this.#opts.inbox.progress(planned[j]!, Math.floor((100 * doneSteps[j]!) / stepsOf[j]!));
          }
        },
      });
      this.#debug(`epoch ${lease.fence}: gather`);
      // Not disarmed if something here throws: the other ranks would then be left in a
      // collective of this epoch, and ending the pool at the deadline is the way out.
      guard.arm({ name: `the reports' gather (epoch ${lease.fence})`, seqs: all });
      const gathered = await mpi.gather(encodeReport(mine), 0);
      guard.release();
      reports = (gathered ?? []).map(decodeReport);
    }

    // Outcome of each planned job, from the ranks' agreed decisions.
    let abort = epochAbort(reports);
    let blameless = isBlameless(abort);
    if (abort?.code === 'PH5_ERR_NEEDS_ALLOCATION') {
      // The file's chunks are allocated on demand (made by h5py, say). The file is closed on
      // every rank now: allocate the step's chunks serially and let the next epoch write
      // them in parallel. What fails here (or a second refusal of one step) is the step's.
      const failure = await prepareChunks(inbox, filePath, staging, lease, steps[abort.step]!, this.#log);
      if (failure) abort = { step: abort.step, ...failure };
      blameless = !failure || failure.code === 'PH5_ERR_LEASE_LOST';
    }
    const verdict = decide(
      planned.map((h) => ({ attemptsMade: h.job.attemptsMade, attempts: h.job.opts.attempts })),
      steps,
      reports,
      abort,
      blameless,
    );
    planned.forEach((h, j) => outcomes.set(h, verdict.outcomes[j]!));
    for (const j of verdict.alone) planned[j]!.alone = true;
    if (verdict.blamed !== null) this.#log.warn(`epoch ${lease.fence} on ${inbox.key} stopped at step ${abort!.step}: ${verdict.blamed}`);

    // The file goes once everything before the deletion is in it and closed, still under the
    // lease and before the cursor moves: a crash in between replays the epoch (onto a new
    // file, since this one is gone) and deletes again.
    if (deletion >= 0 && outcomes.get(planned[deletion]!)?.kind === 'done') {
      if (!(await lease.check({ fresh: true }))) outcomes.set(planned[deletion]!, { kind: 'pending' });
      else {
        // Made durable before the cursor moves past it (a failed sync retries the deletion).
        await removeFileDurably(filePath).catch((err: Error) => {
          this.#log.warn(`deleting ${inbox.key}: ${err.message}; the deletion is retried`);
          outcomes.set(planned[deletion]!, { kind: 'retry', reason: `deleting the file: ${err.message}` });
        });
      }
    }
    const { through, failures } = advanceCursor(
      ready.map((h) => ({ seq: h.seq, outcome: outcomes.get(h)! })),
      cursor.applied,
    );
    this.#debug(`epoch ${lease.fence}: commit`);
    const committed = await commitEpoch(this.#opts.redis, lease, inbox.project, inbox.file, cursor.applied, through, failures);
    if (committed !== 'committed') {
      emitEvent(this.#log, 'warn', {
        event: 'lease',
        action: 'lost',
        file: inbox.key,
        fence: lease.fence,
        pool: poolId,
        t: Date.now(),
        cause: `commit refused: ${committed}; the epoch's jobs stay queued`,
      });
      return;
    }
    for (const h of ready) {
      const o = outcomes.get(h)!;
      if (o.kind === 'pending' || !settlesNow(h.seq, o, through)) continue;
      releaseHeld(inbox, h);
      this.#opts.inbox.settle(h, o, () => jobResult(h.job.data, planned.indexOf(h), plan, reports, started, size, poolId));
    }
    const took = Date.now() - started;
    const paced = pacingWait(settings, inbox.held.size, took);
    if (paced) inbox.pacedUntil = Date.now() + paced;
    // Read by tests (epoch-pacing): jobs per epoch, and whether the file's next one waits.
    emitEvent(this.#log, 'info', {
      event: 'epoch',
      file: inbox.key,
      fence: lease.fence,
      jobs: ready.length,
      steps: steps.length,
      from: cursor.applied,
      through,
      ms: took,
      pacedMs: paced || null,
    });
  }

  /**
   * Tells the API which jobs this epoch applies (they are `running`; the others held here
   * are still `queued`): the file state's `applying` field, cleared by the commit, and an
   * event for job streams. Not awaited: it must not delay the epoch, and a lost mark only
   * makes a job look queued a little longer.
   */
  #markApplying(inbox: FileInbox, seqs: number[]): void {
    if (seqs.length === 0) return;
    const first = Math.min(...seqs);
    const last = Math.max(...seqs);
    const { redis, poolId } = this.#opts;
    const event: ApplyingEvent = { project: inbox.project, file: inbox.file, first, last, pool: poolId };
    redis
      .multi()
      .hset(fileStateKey(inbox.project, inbox.file), 'applying', applyingMark(first, last, poolId))
      .publish(keys.applyingChannel, JSON.stringify(event))
      .exec()
      .catch(() => {});
  }
}
