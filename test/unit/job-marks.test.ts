/**
 * Reading ph5's marks of a job (shared/queue/job-marks.ts) and showing them on its data:
 * what counts as a number or a cancellation, and what a job without marks keeps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyJobMarks, parseJobMarks, type JobMarks } from '../../services/shared/queue/job-marks.js';
import type { JobData } from '../../services/shared/jobs.js';

const cases: Array<[string, string | null, string | null, JobMarks]> = [
  ['no marks', null, null, {}],
  ['a number', '7', null, { seq: 7 }],
  ['a number and a cancellation', '12', '1', { seq: 12, cancelled: true }],
  ['a cancellation alone (a job of another producer)', null, '1', { cancelled: true }],
  ['zero is no number (numbers start at 1)', '0', null, {}],
  ['garbage is no number', 'x', null, {}],
  ['a fraction is no number', '1.5', null, {}],
  ['only "1" cancels', '3', 'true', { seq: 3 }],
];

for (const [name, seq, cancelled, expected] of cases) {
  test(`parseJobMarks: ${name}`, () => assert.deepEqual(parseJobMarks(seq, cancelled), expected));
}

const data = (extra: Partial<JobData> = {}): JobData => ({ v: 1, project: 'p', file: 'f.h5', acceptedAt: 0, ops: [{ op: 'createFile', path: '/' }], ...extra });

test('applyJobMarks: the marks win; without marks the data keeps what a previous version put there', () => {
  const marked = data({ seq: 3 });
  applyJobMarks(marked, { seq: 9, cancelled: true });
  assert.equal(marked.seq, 9);
  assert.equal(marked.cancelled, true);

  const legacy = data({ seq: 4, cancelled: true });
  applyJobMarks(legacy, {});
  assert.equal(legacy.seq, 4);
  assert.equal(legacy.cancelled, true);

  const plain = data();
  applyJobMarks(plain, {});
  assert.equal('seq' in plain, false);
  assert.equal('cancelled' in plain, false);
});
