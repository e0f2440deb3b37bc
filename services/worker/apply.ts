/**
 * Applies one epoch's plan on one rank. Every rank runs this with the same plan; the HDF5
 * calls are collective, so every rank must make the same calls in the same order, and a
 * rank with nothing to write still joins each write with an empty selection.
 *
 * A failure local to one rank (its slice of the payload unreadable) must not leave the
 * others blocked inside a collective call: before each collective step the ranks agree
 * (MPI allreduce of the worst outcome) and all take the same branch:
 *   - ok: go on;
 *   - the step's only job failed for good (bad input found late): that job is failed, its
 *     remaining steps are skipped, the epoch goes on with the next jobs;
 *   - anything else (I/O error, lost lease, a failure in a coalesced step): the epoch stops
 *     here; the file is still closed properly, and rank 0 decides what to retry.
 */
import path from 'node:path';
import { H5File, mpi, Ph5NativeError, stagingIo, type DatasetInfo, type PointSelection } from '../../native/lib/index.js';
import { decompose } from '../shared/decompose.js';
import { parseDtype } from '../shared/dtype.js';
import { InputError } from '../shared/input-error.js';
import { isStagedName } from '../shared/names.js';
import { pointRange } from '../shared/points.js';
import type { CreateDatasetOp } from '../shared/jobs.js';
import { applyMeta } from './meta-ops.js';
import type { Hyperslab } from '../shared/selection.js';
import { PERMANENT_CODES, StepStatus, type Plan, type RankFailure, type RankReport, type Segment, type StepReport, type WriteStep } from './protocol.js';
import { contiguousWrites, fileSync, stagedReads } from './settings.js';

// Read once, when the rank starts: a bad value stops every rank there, never halfway
// through a collective close. (The ranks agree on it in the close itself.)
const FILE_SYNC = fileSync();
// How a contiguous run of a contiguous dataset is written, and how staged shares are
// brought in (settings.ts), also read once at start.
const TRANSFER = contiguousWrites() === 'independent' ? 'auto' : true;
const STAGED_READS = stagedReads();

export class RankError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function toRankError(err: unknown): RankError {
  if (err instanceof RankError) return err;
  if (err instanceof Ph5NativeError || err instanceof InputError) return new RankError(err.code, err.message);
  const e = err as NodeJS.ErrnoException;
  return new RankError(e?.code === 'ENOENT' ? 'PH5_ERR_STAGING' : 'PH5_ERR_WORKER', e?.message ?? String(err));
}

/** Failures that no retry can fix (protocol.ts). */
export { PERMANENT_CODES };

type Breakdown = NonNullable<RankReport['breakdown']>;

/** Adds the time `p` takes to `times[key]`. */
async function timed<T>(times: Breakdown, key: Exclude<keyof Breakdown, 'mappedBytes'>, p: Promise<T>): Promise<T> {
  const t = performance.now();
  try {
    return await p;
  } finally {
    times[key] += performance.now() - t;
  }
}

const OK = StepStatus.ok;
const JOB_FAILED = StepStatus.jobFailed;
const ABORT = StepStatus.abort;

/** A step's agreed status on this rank, and this rank's own failure if it had one. */
class StepOutcome {
  constructor(
    readonly status: StepStatus,
    readonly local: RankError | null,
  ) {}
}

/**
 * Runs `fn` on this rank, then all ranks agree on the worst outcome. `alone`: the step
 * belongs to a single job, so a permanent failure can fail just that job.
 */
async function step<T>(fn: () => Promise<T>, alone: boolean, times?: Breakdown): Promise<{ value: T; outcome: StepOutcome }> {
  let value: T | undefined;
  let error: RankError | null = null;
  try {
    value = await fn();
  } catch (err) {
    error = toRankError(err);
  }
  const mine = !error ? OK : alone && PERMANENT_CODES.has(error.code) ? JOB_FAILED : ABORT;
  const t = performance.now();
  const agreed = (await mpi.allreduceMin(mine)) as StepStatus;
  if (times) times.agreeMs += performance.now() - t;
  return { value: value as T, outcome: new StepOutcome(agreed, error) };
}

function failure(outcome: StepOutcome): RankFailure {
  return outcome.local ? { code: outcome.local.code, message: outcome.local.message } : { code: 'PH5_ERR_PEER', message: 'another rank failed at this step' };
}

function stagedPath(plan: Pick<Plan, 'staging'>, staged: string): string {
  // Job data comes from Redis: never let it name a file outside the staging directory.
  if (!isStagedName(staged)) {
    throw new RankError('PH5_ERR_STAGING', `invalid staged payload name '${staged}'`);
  }
  return path.join(plan.staging, staged);
}

/** Where a rank's share of a step lies in the staged files: per file, its ranges. */
export type ShareRanges = Map<string, Array<{ into: number; offset: number; length: number }>>;

/**
 * Bytes [offset, offset+length) of the concatenation of the segments, as ranges of the
 * staged files (`into`: where the range goes in the share). Small writes accepted together
 * share a staged file: each file is opened once, its ranges read in turn.
 */
function shareRanges(plan: Plan, segments: Segment[], offset: number, length: number): ShareRanges {
  let base = 0;
  const byFile: ShareRanges = new Map();
  for (const seg of segments) {
    const from = Math.max(offset, base);
    const to = Math.min(offset + length, base + seg.bytes);
    if (from < to) {
      const file = stagedPath(plan, seg.staged);
      const ranges = byFile.get(file) ?? [];
      const range = { into: from - offset, offset: seg.offset + (from - base), length: to - from };
      // Writes staged together sit back to back in their file, and usually in the step too:
      // one read for the run instead of one per write.
      const last = ranges[ranges.length - 1];
      if (last && last.offset + last.length === range.offset && last.into + last.length === range.into) last.length += range.length;
      else ranges.push(range);
      byFile.set(file, ranges);
    }
    base += seg.bytes;
  }
  return byFile;
}

function stagingError(err: unknown): unknown {
  // A short staged file (a missing one is ENOENT: toRankError makes it PH5_ERR_STAGING too).
  const e = err as { code?: string; message: string };
  return e.code === 'PH5_ERR_STAGING' ? new RankError('PH5_ERR_STAGING', e.message) : err;
}

/** Reads the ranges into `buf`: every file and range in one trip to the libuv pool. */
async function readRanges(byFile: ShareRanges, buf: Buffer): Promise<Buffer> {
  const reads = [...byFile].map(([file, ranges]) => ({ path: file, ranges: ranges.flatMap((r) => [r.into, r.offset, r.length]) }));
  try {
    await stagingIo.readRanges(reads, buf);
  } catch (err) {
    throw stagingError(err);
  }
  return buf;
}

/**
 * The staged coordinates of a point write step, all of them: every rank needs the whole
 * list (its own range to write, all of it for the chunk check, which must be the same on
 * every rank).
 */
export async function readCoordinates(plan: Pick<Plan, 'staging'>, coords: Segment): Promise<Buffer> {
  const buf = Buffer.allocUnsafeSlow(coords.bytes);
  return readRanges(new Map([[stagedPath(plan, coords.staged), [{ into: 0, offset: coords.offset, length: coords.bytes }]]]), buf);
}

/**
 * This rank's points of a point write step and the whole step's (`global`): the step's
 * list shared like rows (rankShare), as coordinate ranges of the staged list.
 */
export function rankPoints(s: WriteStep, coords: Buffer, rank: number, size: number): { selection: PointSelection; global: PointSelection } {
  const mine = decompose(s.hyperslab, 1, size)[rank]!;
  const dims = s.points!.rank;
  return { selection: { points: pointRange(coords, dims, mine.rowStart, mine.rowStart + mine.rows) }, global: { points: coords } };
}

/**
 * Shares at least this large that lie in one range of one staged file are mapped (mmap)
 * instead of read: H5Dwrite then copies the staged bytes straight from the file's pages,
 * once instead of twice. Below it a copy costs about what a mapping does.
 */
export const MAP_MIN_BYTES = 1024 * 1024;

/** How a step's share is brought in: mapped (one range of one file, large enough) or read. */
export function shareAccess(byFile: ShareRanges, length: number, mapMinBytes = MAP_MIN_BYTES): 'map' | 'read' {
  if (length < mapMinBytes || byFile.size !== 1) return 'read';
  const ranges = [...byFile.values()][0]!;
  return ranges.length === 1 && ranges[0]!.length === length ? 'map' : 'read';
}

/** A write step's share of this rank: which staged bytes, and how long they took to read. */
interface ShareRead {
  index: number;
  read: Promise<Buffer>;
  /** Settles when the read does, never rejects: its buffer, or undefined if it failed. */
  settled: Promise<Buffer | undefined>;
}

/**
 * The staged reads of an epoch's write steps, one step ahead of the writes. While step k's
 * collective H5Dwrite runs on one libuv thread (holding the process's HDF5 turn), step
 * k+1's share is read from its staged payload on another: plain POSIX reads that take no
 * HDF5 or MPI lock. Two buffers take turns and are reused across the steps, so a step
 * neither allocates (and page-faults in) a fresh buffer nor waits for its read when the
 * write before it took longer. A read done ahead is still only used after the ranks agree
 * on it, in its own step: a rank whose read failed makes every rank skip the write.
 */
class StagedReader {
  readonly #buffers: Array<Buffer | null> = [null, null];
  /** The buffer the next read goes to (the other one may be in a write). */
  #turn = 0;
  #ahead: ShareRead | null = null;
  /** Buffers handed out that are mappings of a staged file (mapRange), not our own. */
  readonly #mapped = new Set<Buffer>();

  constructor(
    private readonly plan: Plan,
    private readonly times: Breakdown,
  ) {}

  /** The bytes of write step `index` on this rank: read ahead already, or read now. */
  async take(index: number, segments: Segment[], offset: number, length: number): Promise<Buffer> {
    const ahead = this.#ahead;
    this.#ahead = null;
    if (ahead?.index === index) return timed(this.times, 'readWaitMs', ahead.read);
    // A read ahead for a step that did not run (its job failed): let it finish before its
    // buffer is used again.
    if (ahead) this.done(await ahead.settled);
    return timed(this.times, 'readWaitMs', this.#start(index, segments, offset, length).read);
  }

  /** Starts reading write step `index`'s share while the step before it writes. */
  readAhead(index: number, segments: Segment[], offset: number, length: number): void {
    if (this.#ahead) return;
    this.#ahead = this.#start(index, segments, offset, length);
  }

  /** Waits for a read still in flight (the epoch ended before its step). */
  async settle(): Promise<void> {
    const ahead = this.#ahead;
    this.#ahead = null;
    if (ahead) this.done(await ahead.settled);
  }

  #start(index: number, segments: Segment[], offset: number, length: number): ShareRead {
    const read = timed(this.times, 'readMs', this.#bring(segments, offset, length));
    const settled = read.then(
      (buf) => buf,
      () => undefined,
    );
    return { index, read, settled };
  }

  async #bring(segments: Segment[], offset: number, length: number): Promise<Buffer> {
    const byFile = shareRanges(this.plan, segments, offset, length);
    if (STAGED_READS === 'map' && shareAccess(byFile, length) === 'map') {
      const [file, ranges] = [...byFile][0]!;
      let buf: Buffer;
      try {
        buf = await stagingIo.mapRange(file, ranges[0]!.offset, length);
      } catch (err) {
        throw stagingError(err);
      }
      this.#mapped.add(buf);
      this.times.mappedBytes += length;
      return buf;
    }
    const k = this.#turn;
    this.#turn = 1 - k;
    let buf = this.#buffers[k];
    if (!buf || buf.length < length) buf = this.#buffers[k] = Buffer.allocUnsafeSlow(length);
    return readRanges(byFile, buf.subarray(0, length));
  }

  /** The step is done with `buf` (its write returned, or it was never written). */
  done(buf: Buffer | undefined): void {
    // A mapping lets go of the staged file's pages now, not at the next garbage collection.
    if (buf && this.#mapped.delete(buf)) stagingIo.releaseMapping(buf);
  }
}

/**
 * This rank's part of a write step: balanced blocks of the step's rows (decompose). For a
 * union of row blocks (`parts`) the rows are counted across the parts in order, so that
 * the rank's bytes are still one range of the concatenated segments; its selection is
 * then the pieces of the parts that fall in its rows.
 */
export function rankShare(
  s: WriteStep,
  itemSize: number,
  rank: number,
  size: number,
): { selection: Hyperslab | Hyperslab[] | null; byteOffset: number; byteLength: number } {
  if (!s.parts) {
    const mine = decompose(s.hyperslab, itemSize, size)[rank]!;
    return { selection: mine.hyperslab, byteOffset: mine.byteOffset, byteLength: mine.byteLength };
  }
  const first = s.parts[0]!;
  const rows = s.parts.reduce((n, p) => n + p.count[0]!, 0);
  const all: Hyperslab = { start: [0, ...first.start.slice(1)], stride: [1, ...first.stride.slice(1)], count: [rows, ...first.count.slice(1)] };
  const mine = decompose(all, itemSize, size)[rank]!;
  const pieces: Hyperslab[] = [];
  let base = 0;
  for (const p of s.parts) {
    const from = Math.max(mine.rowStart, base);
    const to = Math.min(mine.rowStart + mine.rows, base + p.count[0]!);
    if (from < to)
      pieces.push({ start: [p.start[0]! + (from - base), ...p.start.slice(1)], stride: [1, ...p.stride.slice(1)], count: [to - from, ...p.count.slice(1)] });
    base += p.count[0]!;
  }
  return { selection: pieces.length === 0 ? null : pieces.length === 1 ? pieces[0]! : pieces, byteOffset: mine.byteOffset, byteLength: mine.byteLength };
}

function sameLayout(info: DatasetInfo, op: CreateDatasetOp): boolean {
  const dtype = parseDtype(op.dtype);
  const maxshape = (op.maxshape ?? op.shape).map((d) => (d === null ? -1 : d));
  return (
    info.dtype.kind === dtype.kind &&
    info.dtype.size === dtype.size &&
    (dtype.size === 1 || info.dtype.order === dtype.order) &&
    JSON.stringify(info.shape) === JSON.stringify(op.shape) &&
    JSON.stringify(info.maxshape) === JSON.stringify(maxshape) &&
    (!op.chunks || JSON.stringify(info.chunks) === JSON.stringify(op.chunks))
  );
}

/**
 * Creation is idempotent for a retried job: after a crash the dataset may already be in the
 * file, created by the interrupted attempt. The API refuses a second creation of one path,
 * so an existing dataset with exactly this layout is this job's own.
 */
async function createDataset(file: H5File, op: CreateDatasetOp): Promise<void> {
  try {
    await file.createDataset(op.path, {
      dtype: parseDtype(op.dtype),
      shape: op.shape,
      ...(op.maxshape ? { maxshape: op.maxshape.map((d) => (d === null ? -1 : d)) } : {}),
      ...(op.chunks ? { chunks: op.chunks } : {}),
      ...(op.gzip !== undefined ? { gzip: op.gzip } : {}),
      ...(op.shuffle ? { shuffle: true } : {}),
      ...(op.fillValue !== undefined ? { fillValue: Buffer.from(op.fillValue, 'base64') } : {}),
    });
  } catch (err) {
    if (!(err instanceof Ph5NativeError) || err.code !== 'PH5_ERR_EXISTS') throw err;
    const info = await file.datasetInfo(op.path).catch(() => null);
    if (!info || !sameLayout(info, op)) throw err;
  }
}

/**
 * Fault injection for the watchdog's test (PH5_FAULT_HANG_DATASET, never set in
 * production): rank 1 never joins the collective steps of a write into that dataset, as a
 * rank stuck inside HDF5 or MPI would not, so the other ranks wait in the step's agreement.
 */
async function injectedHang(plan: Plan, s: WriteStep | { op: string }, rank: number): Promise<void> {
  const target = process.env.PH5_FAULT_HANG_DATASET;
  if (!target || rank !== 1 || s.op !== 'write' || (s as WriteStep).path !== target) return;
  process.stderr.write(`worker[${rank}] fault injection: hanging in a collective in epoch ${plan.epoch}\n`);
  // A timer keeps the process alive: an empty event loop would end it (a crash, not a hang).
  await new Promise<never>(() => setInterval(() => {}, 60_000));
}

/**
 * Whether a write step goes into a variable-length string dataset. Its payload is then
 * fixed-width slots (S<n>), so only such steps are asked about; every rank asks (a
 * metadata read, collective on a parallel file). A dataset that cannot be described is
 * left to the write itself to fail.
 */
async function writesStrings(file: H5File, s: WriteStep): Promise<boolean> {
  const info = await file.datasetInfo(s.path).catch(() => null);
  return info?.dtype.kind === 'string';
}

export interface ApplyHooks {
  /** Rank 0: the fencing check before every step that changes the file (throws if the lease is gone). */
  beforeStep?: () => Promise<void>;
  /** Rank 0: a step finished (for progress reports). */
  afterStep?: (index: number) => void;
  /** Rank 0: a collective phase starts: 'open', a step's index, or 'close' (the watchdog). */
  phase?: (phase: 'open' | number | 'close') => void;
  /** HDF5 failed on this rank inside a collective write: the other ranks may be stuck in it. */
  collectiveBroken?: (step: number) => void;
}

/**
 * Whether a write failed inside H5Dwrite itself on a parallel file (the native layer names
 * it "writing <path>"), rather than in the checks all ranks agree on before entering it.
 */
function failedInsideCollective(err: unknown, datasetPath: string): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === 'PH5_ERR_HDF5' && typeof e.message === 'string' && e.message.startsWith(`writing ${datasetPath}`);
}

export async function applyPlan(plan: Plan, rank: number, size: number, hooks: ApplyHooks = {}): Promise<RankReport> {
  const times: Breakdown = { readMs: 0, readWaitMs: 0, writeMs: 0, agreeMs: 0, mappedBytes: 0 };
  const report: RankReport = { rank, steps: plan.steps.map(() => null), failedJobs: {}, openMs: 0, applyMs: 0, closeMs: 0, breakdown: times };
  const guard = hooks.beforeStep ?? (async () => {});
  let t = performance.now();
  // The fencing check first, in a step of its own: a rank that skips a collective open
  // while the others make it would leave them hanging.
  const fenced = await step(guard, false);
  if (fenced.outcome.status !== OK) {
    report.abort = { step: -1, ...failure(fenced.outcome) };
    return report;
  }
  hooks.phase?.('open');
  const opened = await step(() => H5File.open(plan.file, { mode: plan.mode, parallel: true }), false);
  report.openMs = performance.now() - t;
  let file: H5File | null = opened.value;
  if (opened.outcome.status !== OK) {
    // Where the open succeeded on some ranks only, the handle is left open rather than
    // closed: closing is collective, and the ranks whose open failed would not join.
    report.abort = { step: -1, ...failure(opened.outcome) };
    return report;
  }
  t = performance.now();
  const reader = new StagedReader(plan, times);
  // Variable-length strings: HDF5 1.10.8 refuses variable-length data in H5Dwrite on an
  // MPI-IO file, in every transfer mode. So for a run of consecutive string writes every
  // rank closes the parallel file, rank 0 alone opens it with the serial driver and writes
  // each step whole (the staged S<n> slots, turned into strings by the native write), then
  // rank 0 closes it and every rank opens it in parallel again. While in this serial mode
  // `file` is null on every rank; `serial` is rank 0's serial handle (opened lazily).
  let serialMode = false;
  let serial: H5File | null = null;
  /** The step known (agreed) to be the next string write of the run, in serial mode. */
  let nextString = -1;
  const leaveSerial = async (reopen: boolean): Promise<StepOutcome> => {
    serialMode = false;
    const closed = await step(async () => {
      const f = serial;
      serial = null;
      if (f) await f.close({ sync: FILE_SYNC });
    }, false);
    if (!reopen || closed.outcome.status !== OK) return closed.outcome;
    const reopened = await step(() => H5File.open(plan.file, { mode: 'rw', parallel: true }), false);
    if (reopened.outcome.status === OK) file = reopened.value;
    return reopened.outcome;
  };
  for (let i = 0; i < plan.steps.length; i++) {
    const s = plan.steps[i]!;
    if (s.jobs.every((j) => report.failedJobs[j])) continue;
    const alone = s.jobs.length === 1;
    hooks.phase?.(i);
    await injectedHang(plan, s, rank);
    let outcome: StepOutcome;
    let stepReport: StepReport = {};
    const stringStep = serialMode && nextString === i;
    if (serialMode && !stringStep) {
      const left = await leaveSerial(true);
      if (left.status !== OK) {
        report.abort = { step: i, ...failure(left) };
        break;
      }
    }
    // Open (in parallel) in every step but the string writes of serial mode.
    const open = file!;
    if (s.op === 'createDataset') {
      ({ outcome } = await step(async () => {
        await guard();
        await createDataset(open, s.create);
      }, alone));
    } else if (s.op === 'meta') {
      ({ outcome } = await step(async () => {
        await guard();
        await applyMeta(open, s.meta);
      }, alone));
    } else if (stringStep || (parseDtype(s.payloadDtype).kind === 'bytes' && (await mpi.allreduceMin((await writesStrings(open, s)) ? 1 : 0)) === 1)) {
      // (All ranks take the same branch: the minimum of their answers.)
      if (!serialMode) {
        const closed = await step(() => open.close({ sync: FILE_SYNC }), false);
        file = null;
        if (closed.outcome.status !== OK) {
          report.abort = { step: i, ...failure(closed.outcome) };
          break;
        }
        serialMode = true;
      }
      const written = await step(
        async () => {
          if (rank !== 0) return;
          await guard();
          serial ??= await H5File.open(plan.file, { mode: 'rw', parallel: false });
          const data = await reader.take(i, s.segments, 0, s.bytes);
          try {
            // A point write's selection is its staged coordinates (all of them: rank 0 writes alone).
            const selection = s.points ? { points: await readCoordinates(plan, s.points.coords) } : (s.parts ?? s.hyperslab);
            await timed(times, 'writeMs', serial.write(s.path, selection, data, { memDtype: parseDtype(s.payloadDtype) }));
          } finally {
            reader.done(data);
          }
        },
        alone,
        times,
      );
      outcome = written.outcome;
      if (outcome.status === OK)
        stepReport = {
          collective: false,
          noCollectiveCause: ['variable-length strings: written by rank 0 on the file opened serially'],
          bytes: rank === 0 ? s.bytes : 0,
        };
      // Is the next step a string write too? Rank 0 asks its serial file; the others agree.
      const next = plan.steps[i + 1];
      let more = false;
      if (outcome.status !== ABORT && next?.op === 'write' && parseDtype(next.payloadDtype).kind === 'bytes') {
        const mine = rank === 0 ? (serial ? await writesStrings(serial, next) : false) : true;
        more = (await mpi.allreduceMin(mine ? 1 : 0)) === 1;
      }
      nextString = more ? i + 1 : -1;
    } else {
      const memDtype = parseDtype(s.payloadDtype);
      const mine = rankShare(s, memDtype.size, rank, size);
      const read = await step(
        () =>
          Promise.all([reader.take(i, s.segments, mine.byteOffset, mine.byteLength), guard(), s.points ? readCoordinates(plan, s.points.coords) : undefined]),
        alone,
        times,
      );
      outcome = read.outcome;
      if (outcome.status === OK) {
        // The next step's share is read while this one writes (its buffer is the other one).
        const next = plan.steps[i + 1];
        // Not for fixed-width slots: they may be a string write, which rank 0 reads whole.
        if (next?.op === 'write' && parseDtype(next.payloadDtype).kind !== 'bytes') {
          const theirs = rankShare(next, parseDtype(next.payloadDtype).size, rank, size);
          reader.readAhead(i + 1, next.segments, theirs.byteOffset, theirs.byteLength);
        }
        // The whole step's selection goes along: every rank checks the same chunks.
        const pointed = s.points ? rankPoints(s, read.value[2]!, rank, size) : null;
        const global = pointed?.global ?? s.parts ?? s.hyperslab;
        const selection = pointed?.selection ?? mine.selection;
        const written = await step(
          () =>
            timed(times, 'writeMs', open.write(s.path, selection, read.value[0], { collective: TRANSFER, memDtype, global })).catch((err: unknown) => {
              if (failedInsideCollective(err, s.path)) hooks.collectiveBroken?.(i);
              throw err;
            }),
          alone,
          times,
        );
        outcome = written.outcome;
        if (outcome.status === OK) {
          stepReport = { collective: written.value.collective, noCollectiveCause: written.value.noCollectiveCause, bytes: mine.byteLength };
        }
      }
      // Written or not, the step is done with its share (undefined: its read failed).
      reader.done((read.value as [Buffer, void, unknown] | undefined)?.[0]);
    }
    if (outcome.status === OK) {
      report.steps[i] = stepReport;
      hooks.afterStep?.(i);
    } else if (outcome.status === JOB_FAILED) {
      report.failedJobs[s.jobs[0]!] = failure(outcome);
    } else {
      report.abort = { step: i, ...failure(outcome) };
      break;
    }
  }
  // Serial mode at the end (or an abort in it): rank 0 closes its serial file; nothing is
  // open in parallel then.
  if (serialMode) {
    const left = await leaveSerial(false);
    if (left.status !== OK && !report.abort) report.abort = { step: plan.steps.length, ...failure(left) };
  }
  // No staged read may outlive its epoch (its buffer, its descriptor).
  await reader.settle();
  report.applyMs = performance.now() - t;
  t = performance.now();
  // Closing flushes the metadata and, with PH5_FILE_SYNC on, syncs the file to stable
  // storage on every rank; a failure here means the epoch's changes may not all be on disk,
  // so no job of it may be reported done (rank 0 moves the cursor only after this).
  hooks.phase?.('close');
  const last = file;
  const closed = last ? await step(() => last.close({ sync: FILE_SYNC }), false) : null;
  if (closed && closed.outcome.status !== OK && !report.abort) {
    const f = failure(closed.outcome);
    report.abort = { step: plan.steps.length, code: f.code, message: `closing the file: ${f.message}` };
  }
  report.closeMs = performance.now() - t;
  return report;
}
