/**
 * Point lists (services/shared/points.ts): checked against a shape and encoded as uint64
 * little-endian coordinates, point after point; every refusal is PH5_ERR_SELECTION.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_POINTS, parsePointsText, pointRange, resolvePoints } from '../../services/shared/points.js';

const coords = (b: Buffer) => Array.from({ length: b.length / 8 }, (_, i) => Number(b.readBigUInt64LE(i * 8)));

test('points resolve to their count, rank and coordinates, in the order given', () => {
  const p = resolvePoints(
    [
      [3, 4],
      [0, 0],
      [1, 2],
    ],
    [4, 5],
    { unique: true },
  );
  assert.deepEqual([p.count, p.rank, coords(p.coords)], [3, 2, [3, 4, 0, 0, 1, 2]]);
  assert.deepEqual(coords(resolvePoints([7, [2], 0], [10], { unique: true }).coords), [7, 2, 0], 'a 1-D dataset takes plain indices');
  assert.deepEqual(coords(pointRange(p.coords, 2, 1, 3)), [0, 0, 1, 2]);
  // duplicates: fine in a read
  assert.equal(
    resolvePoints(
      [
        [1, 1],
        [1, 1],
      ],
      [2, 2],
      { unique: false },
    ).count,
    2,
  );
  // beyond 2^53 elements the duplicate check goes by text
  const huge = [2 ** 30, 2 ** 30, 2 ** 30];
  assert.throws(
    () =>
      resolvePoints(
        [
          [1, 2, 3],
          [1, 2, 3],
        ],
        huge,
        { unique: true },
      ),
    /named twice/,
  );
  assert.deepEqual(parsePointsText('[[1,2]]'), [[1, 2]]);
});

test('bad point lists are refused with PH5_ERR_SELECTION', () => {
  const cases: Array<[string, unknown, number[], boolean]> = [
    ['not a list', { a: 1 }, [4], false],
    ['empty', [], [4], false],
    ['point not a list', ['x'], [4, 4], false],
    ['wrong rank', [[1, 2, 3]], [4, 4], false],
    ['plain index on 2-D', [1], [4, 4], false],
    ['negative', [[-1, 0]], [4, 4], false],
    ['fraction', [[0.5, 0]], [4, 4], false],
    ['string coordinate', [['1', 0]], [4, 4], false],
    ['outside', [[4, 0]], [4, 4], false],
    ['outside last dim', [[0, 9]], [4, 9], false],
    ['scalar dataset', [[0]], [], false],
    [
      'duplicate in a write',
      [
        [1, 1],
        [0, 0],
        [1, 1],
      ],
      [4, 4],
      true,
    ],
    ['too many', Array.from({ length: MAX_POINTS + 1 }, () => [0]), [1], false],
  ];
  for (const [name, value, shape, unique] of cases) {
    assert.throws(
      () => resolvePoints(value, shape, { unique }),
      (e: { code?: string }) => e.code === 'PH5_ERR_SELECTION',
      name,
    );
  }
  assert.throws(
    () => parsePointsText('[[1,2]'),
    (e: { code?: string }) => e.code === 'PH5_ERR_SELECTION',
  );
});
