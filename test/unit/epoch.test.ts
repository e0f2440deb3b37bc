/**
 * Planning an epoch (services/worker/epoch.ts): order is kept where it matters, adjacent
 * row blocks are coalesced, large writes are split, and interleaved writes of disjoint rows
 * (many clients, one dataset) become few large writes — but never when rows overlap,
 * because then the later write must win.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobData, WriteOp } from '../../services/shared/jobs.js';
import { rankShare } from '../../services/worker/apply.js';
import { planSteps, type EpochJob } from '../../services/worker/epoch.js';
import type { WriteStep } from '../../services/worker/protocol.js';

/** A job writing rows [start, start+rows) of a [N, 128] uint8 dataset (128 bytes a row). */
function rowsJob(start: number, rows: number, path = '/d'): EpochJob {
  const op: WriteOp = {
    op: 'write',
    path,
    dtype: 'uint8',
    payloadDtype: 'uint8',
    select: `[${start}:${start + rows},:]`,
    hyperslab: { start: [start, 0], stride: [1, 1], count: [rows, 128] },
    staged: `s${start}.bin`,
    bytes: rows * 128,
  };
  const data: JobData = { v: 1, project: 'p', file: 'f.h5', acceptedAt: 0, ops: [op] };
  return { data };
}

const span = (h: { start: number[]; count: number[] }) => `${h.start[0]}+${h.count[0]}`;
/** 'start+rows' per step; a union of row blocks as 'a+n|b+m'. */
const spans = (steps: ReturnType<typeof planSteps>) =>
  steps.map((s) => (s.op === 'write' ? (s.parts ? s.parts.map(span).join('|') : span(s.hyperslab)) : s.op));

test('adjacent rows in order are coalesced into one step, with their segments in row order', () => {
  const steps = planSteps([rowsJob(0, 2), rowsJob(2, 3), rowsJob(5, 1)]);
  assert.deepEqual(spans(steps), ['0+6']);
  const w = steps[0] as WriteStep;
  assert.deepEqual(
    w.segments.map((s) => s.staged),
    ['s0.bin', 's2.bin', 's5.bin'],
  );
  assert.deepEqual(w.jobs, [0, 1, 2]);
});

test('interleaved disjoint rows (many clients) are sorted and coalesced', () => {
  const order = [7, 2, 9, 0, 4, 1, 8, 3, 6, 5];
  const steps = planSteps(order.map((r) => rowsJob(r, 1)));
  assert.deepEqual(spans(steps), ['0+10']);
  const w = steps[0] as WriteStep;
  assert.deepEqual(
    w.segments.map((s) => s.staged),
    Array.from({ length: 10 }, (_, i) => `s${i}.bin`),
  );
  assert.deepEqual(
    [...w.jobs].sort((a, b) => a - b),
    order.map((_, i) => i),
  );
});

test('overlapping rows keep their order (the later write wins); disjoint blocks with gaps become one union step', () => {
  assert.deepEqual(spans(planSteps([rowsJob(4, 2), rowsJob(0, 2), rowsJob(5, 1)])), ['4+2', '0+2', '5+1']);
  const union = planSteps([rowsJob(10, 1), rowsJob(0, 1), rowsJob(20, 1), rowsJob(1, 1)]);
  assert.deepEqual(spans(union), ['0+2|10+1|20+1']);
  const w = union[0] as WriteStep;
  assert.deepEqual(
    w.segments.map((s) => s.staged),
    ['s0.bin', 's1.bin', 's10.bin', 's20.bin'],
    'bytes in the order of the parts',
  );
  assert.deepEqual(w.jobs, [0, 1, 2, 3]);
  assert.equal(w.bytes, 4 * 128);
});

test('a union step stays under maxStepBytes', () => {
  const steps = planSteps(
    [0, 10, 20, 30, 40].map((r) => rowsJob(r, 1)),
    { maxStepBytes: 128 * 2 },
  );
  assert.deepEqual(spans(steps), ['0+1|10+1', '20+1|30+1', '40+1']);
});

test('each rank writes a balanced share of a union step, one byte range of its segments', () => {
  const [w] = planSteps([rowsJob(10, 3), rowsJob(0, 2), rowsJob(20, 2)]) as WriteStep[];
  // 7 rows over 3 ranks: 3, 2, 2, counted across the parts 0+2, 10+3, 20+2.
  const shares = [0, 1, 2].map((rank) => rankShare(w!, 1, rank, 3));
  const rows = (sel: unknown) => (sel === null ? [] : (Array.isArray(sel) ? sel : [sel]).map((h: { start: number[]; count: number[] }) => span(h)));
  assert.deepEqual(
    shares.map((s) => rows(s.selection)),
    [['0+2', '10+1'], ['11+2'], ['20+2']],
  );
  assert.deepEqual(
    shares.map((s) => [s.byteOffset, s.byteLength]),
    [
      [0, 384],
      [384, 256],
      [640, 256],
    ],
  );
  assert.deepEqual(rankShare(w!, 1, 7, 8).selection, null, 'a rank without rows selects nothing');
});

test('other datasets and non-write steps bound the runs that may be reordered', () => {
  const create: EpochJob = { data: { v: 1, project: 'p', file: 'f.h5', acceptedAt: 0, ops: [{ op: 'createGroup', path: '/g' }] } };
  const steps = planSteps([rowsJob(3, 1), rowsJob(1, 1), create, rowsJob(2, 1), rowsJob(0, 1, '/e'), rowsJob(0, 1)]);
  assert.deepEqual(spans(steps), ['1+1|3+1', 'meta', '2+1', '0+1', '0+1']);
  assert.deepEqual(
    steps.map((s) => (s.op === 'write' ? s.path : s.op)),
    ['/d', 'meta', '/d', '/e', '/d'],
  );
});

test('a job that must be written alone is neither coalesced nor moved', () => {
  const jobs = [rowsJob(1, 1), { ...rowsJob(0, 1), alone: true }, rowsJob(2, 1)];
  assert.deepEqual(spans(planSteps(jobs)), ['1+1', '0+1', '2+1']);
});

test('steps stay under maxStepBytes: large writes are split, merges stop at the bound', () => {
  const split = planSteps([rowsJob(0, 10)], { maxStepBytes: 128 * 4 });
  assert.deepEqual(spans(split), ['0+4', '4+4', '8+2']);
  const bounded = planSteps(
    [5, 1, 3, 0, 2, 4].map((r) => rowsJob(r, 1)),
    { maxStepBytes: 128 * 2 },
  );
  assert.deepEqual(spans(bounded), ['0+2', '2+2', '4+2']);
});
