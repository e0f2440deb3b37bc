/**
 * Letting a held job go (services/worker/pipeline/inbox.ts releaseHeld): a job BullMQ
 * delivered again while its first delivery ran in an epoch must stay held, or its promise
 * never settles and the job stays active for good.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { releaseHeld, type FileInbox, type Held } from '../../services/worker/pipeline/inbox.js';

function held(id: string, token: string): Held {
  const job = { id } as unknown as Held['job'];
  return { job, token, shard: 0, seq: 1, acceptedAt: 0, since: 0, blockedSince: null, alone: false, resolve: () => {}, reject: () => {} };
}

function inboxOf(...hs: Held[]): FileInbox {
  return {
    key: 'p/f.h5',
    project: 'p',
    file: 'f.h5',
    held: new Map(hs.map((h) => [String(h.job.id), h])),
    retryAt: 0,
    promotedAt: 0,
    pacedUntil: 0,
    lastArrival: 0,
    prepared: null,
  };
}

test('releaseHeld: drops the delivery it is given, and never a newer delivery of the same job', () => {
  const first = held('7', 'token-1');
  const again = held('7', 'token-2');
  const other = held('8', 'token-3');
  const table: Array<[what: string, inbox: FileInbox, release: Held, left: Held[]]> = [
    ['the held delivery goes', inboxOf(first, other), first, [other]],
    ['a newer delivery of the same job stays', inboxOf(again, other), first, [again, other]],
    ['a job no longer held: nothing changes', inboxOf(other), first, [other]],
  ];
  for (const [what, inbox, h, left] of table) {
    releaseHeld(inbox, h);
    assert.deepEqual([...inbox.held.values()], left, what);
  }
});
