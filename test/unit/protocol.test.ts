/** What rank 0 and the ranks exchange (services/worker/protocol.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, decodeReport, encodeMessage, encodeReport, StepStatus, type RankReport } from '../../services/worker/protocol.js';

test('a rank report survives the gather: encoded and decoded as it was', () => {
  const report: RankReport = {
    rank: 3,
    steps: [{ collective: true, noCollectiveCause: [], bytes: 64 }, null],
    failedJobs: { 1: { code: 'PH5_ERR_TYPE', message: 'not a number' } },
    abort: { step: 1, code: 'PH5_ERR_PEER', message: 'another rank failed at this step' },
    openMs: 1.5,
    applyMs: 2,
    closeMs: 0.25,
    breakdown: { readMs: 1, readWaitMs: 0, writeMs: 1, agreeMs: 0.5, mappedBytes: 0 },
  };
  assert.deepEqual(decodeReport(encodeReport(report)), report);
  assert.deepEqual(decodeMessage(encodeMessage({ type: 'stop' })), { type: 'stop' });
});

test('the ranks agree on the worst step status: the minimum', () => {
  // apply.ts agrees with MPI allreduce(min): abort < job failed < ok.
  assert.ok(StepStatus.abort < StepStatus.jobFailed && StepStatus.jobFailed < StepStatus.ok);
  assert.equal(Math.min(StepStatus.ok, StepStatus.jobFailed, StepStatus.ok), StepStatus.jobFailed);
  assert.equal(Math.min(StepStatus.jobFailed, StepStatus.abort), StepStatus.abort);
});
