/**
 * Applies one plan on one rank. Every rank runs this with the same plan; the HDF5 calls
 * are collective, so every rank must make the same calls in the same order, and a rank
 * with nothing to write still joins each write with an empty selection.
 *
 * A failure local to one rank (its slice of the payload unreadable) must not leave the
 * others blocked inside a collective call: before each collective step the ranks agree
 * (MPI allreduce of an ok flag) and all skip it together.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { H5File, mpi, Ph5NativeError } from '../../native/lib/index.js';
import { decompose } from '../shared/decompose.js';
import { parseDtype } from '../shared/dtype.js';
import { InputError } from '../shared/input-error.js';
import type { CreateDatasetOp, WriteOp } from '../shared/jobs.js';
import type { Plan, RankReport } from './protocol.js';

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

/** All ranks learn whether every rank succeeded at a step; the failing rank keeps its own reason. */
async function agree(localError: RankError | null): Promise<void> {
  const allOk = await mpi.allreduceMin(localError ? 0 : 1);
  if (localError) throw localError;
  if (allOk !== 1) throw new RankError('PH5_ERR_PEER', 'another rank failed at this step');
}

async function step<T>(fn: () => Promise<T>): Promise<T> {
  let value: T | undefined;
  let error: RankError | null = null;
  try {
    value = await fn();
  } catch (err) {
    error = toRankError(err);
  }
  await agree(error);
  return value as T;
}

function stagedPath(plan: Plan, staged: string): string {
  // Job data comes from Redis: never let it name a file outside the staging directory.
  if (path.basename(staged) !== staged || staged.startsWith('.')) {
    throw new RankError('PH5_ERR_STAGING', `invalid staged payload name '${staged}'`);
  }
  return path.join(plan.staging, staged);
}

async function readSlice(file: string, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  if (length === 0) return buf;
  const fh = await open(file, 'r');
  try {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new RankError('PH5_ERR_STAGING', `staged payload ${path.basename(file)} is shorter than expected`);
      done += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return buf;
}

async function createDataset(file: H5File, op: CreateDatasetOp): Promise<RankReport['ops'][number]> {
  await step(() =>
    file.createDataset(op.path, {
      dtype: parseDtype(op.dtype),
      shape: op.shape,
      ...(op.maxshape ? { maxshape: op.maxshape.map((d) => (d === null ? -1 : d)) } : {}),
      ...(op.chunks ? { chunks: op.chunks } : {}),
      ...(op.fillValue !== undefined ? { fillValue: Buffer.from(op.fillValue, 'base64') } : {}),
    }),
  );
  return {};
}

async function write(file: H5File, plan: Plan, op: WriteOp, rank: number, size: number): Promise<RankReport['ops'][number]> {
  const memDtype = parseDtype(op.payloadDtype);
  const mine = decompose(op.hyperslab, memDtype.size, size)[rank]!;
  const data = await step(() => readSlice(stagedPath(plan, op.staged), mine.byteOffset, mine.byteLength));
  const report = await step(() => file.write(op.path, mine.hyperslab, data, { collective: true, memDtype }));
  return { collective: report.collective, noCollectiveCause: report.noCollectiveCause, bytes: mine.byteLength };
}

export async function applyPlan(plan: Plan, rank: number, size: number): Promise<RankReport> {
  const report: RankReport = { rank, ok: true, ops: [], openMs: 0, applyMs: 0, closeMs: 0 };
  let t = performance.now();
  let file: H5File | undefined;
  try {
    file = await step(() => H5File.open(plan.file, { mode: plan.mode, parallel: true }));
    report.openMs = performance.now() - t;
    t = performance.now();
    for (const op of plan.ops) {
      report.ops.push(op.op === 'createDataset' ? await createDataset(file, op) : await write(file, plan, op, rank, size));
    }
    report.applyMs = performance.now() - t;
  } catch (err) {
    const e = toRankError(err);
    report.ok = false;
    report.error = { code: e.code, message: e.message };
  } finally {
    t = performance.now();
    if (file) {
      try {
        await file.close();
      } catch (err) {
        const e = toRankError(err);
        if (report.ok) report.error = { code: e.code, message: `closing the file: ${e.message}` };
        report.ok = false;
      }
    }
    report.closeMs = performance.now() - t;
  }
  return report;
}
