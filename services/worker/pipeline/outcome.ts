/**
 * The decisions of an epoch, as pure functions: which held jobs are next in their file's
 * order, which fail before the epoch, what each planned job's outcome is after the ranks
 * reported, how far the file's cursor moves, and which jobs are settled in BullMQ. No I/O:
 * the epoch runner (epoch-runner.ts) feeds them what it read and acts on what they answer.
 * This is the heart of ordering and crash safety; test/unit/epoch-outcome.test.ts holds its
 * cases.
 *
 * One outcome type travels from the ranks to BullMQ: the ranks agree on each step's status
 * (protocol.ts StepStatus) and report failed jobs and an abort (RankReport); here that
 * becomes an Outcome per job; the inbox settles the job by it (inbox.ts settle).
 */
import type { WriteOp, JobOp } from '../../shared/jobs.js';
import { formatFailure } from '../../shared/jobs.js';
import { COORDINATE_BYTES } from '../../shared/points.js';
import { isStagedName } from '../../shared/names.js';
import { PERMANENT_CODES, type RankFailure, type RankReport } from '../protocol.js';
import { BROKEN_COLLECTIVE_GRACE_MS, hangVerdict } from '../watchdog.js';

/**
 * What becomes of a job this epoch:
 *   done     applied; the cursor may move past it; resolved.
 *   failed   failed for good; the cursor may move past it (its reason recorded); rejected
 *            with an UnrecoverableError.
 *   retry    failed this attempt; BullMQ retries it with back-off; the cursor stays before it.
 *   pending  not decided this epoch (after a deletion, after an abort that was not its
 *            fault): stays held and runs in a later epoch.
 */
export type Outcome = { kind: 'done' } | { kind: 'failed'; reason: string } | { kind: 'retry'; reason: string } | { kind: 'pending' };

/** What the decisions need to know of a held job. */
export interface Sequenced {
  seq: number | null;
  acceptedAt: number;
}

/** Sequenced jobs in order; unsequenced ones after them, oldest first. */
export function bySeq(a: Sequenced, b: Sequenced): number {
  if (a.seq !== null && b.seq !== null) return a.seq - b.seq;
  if (a.seq !== null) return -1;
  if (b.seq !== null) return 1;
  return a.acceptedAt - b.acceptedAt;
}

export interface Classified<T> {
  /** Already applied (seq at or below the cursor): redelivered after a crash. */
  applied: T[];
  /** Next in the file's order (at most maxEpochJobs), in order; unsequenced jobs too. */
  ready: T[];
  /** Waiting for a predecessor (or for room in the epoch). */
  blocked: T[];
  /** The first sequence number not in `ready`: blocked jobs above it wait for a missing predecessor. */
  next: number;
}

/** Splits a file's held jobs by the cursor (the highest seq applied). */
export function classify<T extends Sequenced>(held: Iterable<T>, applied: number, maxEpochJobs: number): Classified<T> {
  const sorted = [...held].sort(bySeq);
  const out: Classified<T> = { applied: [], ready: [], blocked: [], next: applied + 1 };
  for (const h of sorted) {
    if (h.seq === null) out.ready.push(h);
    else if (h.seq <= applied) out.applied.push(h);
    else if (h.seq === out.next && out.ready.length < maxEpochJobs) {
      out.ready.push(h);
      out.next++;
    } else out.blocked.push(h);
  }
  return out;
}

/** Whether a blocked job waits for a predecessor missing from this pool (not merely for room in the epoch). */
export function waitsForMissing(h: Sequenced, next: number): boolean {
  return h.seq !== null && h.seq > next;
}

/** The names of the staged payloads a set of jobs' writes read (each once). */
export function stagedNames(jobs: Array<{ ops: JobOp[] }>): string[] {
  return [...new Set(jobs.flatMap((j) => j.ops.flatMap((op) => (op.op === 'write' && isStagedName(op.staged) ? [op.staged] : []))))];
}

export interface Candidate extends Sequenced {
  id: string;
  ops: JobOp[];
  cancelled: boolean;
}

export interface PreflightInput<T extends Candidate> {
  ready: T[];
  /** Size of each staged payload named by a ready job's writes (-1: missing). */
  stagedSizes: ReadonlyMap<string, number>;
  /** Hangs charged to each seq (Cursor.hung). */
  hung: ReadonlyMap<number, number>;
  hungJobAttempts: number;
  stepTimeoutMs: number;
}

export interface Preflight<T> {
  /** Jobs decided before the epoch (they are not planned). */
  outcomes: Map<T, Outcome>;
  /** Jobs to write in steps of their own (they were in a phase that hung). */
  alone: T[];
  /** Jobs failed for hanging the pool too often, with their count (for the log). */
  hungOut: Array<{ job: T; hangs: number }>;
  /** The jobs to plan, in order, up to and including a file deletion. */
  planned: T[];
  /** Index in `planned` of the job that deletes the file (-1: none). */
  deletion: number;
}

/**
 * Before an epoch: lost payloads and cancelled jobs fail without touching the file; jobs
 * charged with hangs run alone or fail (hangVerdict); a file deletion ends the epoch, the
 * jobs after it wait for the next one.
 */
export function preflight<T extends Candidate>(input: PreflightInput<T>): Preflight<T> {
  const outcomes = new Map<T, Outcome>();
  const alone: T[] = [];
  const hungOut: Array<{ job: T; hangs: number }> = [];
  for (const h of input.ready) {
    for (const op of h.ops) {
      if (op.op !== 'write') continue;
      if (!stagedIsWhole(op, input.stagedSizes)) {
        outcomes.set(h, { kind: 'failed', reason: formatFailure('PH5_ERR_STAGING', `staged payload ${op.staged} of job ${h.id} is missing or short`) });
        break;
      }
    }
  }
  // Cancelled while waiting (the API marked it): fails without touching the file; the
  // file's order moves past it like past any job that failed for good.
  for (const h of input.ready) {
    if (h.cancelled && !outcomes.has(h)) outcomes.set(h, { kind: 'failed', reason: formatFailure('PH5_ERR_CANCELLED', 'the job was cancelled before it ran') });
  }
  // Jobs that were in phases that hung: fail those charged too often, run the others alone
  // (a coalesced step that hung does not say which of its jobs caused it).
  for (const h of input.ready) {
    if (outcomes.has(h) || h.seq === null) continue;
    const hangs = input.hung.get(h.seq) ?? 0;
    const verdict = hangVerdict(hangs, input.hungJobAttempts);
    if (verdict === 'alone') alone.push(h);
    if (verdict === 'fail') {
      const reason = formatFailure(
        'PH5_ERR_WATCHDOG',
        `a collective phase writing this job did not finish, ${hangs} times (within PH5_STEP_TIMEOUT_MS = ${input.stepTimeoutMs} ms, or ${BROKEN_COLLECTIVE_GRACE_MS} ms after HDF5 failed on a rank inside it, e.g. a chunk that does not inflate); the pool was restarted each time and the job is not tried again (PH5_HUNG_JOB_ATTEMPTS)`,
      );
      outcomes.set(h, { kind: 'failed', reason });
      hungOut.push({ job: h, hangs });
    }
  }
  const planned = input.ready.filter((h) => !outcomes.has(h));
  // Deleting the file ends the epoch: the jobs after it start a new file in the next one.
  const deletion = planned.findIndex((h) => h.ops.some((op) => op.op === 'deleteFile'));
  if (deletion >= 0) for (const h of planned.splice(deletion + 1)) outcomes.set(h, { kind: 'pending' });
  return { outcomes, alone, hungOut, planned, deletion };
}

function stagedIsWhole(op: WriteOp, sizes: ReadonlyMap<string, number>): boolean {
  const offset = op.stagedOffset ?? 0;
  const size = Number.isSafeInteger(offset) && offset >= 0 ? (sizes.get(op.staged) ?? -1) : -1;
  // A point write's coordinates are staged before its values.
  const coordBytes = op.points ? op.points.count * op.points.rank * COORDINATE_BYTES : 0;
  return size >= offset + coordBytes + op.bytes;
}

/** The reason to believe among the ranks' (they agree on the keys): a rank's own failure, not a peer's echo. */
export function realFailure(list: Array<RankFailure | undefined>): RankFailure | undefined {
  return list.find((f) => f && f.code !== 'PH5_ERR_PEER') ?? list.find(Boolean);
}

export type Abort = { step: number } & RankFailure;

/** Where and why the epoch stopped, from the ranks' reports (undefined: it ran to the end). */
export function epochAbort(reports: RankReport[]): Abort | undefined {
  const first = reports.find((r) => r.abort)?.abort;
  return first ? { step: first.step, ...realFailure(reports.map((r) => r.abort))! } : undefined;
}

/** A stop that is no job's fault: the jobs from that step on simply run again. */
export function isBlameless(abort: Abort | undefined): boolean {
  return abort?.code === 'PH5_ERR_LEASE_LOST';
}

export interface PlannedJob {
  /** BullMQ's attempts made before this one, and the attempts allowed (undefined: 1). */
  attemptsMade: number;
  attempts: number | undefined;
}

export interface Verdict {
  /** Per planned job (index-aligned). */
  outcomes: Outcome[];
  /** Planned jobs (indices) to write alone next time: a coalesced step failed. */
  alone: number[];
  /** The failure the epoch stopped on, formatted, when it is blamed on jobs (for the log). */
  blamed: string | null;
}

/**
 * Each planned job's outcome from the ranks' agreed decisions: failed where a rank failed it
 * for good; done where all its steps ran before the abort (or there was none); pending
 * otherwise. An abort that is some job's fault costs the one job of its step an attempt (or
 * fails it, when permanent or its last); a coalesced step's jobs run alone next time instead.
 */
export function decide(planned: PlannedJob[], steps: Array<{ jobs: number[] }>, reports: RankReport[], abort: Abort | undefined, blameless: boolean): Verdict {
  const outcomes: Outcome[] = planned.map((_, j) => {
    const failed = realFailure(reports.map((r) => r.failedJobs[j]));
    if (failed) return { kind: 'failed', reason: formatFailure(failed.code, failed.message) };
    const mySteps = steps.map((s, i) => (s.jobs.includes(j) ? i : -1)).filter((i) => i >= 0);
    if (!abort || mySteps.every((i) => i < abort.step)) return { kind: 'done' };
    return { kind: 'pending' };
  });
  const verdict: Verdict = { outcomes, alone: [], blamed: null };
  if (!abort || blameless) return verdict;
  const inRange = abort.step >= 0 && abort.step < steps.length;
  const culprits = inRange ? steps[abort.step]!.jobs : [0];
  const reason = formatFailure(abort.code, abort.message);
  verdict.blamed = reason;
  if (culprits.length === 1 || !inRange) {
    // One job to blame: it uses up an attempt (BullMQ retries it with backoff); on its
    // last attempt it fails for good, and the file's order moves on past it.
    const j = culprits[0]!;
    const h = planned[j]!;
    const last = h.attemptsMade + 1 >= (h.attempts ?? 1);
    outcomes[j] = PERMANENT_CODES.has(abort.code) || last ? { kind: 'failed', reason } : { kind: 'retry', reason };
  } else {
    // A coalesced step failed: write its jobs one by one next time, to find the culprit.
    verdict.alone = [...culprits];
  }
  return verdict;
}

/**
 * The cursor moves through the longest run of finished (done or failed) jobs in sequence
 * order from where it stood; the failed ones among them are recorded with it. `ready` is in
 * order (classify).
 */
export function advanceCursor(
  ready: Array<{ seq: number | null; outcome: Outcome }>,
  applied: number,
): { through: number; failures: Array<{ seq: number; reason: string }> } {
  let through = applied;
  const failures: Array<{ seq: number; reason: string }> = [];
  for (const { seq, outcome: o } of ready) {
    if (seq === null) continue;
    if (seq !== through + 1 || (o.kind !== 'done' && o.kind !== 'failed')) break;
    through = seq;
    if (o.kind === 'failed') failures.push({ seq, reason: o.reason });
  }
  return { through, failures };
}

/**
 * Whether a job is settled in BullMQ now (after the commit) or stays held for a later epoch:
 * pending jobs stay; so does a done or failed job the cursor did not reach (it is settled
 * once the cursor does, so that a crash never leaves a settled job unapplied). A retry is
 * given to BullMQ at once: it comes back after its back-off.
 */
export function settlesNow(seq: number | null, outcome: Outcome, through: number): boolean {
  if (outcome.kind === 'pending') return false;
  return !(seq !== null && seq > through && outcome.kind !== 'retry');
}
