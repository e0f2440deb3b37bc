/**
 * Point selections (as HSDS offers them): a list of coordinates, one per element, e.g.
 * `[[1, 2], [3, 4]]` for two elements of a 2-D dataset. Values travel 1-D, in the order of
 * the list. The coordinates go to HDF5 (H5Sselect_elements) and to the staging area as
 * unsigned 64-bit little-endian integers, point after point (`encodePoints`).
 *
 * Refused with PH5_ERR_SELECTION: anything but a non-empty list of lists of non-negative
 * integers, a point of the wrong rank or outside the extent, a scalar dataset, more than
 * MAX_POINTS points, and (writes) the same point twice: HDF5 does not say which of two
 * writes of one element wins.
 */
import { InputError } from './input-error.js';

/** Most points one request may name (8 MiB of coordinates per dimension). */
export const MAX_POINTS = 1_048_576;

/** Bytes of one coordinate in the staged and native form. */
export const COORDINATE_BYTES = 8;

export interface ResolvedPoints {
  /** Number of points. */
  count: number;
  /** Coordinates per point (the dataset's rank). */
  rank: number;
  /** The coordinates, uint64 little-endian, point after point (count × rank × 8 bytes). */
  coords: Buffer;
}

function pointsError(message: string): InputError {
  return new InputError('PH5_ERR_SELECTION', message);
}

/** The JSON text of `?points=` as a value (refused with PH5_ERR_SELECTION when not JSON). */
export function parsePointsText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw pointsError(`?points= must be a JSON list of coordinates, e.g. [[1,2],[3,4]]; got '${text.length > 80 ? `${text.slice(0, 80)}…` : text}'.`);
  }
}

/**
 * Checks a list of points against a dataset's shape and encodes it. `unique`: refuse a
 * point named twice (writes). A 1-D dataset's points may also be given as plain indices
 * (`[3, 7]` for `[[3], [7]]`).
 */
export function resolvePoints(value: unknown, shape: readonly number[], opts: { unique: boolean }): ResolvedPoints {
  const rank = shape.length;
  if (rank === 0) throw pointsError('A scalar dataset has no points to select: write or read it without a selection.');
  if (!Array.isArray(value)) throw pointsError('points must be a list of coordinates, e.g. [[1,2],[3,4]].');
  if (value.length === 0) throw pointsError('points names no point: give at least one.');
  if (value.length > MAX_POINTS) throw pointsError(`points names ${value.length} points; at most ${MAX_POINTS} per request.`);
  const count = value.length;
  const coords = Buffer.alloc(count * rank * COORDINATE_BYTES);
  // Duplicates are found by linear index where it is exact (almost always), else by text.
  const linear = shape.reduce((a, b) => a * b, 1) <= Number.MAX_SAFE_INTEGER;
  const seen = opts.unique ? new Set<number | string>() : null;
  for (let i = 0; i < count; i++) {
    const raw: unknown = value[i];
    const point = rank === 1 && typeof raw === 'number' ? [raw] : raw;
    if (!Array.isArray(point)) throw pointsError(`Point #${i} is not a list of coordinates: ${JSON.stringify(raw)}.`);
    if (point.length !== rank)
      throw pointsError(`Point #${i} ${JSON.stringify(point)} has ${point.length} coordinate(s); the dataset has ${rank} dimension(s).`);
    let index = 0;
    for (let d = 0; d < rank; d++) {
      const c: unknown = point[d];
      if (typeof c !== 'number' || !Number.isSafeInteger(c) || c < 0)
        throw pointsError(`Point #${i} ${JSON.stringify(point)}: coordinates are non-negative integers.`);
      if (c >= shape[d]!) throw pointsError(`Point #${i} ${JSON.stringify(point)} is outside the extent [${shape.join(', ')}] in dimension ${d}.`);
      coords.writeBigUInt64LE(BigInt(c), (i * rank + d) * COORDINATE_BYTES);
      index = index * shape[d]! + c;
    }
    if (seen) {
      const key = linear ? index : (point as number[]).join(',');
      if (seen.has(key)) throw pointsError(`Point #${i} ${JSON.stringify(point)} is named twice: a write may name each element once.`);
      seen.add(key);
    }
  }
  return { count, rank, coords };
}

/** The coordinates of points `[from, to)` of an encoded list of `rank`-dimensional points. */
export function pointRange(coords: Buffer, rank: number, from: number, to: number): Buffer {
  return coords.subarray(from * rank * COORDINATE_BYTES, to * rank * COORDINATE_BYTES);
}

/** The canonical text a point write shows as its selection (job views, reports). */
export function formatPoints(count: number): string {
  return `points(${count})`;
}
