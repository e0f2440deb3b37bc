/**
 * When `npm start` restarts its Redis or its API, and when it gives up (exit 1): the
 * decision as a table over a part's runs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideRestart, type RestartPolicy, type Run } from '../../services/cli/restart-policy.js';

const policy: RestartPolicy = { baseDelayMs: 250, maxDelayMs: 8000, maxFailures: 5, stableMs: 30_000 };
/** A run that started at `t` s, was ready after `ready` s (or never: null), ended at `end` s. */
const run = (t: number, ready: number | null, end: number): Run => ({
  startedAt: t * 1000,
  ...(ready === null ? {} : { readyAt: (t + ready) * 1000 }),
  endedAt: end * 1000,
});

test('restart with doubling delays, give up when it never started or keeps failing', () => {
  const table: [string, Run[], string][] = [
    ['first start fails (bad tokens file)', [run(0, null, 1)], 'give-up: it never started'],
    ['first start fails twice', [run(0, null, 1), run(2, null, 3)], 'give-up: it never started'],
    ['stable for an hour, then killed', [run(0, 1, 3600)], 'restart 250'],
    ['killed 10 s after it was ready', [run(0, 1, 11)], 'restart 500'],
    ['stable, killed, restarted, killed again at once', [run(0, 1, 3600), run(3601, 1, 3603)], 'restart 500'],
    ['stable, then a restart that does not start', [run(0, 1, 3600), run(3601, null, 3602)], 'restart 500'],
    ['three quick failures', [run(0, 1, 3600), run(3601, null, 3602), run(3603, null, 3604), run(3605, 1, 3606)], 'restart 2000'],
    [
      'five quick failures in a row',
      [run(0, 1, 5), run(6, null, 7), run(8, null, 9), run(10, 1, 11), run(12, null, 13)],
      'give-up: it failed 5 times in a row',
    ],
    ['failures, then a stable run resets the count', [run(0, 1, 5), run(6, null, 7), run(8, null, 9), run(10, 1, 11), run(12, 1, 100)], 'restart 250'],
  ];
  for (const [what, runs, expected] of table) {
    const d = decideRestart(runs, policy);
    assert.equal(d.action === 'restart' ? `restart ${d.delayMs}` : `give-up: ${d.reason}`, expected, what);
  }
});

test('the delay is capped', () => {
  const d = decideRestart([run(0, 1, 2), run(3, 1, 4), run(5, 1, 6), run(7, 1, 8)], { ...policy, maxFailures: 100, maxDelayMs: 1000 });
  assert.deepEqual(d, { action: 'restart', delayMs: 1000, failures: 4 });
});
