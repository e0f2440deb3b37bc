/**
 * A parallel write refused to touch chunks the file allocates on demand (made by h5py,
 * say: PH5_ERR_NEEDS_ALLOCATION). With the file closed on every rank, rank 0 allocates the
 * step's chunks alone with the serial library, and the next epoch writes them in parallel.
 */
import { H5File } from '../../../native/lib/index.js';
import type { WriteLease } from '../../shared/file-lock.js';
import { readCoordinates } from '../apply.js';
import type { RankFailure, Step } from '../protocol.js';
import type { Logger } from '../log.js';
import { emitEvent } from './events.js';

export interface ChunkTarget {
  key: string;
  /** The last write step whose missing chunks were allocated: a second refusal of it is its failure. */
  prepared: string | null;
}

/** Answers the failure to blame on the step, or null when the step can run again. */
export async function prepareChunks(
  target: ChunkTarget,
  filePath: string,
  staging: string,
  lease: WriteLease,
  step: Step,
  log: Logger,
): Promise<RankFailure | null> {
  if (step.op !== 'write') return { code: 'PH5_ERR_WORKER', message: `step ${step.op} asked for chunk allocation` };
  const points = step.points;
  const key = points ? `${step.path} points ${points.coords.staged}@${points.coords.offset}` : `${step.path} ${JSON.stringify(step.parts ?? step.hyperslab)}`;
  if (target.prepared === key) return { code: 'PH5_ERR_LAYOUT', message: `the chunks of ${step.path} that this write needs could not be allocated` };
  if (!(await lease.check({ fresh: true }))) return { code: 'PH5_ERR_LEASE_LOST', message: `the write lease on ${target.key} (fence ${lease.fence}) was lost` };
  const started = Date.now();
  try {
    // A point write's chunks are those its points touch (all of the step's points).
    const selection = points ? { points: await readCoordinates({ staging }, points.coords) } : (step.parts ?? step.hyperslab);
    const file = await H5File.open(filePath, { mode: 'rw', parallel: false });
    try {
      const allocated = await file.prepareChunks(step.path, selection);
      const ms = Date.now() - started;
      log.info(`${target.key}:${step.path}: allocated ${allocated} missing chunks serially for a parallel write (${ms} ms)`);
      emitEvent(log, 'info', { event: 'chunks-allocated', file: target.key, path: step.path, count: allocated, ms });
    } finally {
      await file.close();
    }
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { code: e.code ?? 'PH5_ERR_WORKER', message: `allocating chunks of ${step.path}: ${e.message}` };
  }
  target.prepared = key;
  return null;
}
