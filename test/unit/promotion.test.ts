/** promotionRun: which of a file's next jobs go to the head of the queue. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { promotionRun } from '../../services/worker/promotion.js';

const held = (...seqs: Array<number | null>) => new Map(seqs.map((seq, i) => [`j${i}`, { seq }]));

test('promotionRun: the next numbers not held here, at most limit of them', () => {
  const table: Array<[next: number, have: Array<number | null>, limit: number, run: number[]]> = [
    [5, [], 3, [5, 6, 7]],
    [5, [6], 3, [5, 7, 8]],
    [5, [9, 10, 11], 4, [5, 6, 7, 8]],
    [1, [2, 3], 2, [1, 4]],
    [1, [null, 3], 3, [1, 2, 4]],
    // A window full of held jobs stops at twice the limit rather than searching on.
    [1, [2, 3, 4, 5, 6, 7], 2, [1]],
    [10, [], 1, [10]],
  ];
  for (const [next, have, limit, run] of table) assert.deepEqual(promotionRun(next, held(...have), limit), run, `next ${next}, held ${have}`);
});
