/**
 * Splits a write's selection across MPI ranks: contiguous, balanced blocks along the
 * first axis. Because the staged payload is the selection in C order, each rank's block
 * is one contiguous byte range of the payload, so a rank reads exactly its part with a
 * single positioned read and never touches the rest.
 */
import { elementCount, type Hyperslab } from './selection.js';

export interface RankSlice {
  rank: number;
  /** Rows [rowStart, rowStart + rows) of the selection's first axis; rows may be 0. */
  rowStart: number;
  rows: number;
  /** The rank's part as a hyperslab of the dataset, or null when it has nothing to write. */
  hyperslab: Hyperslab | null;
  /** Where the rank's bytes sit in the staged payload. */
  byteOffset: number;
  byteLength: number;
}

export function decompose(selection: Hyperslab, itemSize: number, ranks: number): RankSlice[] {
  if (!Number.isInteger(ranks) || ranks < 1) throw new RangeError(`ranks must be a positive integer, got ${ranks}`);
  const totalRows = selection.count[0] ?? 1;
  // A 0-d (scalar) selection has no first axis: rank 0 writes it whole.
  const rowElements = elementCount(selection.count.slice(1));
  const rowBytes = rowElements * itemSize;
  const base = Math.floor(totalRows / ranks);
  const extra = totalRows % ranks;
  const slices: RankSlice[] = [];
  let row = 0;
  for (let rank = 0; rank < ranks; rank++) {
    const rows = selection.count.length === 0 ? (rank === 0 ? 1 : 0) : base + (rank < extra ? 1 : 0);
    let hyperslab: Hyperslab | null = null;
    if (rows > 0 && selection.count.length > 0) {
      hyperslab = {
        start: [selection.start[0]! + row * selection.stride[0]!, ...selection.start.slice(1)],
        stride: [...selection.stride],
        count: [rows, ...selection.count.slice(1)],
      };
    } else if (rows > 0) {
      hyperslab = { start: [], stride: [], count: [] };
    }
    slices.push({ rank, rowStart: row, rows, hyperslab, byteOffset: row * rowBytes, byteLength: rows * rowBytes });
    row += rows;
  }
  return slices;
}
