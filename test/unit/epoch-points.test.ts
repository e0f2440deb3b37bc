/**
 * Planning an epoch with point writes and empty writes (services/worker/epoch.ts): a point
 * write is a step of its own (never coalesced with row blocks, never split), its values
 * after its staged coordinates; a write of no elements has no step; and a point step's
 * list is shared among ranks in contiguous ranges (apply.ts rankPoints).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobData, WriteOp } from '../../services/shared/jobs.js';
import { pointRange } from '../../services/shared/points.js';
import { rankPoints, rankShare } from '../../services/worker/apply.js';
import { planSteps, type EpochJob } from '../../services/worker/epoch.js';
import type { WriteStep } from '../../services/worker/protocol.js';

function job(op: Partial<WriteOp> & Pick<WriteOp, 'hyperslab' | 'bytes'>): EpochJob {
  const data: JobData = {
    v: 1,
    project: 'p',
    file: 'f.h5',
    acceptedAt: 0,
    ops: [{ op: 'write', path: '/d', dtype: 'float64', payloadDtype: 'float64', select: '-', staged: `s-${Math.random()}.bin`, ...op }],
  };
  return { data };
}
const rows = (start: number, n: number) => job({ hyperslab: { start: [start, 0], stride: [1, 1], count: [n, 4] }, bytes: n * 32 });
const points = (count: number, offset = 0) =>
  job({ hyperslab: { start: [0], stride: [1], count: [count] }, bytes: count * 8, points: { count, rank: 2 }, stagedOffset: offset });

test('a point write is its own step: values after the coordinates, neither coalesced nor split', () => {
  const steps = planSteps([rows(0, 2), points(5, 100), rows(2, 2)], { maxStepBytes: 16 });
  const kinds = steps.map((s) => (s.op === 'write' ? (s.points ? 'points' : 'rows') : s.op));
  assert.equal(kinds.filter((k) => k === 'points').length, 1);
  const p = steps.find((s) => s.op === 'write' && s.points) as WriteStep;
  assert.deepEqual(p.points, { rank: 2, coords: { staged: p.segments[0]!.staged, offset: 100, bytes: 5 * 2 * 8 } });
  assert.deepEqual(p.segments, [{ staged: p.points.coords.staged, offset: 100 + 80, bytes: 40 }]);
  assert.equal(p.bytes, 40, 'not split below maxStepBytes');
  // the rows on either side stay in their order around it (the point write may overlap them)
  assert.deepEqual(kinds.slice(kinds.indexOf('points') - 1, kinds.indexOf('points') + 2), ['rows', 'points', 'rows']);
  // two point writes in a row: two steps
  assert.equal(planSteps([points(3), points(3)]).length, 2);
});

test('a write of no elements has no step', () => {
  const empty = job({ hyperslab: { start: [5, 0], stride: [1, 1], count: [0, 4] }, bytes: 0 });
  assert.deepEqual(planSteps([empty]), []);
  const steps = planSteps([rows(0, 2), empty, rows(2, 1)]);
  assert.equal(steps.length, 1);
  assert.deepEqual((steps[0] as WriteStep).jobs, [0, 2]);
});

test('a point step is shared among ranks in contiguous ranges of its list', () => {
  const step = planSteps([points(5)])[0] as WriteStep;
  const coords = Buffer.alloc(5 * 2 * 8);
  for (let i = 0; i < 10; i++) coords.writeBigUInt64LE(BigInt(i), i * 8);
  const shares = [0, 1, 2].map((r) => ({ values: rankShare(step, 8, r, 3), points: rankPoints(step, coords, r, 3) }));
  assert.deepEqual(
    shares.map((s) => [s.values.byteOffset, s.values.byteLength]),
    [
      [0, 16],
      [16, 16],
      [32, 8],
    ],
  );
  assert.deepEqual(
    shares.map((s) => s.points.selection.points.length / 16),
    [2, 2, 1],
  );
  assert.ok(shares[1]!.points.selection.points.equals(pointRange(coords, 2, 2, 4)));
  for (const s of shares) assert.equal(s.points.global.points, coords, 'every rank checks the chunks of all the points');
  // more ranks than points: the extra ranks have none (and still join the write)
  assert.equal(rankPoints(step, coords, 7, 8).selection.points.length, 0);
});
