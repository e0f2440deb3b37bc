/**
 * How a streamed read cuts a selection into pieces: consecutive runs of the selection's
 * C-order elements, each itself a hyperslab of the dataset, so HDF5 reads each piece
 * straight into a piece-sized buffer and the pieces, sent one after the other, are the
 * selection's bytes in order.
 *
 * Row blocks: a piece is a block of whole rows of the outermost dimension whose rows fit
 * in `pieceBytes`; when one row of that dimension is bigger than a piece, each of its
 * indices is taken on its own and the next dimension is blocked the same way. So every
 * piece holds at most `pieceBytes` (at least one element), and all but the last of each
 * block run hold the same number of elements.
 */
import type { Hyperslab } from './selection.js';
import { elementCount } from './selection.js';

export interface ReadPiece {
  /** The piece as a hyperslab of the dataset (null: the whole of a scalar dataset). */
  hyperslab: Hyperslab | null;
  /** Elements in the piece. */
  elements: number;
}

/**
 * The dimension that is blocked: the outermost one whose rows (one index of it, everything
 * inside) fit in a piece. Dimensions before it are walked one index at a time.
 */
export function blockedDimension(count: readonly number[], itemSize: number, pieceBytes: number): number {
  for (let d = 0; d < count.length; d++) {
    if (elementCount(count.slice(d + 1)) * itemSize <= pieceBytes) return d;
  }
  return count.length - 1; // one element is bigger than a piece: one element per piece
}

/** The number of pieces `readPieces` yields. */
export function pieceCount(hs: Hyperslab, itemSize: number, pieceBytes: number): number {
  if (hs.count.length === 0) return 1;
  if (hs.count.some((c) => c === 0)) return 0;
  const d = blockedDimension(hs.count, itemSize, pieceBytes);
  const rowBytes = elementCount(hs.count.slice(d + 1)) * itemSize;
  const rowsPerPiece = Math.max(1, Math.floor(pieceBytes / rowBytes));
  return elementCount(hs.count.slice(0, d)) * Math.ceil(hs.count[d]! / rowsPerPiece);
}

/** The pieces of `hs`, in C order (lazily: a large selection has many). */
export function* readPieces(hs: Hyperslab, itemSize: number, pieceBytes: number): Generator<ReadPiece> {
  const rank = hs.count.length;
  if (rank === 0) {
    yield { hyperslab: null, elements: 1 };
    return;
  }
  if (hs.count.some((c) => c === 0)) return;
  const d = blockedDimension(hs.count, itemSize, pieceBytes);
  const rowElements = elementCount(hs.count.slice(d + 1));
  const rowsPerPiece = Math.max(1, Math.floor(pieceBytes / (rowElements * itemSize)));
  // Odometer over the dimensions before `d` (one index each).
  const outer = new Array<number>(d).fill(0);
  for (;;) {
    for (let row = 0; row < hs.count[d]!; row += rowsPerPiece) {
      const rows = Math.min(rowsPerPiece, hs.count[d]! - row);
      const start = hs.start.map((s, i) => (i < d ? s + outer[i]! * hs.stride[i]! : i === d ? s + row * hs.stride[i]! : s));
      const count = hs.count.map((c, i) => (i < d ? 1 : i === d ? rows : c));
      yield { hyperslab: { start, stride: [...hs.stride], count }, elements: rows * rowElements };
    }
    let i = d - 1;
    while (i >= 0 && ++outer[i]! === hs.count[i]) outer[i--] = 0;
    if (i < 0) return;
  }
}
