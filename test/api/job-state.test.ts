/**
 * The state a client sees for a job (services/api/domain/job-state.ts), as a table: `running` means
 * an epoch of a live pool is applying the job, not that a pool holds it. Before, every
 * BullMQ 'active' job read `running`: in a hang, all the jobs a pool held (up to 128 per
 * shard) did, although nothing applied them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideState, needsFileState, type StateInputs } from '../../services/api/domain/job-state.js';

const mark = (first: number, last: number, pool = 'p1') => ({ first, last, pool });
const base: StateInputs = { bullState: 'active', seq: 5, applying: null, poolLive: false, applied: 0 };

const cases: Array<[string, Partial<StateInputs>, string]> = [
  ['waiting in the queue', { bullState: 'waiting' }, 'queued'],
  ['delayed for a retry', { bullState: 'delayed' }, 'queued'],
  ['prioritized (moved to the head by a pool waiting for it)', { bullState: 'prioritized' }, 'queued'],
  ['no such job state known', { bullState: 'unknown' }, 'queued'],
  ['completed', { bullState: 'completed', applying: mark(1, 9), poolLive: true }, 'completed'],
  ['failed', { bullState: 'failed' }, 'failed'],
  ['active, no epoch on its file: held by a pool', {}, 'queued'],
  ['active, an epoch of a live pool applies it', { applying: mark(3, 7), poolLive: true }, 'running'],
  ['active, it is the first seq of the epoch', { applying: mark(5, 9), poolLive: true }, 'running'],
  ['active, it is the last seq of the epoch', { applying: mark(1, 5), poolLive: true }, 'running'],
  ['active, the epoch applies earlier jobs', { applying: mark(1, 4), poolLive: true }, 'queued'],
  ['active, the epoch applies later jobs', { applying: mark(6, 9), poolLive: true }, 'queued'],
  ['active, covered by an epoch of a dead (or stopped) pool', { applying: mark(3, 7), poolLive: false }, 'queued'],
  ['active, already applied (cursor moved, completion in BullMQ pending)', { applied: 5 }, 'running'],
  ['active, cursor past it even with a stale mark of a dead pool', { applied: 9, applying: mark(1, 9), poolLive: false }, 'running'],
  ['active, cursor just before it', { applied: 4 }, 'queued'],
  ['active, no seq (added by another producer): cannot be matched to an epoch', { seq: undefined, applying: mark(1, 9), poolLive: true }, 'queued'],
  ['waiting, a mark covers its seq (a redelivered job): the queue decides', { bullState: 'waiting', applying: mark(1, 9), poolLive: true }, 'queued'],
];

for (const [name, over, expected] of cases) {
  test(`decideState: ${name} -> ${expected}`, () => {
    assert.equal(decideState({ ...base, ...over }), expected);
  });
}

test('only an active job needs its file state read (views of other jobs cost no extra round trip)', () => {
  for (const s of ['waiting', 'delayed', 'prioritized', 'completed', 'failed', 'unknown']) assert.equal(needsFileState(s), false, s);
  assert.equal(needsFileState('active'), true);
});
