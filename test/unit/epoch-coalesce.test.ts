/** Epoch planning: which writes are coalesced into one collective step, and which are not. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobData, WriteOp } from '../../services/shared/jobs.js';
import { planSteps } from '../../services/worker/epoch.js';

function write(path: string, start: number[], count: number[], staged: string, stride?: number[]): JobData {
  const bytes = count.reduce((a, b) => a * b, 1) * 4;
  const op: WriteOp = {
    op: 'write',
    path,
    dtype: '<i4',
    payloadDtype: '<i4',
    select: '',
    staged,
    bytes,
    hyperslab: { start, stride: stride ?? start.map(() => 1), count },
  };
  return { v: 1, project: 'p', file: 'f.h5', acceptedAt: 0, ops: [op] };
}

test('adjacent row blocks of one dataset become one step, in either order', () => {
  const steps = planSteps([
    { data: write('/d', [0, 0], [2, 3], 'a') },
    { data: write('/d', [2, 0], [1, 3], 'b') },
    { data: write('/d', [-0 + 3, 0], [2, 3], 'c') },
  ]);
  assert.equal(steps.length, 1);
  const s = steps[0]!;
  assert.equal(s.op, 'write');
  if (s.op !== 'write') return;
  assert.deepEqual(s.hyperslab, { start: [0, 0], stride: [1, 1], count: [5, 3] });
  assert.deepEqual(
    s.segments.map((g) => g.staged),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(s.jobs, [0, 1, 2]);

  const before = planSteps([{ data: write('/d', [4], [2], 'x') }, { data: write('/d', [2], [2], 'y') }]);
  assert.equal(before.length, 1);
  if (before[0]!.op === 'write')
    assert.deepEqual(
      before[0]!.segments.map((g) => g.staged),
      ['y', 'x'],
    );
});

test('overlapping, strided, other-dataset or other-columns writes stay separate steps; distant blocks form a union', () => {
  assert.equal(planSteps([{ data: write('/d', [0], [4], 'a') }, { data: write('/d', [2], [4], 'b') }]).length, 2, 'overlap');
  const gap = planSteps([{ data: write('/d', [0], [2], 'a') }, { data: write('/d', [3], [2], 'b') }]);
  assert.equal(gap.length, 1, 'gap: one step, a union of the two blocks');
  assert.deepEqual(
    gap[0]!.op === 'write' && gap[0]!.parts?.map((p) => [p.start[0], p.count[0]]),
    [
      [0, 2],
      [3, 2],
    ],
    'gap',
  );
  assert.equal(planSteps([{ data: write('/d', [0], [2], 'a', [2]) }, { data: write('/d', [4], [2], 'b', [2]) }]).length, 2, 'strided');
  assert.equal(planSteps([{ data: write('/d', [0], [2], 'a') }, { data: write('/e', [2], [2], 'b') }]).length, 2, 'dataset');
  assert.equal(planSteps([{ data: write('/d', [0, 0], [2, 2], 'a') }, { data: write('/d', [2, 1], [2, 2], 'b') }]).length, 2, 'columns');
  assert.equal(planSteps([{ data: write('/d', [0], [2], 'a') }, { data: write('/d', [2], [2], 'b'), alone: true }]).length, 2, 'alone');
});

test('a large write is split into row blocks that cover its payload in order', () => {
  const steps = planSteps([{ data: write('/d', [10, 0], [10, 4], 'big') }], { maxStepBytes: 3 * 16 });
  assert.deepEqual(
    steps.map((s) => (s.op === 'write' ? [s.hyperslab.start[0], s.hyperslab.count[0], s.segments[0]!.offset, s.bytes] : null)),
    [
      [10, 3, 0, 48],
      [13, 3, 48, 48],
      [16, 3, 96, 48],
      [19, 1, 144, 16],
    ],
  );
});
