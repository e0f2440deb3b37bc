/** The scheduler's choices (services/worker/pipeline/scheduler.ts): which file next, and epoch pacing. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FileInbox } from '../../services/worker/pipeline/inbox.js';
import { nextFile, pacedAt, pacingWait, PACING_QUIET_MS } from '../../services/worker/pipeline/scheduler.js';

const settings = { epochPacing: 4, epochPacingMaxMs: 250 };

test('pacingWait: a multiple of the last epoch, capped; none when nothing is left or pacing is off', () => {
  const table: Array<[what: string, s: typeof settings, stillHeld: number, epochMs: number, wait: number]> = [
    ['a stream: four times the epoch', settings, 3, 20, 80],
    ['capped', settings, 3, 100, 250],
    ['a very short epoch counts as 1 ms', settings, 1, 0, 4],
    ['every job went into the epoch: no wait', settings, 0, 20, 0],
    ['pacing off', { epochPacing: 0, epochPacingMaxMs: 250 }, 5, 20, 0],
  ];
  for (const [what, s, held, ms, wait] of table) assert.equal(pacingWait(s, held, ms), wait, what);
});

test('pacedAt: the pacing ends early once the stream went quiet', () => {
  assert.equal(pacedAt({ pacedUntil: 1000, lastArrival: 900 }), 900 + PACING_QUIET_MS);
  assert.equal(pacedAt({ pacedUntil: 1000, lastArrival: 995 }), 1000);
});

function file(key: string, since: number[], over: Partial<FileInbox> = {}): FileInbox {
  const held = new Map(since.map((s, i) => [`${key}${i}`, { since: s }])) as unknown as FileInbox['held'];
  return { key, project: 'p', file: key, held, retryAt: 0, promotedAt: 0, pacedUntil: 0, lastArrival: 0, prepared: null, ...over };
}

test('nextFile: the file whose oldest job waited longest, among those not waiting', () => {
  const now = 1000;
  const table: Array<[what: string, files: FileInbox[], max: number, next: string | null]> = [
    ['nothing held', [file('a', [])], 10, null],
    ['the oldest job wins', [file('a', [500, 900]), file('b', [400])], 10, 'b'],
    ['a file retried later is skipped', [file('a', [500]), file('b', [400], { retryAt: 1200 })], 10, 'a'],
    ['a paced file whose stream still flows is skipped', [file('a', [500]), file('b', [400], { pacedUntil: 1100, lastArrival: 995 })], 10, 'a'],
    ['a paced file with a full epoch waiting goes anyway', [file('a', [500]), file('b', [400, 410], { pacedUntil: 1100, lastArrival: 995 })], 2, 'b'],
    ['a paced file whose stream went quiet goes', [file('a', [500]), file('b', [400], { pacedUntil: 1100, lastArrival: 900 })], 10, 'b'],
  ];
  for (const [what, files, max, next] of table) assert.equal(nextFile(files, now, max)?.key ?? null, next, what);
});
