/**
 * HSDS-style selections: `[0:42]`, `[10:20,0:5:2]`, `[3]`, `[:, 2:]`.
 *
 * Each dimension is `start:stop:step` with stop exclusive (numpy slicing), or a single
 * index `i` (meaning `i:i+1`; the dimension is kept, so shapes stay N-dimensional).
 * Negative indices are refused rather than wrapped: a remote write that silently lands at
 * the other end of a dataset is worse than an error.
 *
 * Empty selections are valid (the append idiom reads and writes datasets whose extent is
 * 0 in some dimension): `start == stop` selects nothing in that dimension (`[5:5]`, also
 * `[0:0]` of an empty dimension), and no selection of an empty dataset selects all of its
 * zero elements. `start > stop` is still refused: it is a mistake, not an empty range.
 */
import type { Hyperslab } from '../../native/lib/index.js';
import { InputError } from './input-error.js';

/** What HDF5's H5Sselect_hyperslab needs, one entry per dimension: the addon's own type. */
export type { Hyperslab } from '../../native/lib/index.js';

interface DimSlice {
  start?: number;
  stop?: number;
  step?: number;
  index?: number;
}

const MAX_SELECT_LENGTH = 4096;

function selectionError(message: string): InputError {
  return new InputError('PH5_ERR_SELECTION', message);
}

function parseInteger(text: string, what: string, raw: string): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  if (!/^[0-9]+$/.test(t)) throw selectionError(`Invalid ${what} '${t}' in selection '${raw}': use non-negative integers.`);
  const n = Number(t);
  if (!Number.isSafeInteger(n)) throw selectionError(`The ${what} '${t}' in selection '${raw}' is too large.`);
  return n;
}

function parseSlices(raw: string): DimSlice[] {
  if (raw.length > MAX_SELECT_LENGTH) throw selectionError('Selection is too long.');
  const text = raw.trim();
  if (!text.startsWith('[') || !text.endsWith(']')) {
    throw selectionError(`Selection '${raw}' must look like [start:stop:step,...], e.g. [0:42] or [10:20,0:5:2].`);
  }
  const body = text.slice(1, -1);
  if (body.trim() === '') throw selectionError(`Selection '${raw}' names no dimension.`);
  return body.split(',').map((part) => {
    const pieces = part.split(':');
    if (pieces.length === 1) {
      const index = parseInteger(pieces[0]!, 'index', raw);
      if (index === undefined) throw selectionError(`Selection '${raw}' has an empty dimension.`);
      return { index };
    }
    if (pieces.length > 3) throw selectionError(`Dimension '${part}' of selection '${raw}' has too many ':'.`);
    return {
      start: parseInteger(pieces[0]!, 'start', raw),
      stop: parseInteger(pieces[1]!, 'stop', raw),
      step: pieces.length === 3 ? parseInteger(pieces[2]!, 'step', raw) : undefined,
    };
  });
}

/**
 * Resolves a selection string against a dataset shape. `undefined` selects everything
 * (for an empty dataset: its zero elements). Throws PH5_ERR_SELECTION when the selection
 * does not fit the shape; an empty selection (some count 0) is valid.
 */
export function resolveSelection(select: string | undefined, shape: readonly number[]): Hyperslab {
  if (select === undefined || select === '') {
    return { start: shape.map(() => 0), stride: shape.map(() => 1), count: [...shape] };
  }
  const slices = parseSlices(select);
  if (slices.length !== shape.length) {
    throw selectionError(`Selection '${select}' has ${slices.length} dimension(s) but the dataset has ${shape.length}.`);
  }
  const hs: Hyperslab = { start: [], stride: [], count: [] };
  slices.forEach((s, i) => {
    const dim = shape[i]!;
    let start: number;
    let stop: number;
    let step: number;
    if (s.index !== undefined) {
      start = s.index;
      stop = s.index + 1;
      step = 1;
    } else {
      start = s.start ?? 0;
      stop = s.stop ?? dim;
      step = s.step ?? 1;
    }
    if (step < 1) throw selectionError(`Step must be at least 1 in dimension ${i} of '${select}'.`);
    if (stop > dim) throw selectionError(`Selection '${select}' reaches ${stop} in dimension ${i}, past its extent ${dim}.`);
    if (start > stop) throw selectionError(`Selection '${select}' has start ${start} after stop ${stop} in dimension ${i}.`);
    hs.start.push(start);
    hs.stride.push(step);
    hs.count.push(Math.ceil((stop - start) / step));
  });
  return hs;
}

export function elementCount(count: readonly number[]): number {
  return count.reduce((a, b) => a * b, 1);
}

/** Whether a hyperslab selects no element (some dimension's count is 0). */
export function isEmptySelection(hs: Hyperslab): boolean {
  return hs.count.some((c) => c === 0);
}

/** The canonical text of a hyperslab, e.g. `[0:42]` or `[10:20,0:5:2]` (empty: `[5:5]`). */
export function formatSelection(hs: Hyperslab): string {
  const dims = hs.start.map((start, i) => {
    if (hs.count[i] === 0) return `${start}:${start}`;
    const stride = hs.stride[i]!;
    const stop = start + (hs.count[i]! - 1) * stride + 1;
    return stride === 1 ? `${start}:${stop}` : `${start}:${stop}:${stride}`;
  });
  return `[${dims.join(',')}]`;
}
