/**
 * How a streamed read cuts a selection into pieces: the pieces, in order, are exactly the
 * selection's elements in C order; each fits in the piece size (or is one element); the
 * count is known up front.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blockedDimension, pieceCount, readPieces } from '../../services/shared/read-pieces.js';
import type { Hyperslab } from '../../services/shared/selection.js';

/** Every element of `hs` as a coordinate string, in C order. */
function coords(hs: Hyperslab): string[] {
  const out: string[] = [];
  const walk = (d: number, at: number[]) => {
    if (d === hs.count.length) return void out.push(at.join(','));
    for (let i = 0; i < hs.count[d]!; i++) walk(d + 1, [...at, hs.start[d]! + i * hs.stride[d]!]);
  };
  walk(0, []);
  return out;
}

test('the blocked dimension is the outermost whose rows fit in a piece', () => {
  const cases: Array<[number[], number, number, number]> = [
    [[1000], 8, 4096, 0],
    [[10, 100], 8, 4096, 0], // a row is 800 bytes
    [[3, 3000], 8, 4096, 1], // a row is 24000 bytes: one index of dim 0 at a time
    [[3, 4, 3000], 2, 4096, 2],
    [[3, 4, 300], 2, 4096, 0], // 2400 bytes per row of dim 0
    [[5], 8192, 4096, 0], // one element is bigger than a piece
  ];
  for (const [count, size, piece, d] of cases) assert.equal(blockedDimension(count, size, piece), d, `${count} × ${size}`);
});

test('pieces cover the selection in C order, each within the piece size, as many as announced', () => {
  const cases: Array<[Hyperslab, number, number]> = [
    [{ start: [0], stride: [1], count: [1000] }, 8, 4096],
    [{ start: [7], stride: [3], count: [998] }, 8, 4096], // not a multiple of the piece
    [{ start: [3, 5], stride: [2, 7], count: [47, 13] }, 4, 4096],
    [{ start: [0, 1], stride: [1, 2], count: [3, 1499] }, 8, 4096],
    [{ start: [1, 0, 5], stride: [1, 3, 3], count: [2, 2, 965] }, 2, 512],
    [{ start: [2], stride: [1], count: [5] }, 8192, 4096],
    [{ start: [0, 0], stride: [1, 1], count: [4, 4] }, 8, 1 << 20], // one piece
  ];
  for (const [hs, size, piece] of cases) {
    const pieces = [...readPieces(hs, size, piece)];
    assert.equal(pieces.length, pieceCount(hs, size, piece), JSON.stringify(hs));
    for (const p of pieces) {
      assert.ok(p.elements * size <= piece || p.elements === 1, `${JSON.stringify(p)} exceeds ${piece}`);
      assert.equal(
        p.elements,
        p.hyperslab!.count.reduce((a, b) => a * b, 1),
      );
    }
    assert.deepEqual(
      pieces.flatMap((p) => coords(p.hyperslab!)),
      coords(hs),
      JSON.stringify(hs),
    );
  }
});

test('a scalar dataset is one piece with no selection', () => {
  assert.deepEqual([...readPieces({ start: [], stride: [], count: [] }, 8, 4096)], [{ hyperslab: null, elements: 1 }]);
  assert.equal(pieceCount({ start: [], stride: [], count: [] }, 8, 4096), 1);
});

test('an empty selection has no pieces (its answer is just the empty value)', () => {
  for (const hs of [
    { start: [5], stride: [1], count: [0] },
    { start: [0, 0], stride: [1, 1], count: [2, 0] },
    { start: [0, 3, 0], stride: [1, 1, 1], count: [4, 0, 7] },
  ]) {
    assert.equal(pieceCount(hs, 8, 4096), 0, JSON.stringify(hs.count));
    assert.deepEqual([...readPieces(hs, 8, 4096)], []);
  }
});
