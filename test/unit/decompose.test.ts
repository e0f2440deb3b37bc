import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decompose } from '../../services/shared/decompose.js';
import { resolveSelection } from '../../services/shared/selection.js';

test('the seed write gives each of 42 ranks one element', () => {
  const slices = decompose(resolveSelection('[0:42]', [42]), 4, 42);
  assert.equal(slices.length, 42);
  slices.forEach((s, i) => {
    assert.deepEqual(s.hyperslab, { start: [i], stride: [1], count: [1] });
    assert.equal(s.byteOffset, i * 4);
    assert.equal(s.byteLength, 4);
  });
});

test('blocks are contiguous, balanced, and cover the payload exactly', () => {
  const sel = resolveSelection('[3:20:2,1:4]', [20, 5]); // 9 rows x 3 columns
  const slices = decompose(sel, 8, 4);
  assert.deepEqual(
    slices.map((s) => s.rows),
    [3, 2, 2, 2],
  );
  assert.deepEqual(slices[1]!.hyperslab, { start: [9, 1], stride: [2, 1], count: [2, 3] });
  let offset = 0;
  for (const s of slices) {
    assert.equal(s.byteOffset, offset);
    offset += s.byteLength;
  }
  assert.equal(offset, 9 * 3 * 8);
});

test('ranks beyond the rows get an empty share but are still listed', () => {
  const slices = decompose(resolveSelection('[0:2]', [10]), 4, 4);
  assert.deepEqual(
    slices.map((s) => s.rows),
    [1, 1, 0, 0],
  );
  assert.equal(slices[3]!.hyperslab, null);
  assert.equal(slices[3]!.byteLength, 0);
});
