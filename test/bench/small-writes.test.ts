/**
 * The small-writes benchmark in its quick mode, once, so the harness cannot rot: every
 * write is accepted and completed, the file holds exactly what was sent (h5py), and both
 * throughputs and the profile come out. No timing is asserted (the machine is shared).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatReport, parseArgs, runSmallWrites } from '../../bench/small-writes.js';

test('bench:small-writes --quick runs end to end and reports both throughputs', { timeout: 300_000 }, async () => {
  const opts = parseArgs(['--quick']);
  assert.equal(opts.writes, 500);
  const result = await runSmallWrites({ ...opts, log: () => {} });
  const report = formatReport(result);
  assert.equal(result.verified, true, report);
  assert.equal(result.ph5.failedJobs, 0, report);
  assert.equal(result.ph5.non202 + result.ph5.errors, 0, report);
  assert.ok(result.ph5.writesPerSecond > 0, report);
  assert.deepEqual(
    result.raw.map((r) => r.concurrency),
    [1, 32],
  );
  for (const r of result.raw) assert.ok(r.jobsPerSecond > 0 && r.redis.callsPerJob > 0, report);
  assert.ok(result.ratio > 0, report);
  assert.ok(result.profile.sampledJobs > 0 && result.profile.split !== undefined, report);
  assert.match(report, /writes\/s/);
  assert.match(report, /raw BullMQ no-op c=32/);
});
