import assert from 'node:assert/strict';
import { test } from 'node:test';
import { elementCount, formatSelection, isEmptySelection, resolveSelection } from '../../services/shared/selection.js';

test('HSDS selections resolve to start/stride/count', () => {
  assert.deepEqual(resolveSelection('[0:42]', [42]), { start: [0], stride: [1], count: [42] });
  assert.deepEqual(resolveSelection('[10:20,0:5:2]', [100, 10]), { start: [10, 0], stride: [1, 2], count: [10, 3] });
  assert.deepEqual(resolveSelection('[3]', [10]), { start: [3], stride: [1], count: [1] });
  assert.deepEqual(resolveSelection('[:, 2:]', [4, 6]), { start: [0, 2], stride: [1, 1], count: [4, 4] });
  assert.deepEqual(resolveSelection('[1:10:3]', [10]), { start: [1], stride: [3], count: [3] });
  assert.deepEqual(resolveSelection(undefined, [3, 4]), { start: [0, 0], stride: [1, 1], count: [3, 4] });
});

test('selections format back to canonical text', () => {
  assert.equal(formatSelection(resolveSelection('[0:42]', [42])), '[0:42]');
  assert.equal(formatSelection(resolveSelection('[1:10:3]', [10])), '[1:8:3]');
  assert.equal(formatSelection(resolveSelection('[:, 2:]', [4, 6])), '[0:4,2:6]');
  assert.equal(elementCount([10, 3]), 30);
});

test('selections that do not fit are refused with PH5_ERR_SELECTION', () => {
  const cases: Array<[string, number[]]> = [
    ['[0:43]', [42]],
    ['[6:5]', [42]],
    ['[6:]', [5]],
    ['[5]', [5]],
    ['[0]', [0]],
    ['[0:1]', [0]],
    ['[-1:3]', [42]],
    ['[0:4]', [4, 4]],
    ['[0:2,0:2]', [4]],
    ['[0:4:0]', [4]],
    ['0:4', [4]],
    ['[]', [4]],
    ['[a:b]', [4]],
    ['[1:2:3:4]', [4]],
    ['[99999999999999999999]', [4]],
    ['[,]', [4, 4]],
  ];
  for (const [sel, shape] of cases) {
    assert.throws(
      () => resolveSelection(sel, shape),
      (e: any) => e.code === 'PH5_ERR_SELECTION',
      `${sel} on ${shape}`,
    );
  }
});

test('empty selections are valid: start == stop, and everything of an empty dataset', () => {
  const cases: Array<[string | undefined, number[], number[]]> = [
    ['[5:5]', [42], [0]],
    ['[5:]', [5], [0]],
    ['[0:0, :]', [3, 4], [0, 4]],
    ['[:, 2:2]', [3, 4], [3, 0]],
    [undefined, [0], [0]],
    [undefined, [2, 0], [2, 0]],
    ['[:]', [0], [0]],
    ['[0:0]', [0], [0]],
    ['[:, :]', [0, 3], [0, 3]],
  ];
  for (const [sel, shape, count] of cases) {
    const hs = resolveSelection(sel, shape);
    assert.deepEqual(hs.count, count, `${sel} on ${shape}`);
    assert.equal(isEmptySelection(hs), true);
    assert.equal(elementCount(hs.count), 0);
    // the canonical text resolves to the same selection
    assert.deepEqual(resolveSelection(formatSelection(hs), shape), hs, `${formatSelection(hs)} on ${shape}`);
  }
  assert.equal(formatSelection(resolveSelection('[5:5]', [42])), '[5:5]');
  assert.equal(formatSelection(resolveSelection('[0:0, :]', [3, 4])), '[0:0,0:4]');
  assert.equal(isEmptySelection(resolveSelection('[0:1]', [3])), false);
});
