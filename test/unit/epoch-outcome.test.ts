/**
 * The epoch's decisions (services/worker/pipeline/outcome.ts): which held jobs are next in
 * their file's order, which fail before the epoch, each planned job's outcome from the
 * ranks' reports, how far the cursor moves, and which jobs are settled now. Table-driven:
 * one row per situation the worker distinguishes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobOp } from '../../services/shared/jobs.js';
import {
  advanceCursor,
  classify,
  decide,
  epochAbort,
  isBlameless,
  preflight,
  settlesNow,
  stagedNames,
  waitsForMissing,
  type Abort,
  type Candidate,
  type Outcome,
} from '../../services/worker/pipeline/outcome.js';
import type { RankFailure, RankReport } from '../../services/worker/protocol.js';

const job = (seq: number | null, acceptedAt = 0) => ({ seq, acceptedAt, name: seq === null ? `u${acceptedAt}` : `s${seq}` });
const names = (list: Array<{ name: string }>) => list.map((j) => j.name);

test('classify: applied, ready and blocked by the cursor', () => {
  const table: Array<{
    what: string;
    cursor: number;
    held: ReturnType<typeof job>[];
    max: number;
    applied: string[];
    ready: string[];
    blocked: string[];
    next: number;
  }> = [
    { what: 'all next in order', cursor: 4, held: [job(6), job(5), job(7)], max: 10, applied: [], ready: ['s5', 's6', 's7'], blocked: [], next: 8 },
    {
      what: 'replay after a crash: some already applied',
      cursor: 4,
      held: [job(5), job(3), job(4)],
      max: 10,
      applied: ['s3', 's4'],
      ready: ['s5'],
      blocked: [],
      next: 6,
    },
    { what: 'a gap: the predecessor is elsewhere', cursor: 4, held: [job(5), job(7)], max: 10, applied: [], ready: ['s5'], blocked: ['s7'], next: 6 },
    { what: 'nothing next', cursor: 4, held: [job(6), job(8)], max: 10, applied: [], ready: [], blocked: ['s6', 's8'], next: 5 },
    { what: 'the epoch is full', cursor: 0, held: [job(1), job(2), job(3)], max: 2, applied: [], ready: ['s1', 's2'], blocked: ['s3'], next: 3 },
    {
      what: 'unsequenced jobs: ready, after the sequenced ones, oldest first',
      cursor: 0,
      held: [job(null, 9), job(1), job(null, 3)],
      max: 10,
      applied: [],
      ready: ['s1', 'u3', 'u9'],
      blocked: [],
      next: 2,
    },
    { what: 'a duplicate seq is blocked behind the first', cursor: 0, held: [job(1), job(1)], max: 10, applied: [], ready: ['s1'], blocked: ['s1'], next: 2 },
  ];
  for (const row of table) {
    const got = classify(row.held, row.cursor, row.max);
    assert.deepEqual(
      { applied: names(got.applied), ready: names(got.ready), blocked: names(got.blocked), next: got.next },
      { applied: row.applied, ready: row.ready, blocked: row.blocked, next: row.next },
      row.what,
    );
  }
});

test('waitsForMissing: only jobs beyond the next number wait for a missing predecessor', () => {
  const table: Array<[seq: number | null, next: number, waits: boolean]> = [
    [7, 6, true],
    [6, 6, false], // blocked by a full epoch, not by a gap
    [null, 6, false],
  ];
  for (const [seq, next, waits] of table) assert.equal(waitsForMissing({ seq, acceptedAt: 0 }, next), waits, `seq ${seq}, next ${next}`);
});

const write = (staged: string, bytes: number, extra: Partial<Extract<JobOp, { op: 'write' }>> = {}): JobOp => ({
  op: 'write',
  path: '/d',
  dtype: '<f8',
  payloadDtype: '<f8',
  select: '0:1',
  hyperslab: { start: [0], stride: [1], count: [1] },
  staged,
  bytes,
  ...extra,
});
const meta: JobOp = { op: 'createGroup', path: '/g' };
const del: JobOp = { op: 'deleteFile', path: '/' };
const cand = (id: string, seq: number | null, ops: JobOp[], cancelled = false): Candidate => ({ id, seq, acceptedAt: 0, ops, cancelled });

test('preflight: lost payloads, cancellations, hangs and deletions decided before the epoch', () => {
  const sizes = new Map([
    ['a', 64],
    ['b', 8],
  ]);
  type Row = {
    what: string;
    ready: Candidate[];
    hung?: Array<[number, number]>;
    failed: Record<string, string>;
    pending: string[];
    alone: string[];
    planned: string[];
    deletion: number;
  };
  const table: Row[] = [
    { what: 'all fine', ready: [cand('1', 1, [write('a', 64)]), cand('2', 2, [meta])], failed: {}, pending: [], alone: [], planned: ['1', '2'], deletion: -1 },
    {
      what: 'a payload that is missing',
      ready: [cand('1', 1, [write('gone', 8)]), cand('2', 2, [write('a', 8)])],
      failed: { '1': 'PH5_ERR_STAGING' },
      pending: [],
      alone: [],
      planned: ['2'],
      deletion: -1,
    },
    {
      what: 'a payload that is short',
      ready: [cand('1', 1, [write('b', 16)])],
      failed: { '1': 'PH5_ERR_STAGING' },
      pending: [],
      alone: [],
      planned: [],
      deletion: -1,
    },
    {
      what: 'an offset past what was staged',
      ready: [cand('1', 1, [write('a', 8, { stagedOffset: 60 })])],
      failed: { '1': 'PH5_ERR_STAGING' },
      pending: [],
      alone: [],
      planned: [],
      deletion: -1,
    },
    {
      what: 'a bad offset',
      ready: [cand('1', 1, [write('a', 8, { stagedOffset: -1 })])],
      failed: { '1': 'PH5_ERR_STAGING' },
      pending: [],
      alone: [],
      planned: [],
      deletion: -1,
    },
    {
      what: "a point write's coordinates count",
      ready: [cand('1', 1, [write('a', 16, { points: { count: 2, rank: 4 } })])],
      failed: { '1': 'PH5_ERR_STAGING' },
      pending: [],
      alone: [],
      planned: [],
      deletion: -1,
    },
    {
      what: 'a point write that fits',
      ready: [cand('1', 1, [write('a', 16, { points: { count: 2, rank: 2 } })])],
      failed: {},
      pending: [],
      alone: [],
      planned: ['1'],
      deletion: -1,
    },
    {
      what: 'cancelled while waiting',
      ready: [cand('1', 1, [meta], true), cand('2', 2, [meta])],
      failed: { '1': 'PH5_ERR_CANCELLED' },
      pending: [],
      alone: [],
      planned: ['2'],
      deletion: -1,
    },
    {
      what: 'cancelled with a lost payload: the payload is the reason',
      ready: [cand('1', 1, [write('gone', 8)], true)],
      failed: { '1': 'PH5_ERR_STAGING' },
      pending: [],
      alone: [],
      planned: [],
      deletion: -1,
    },
    {
      what: 'charged one hang: runs alone',
      ready: [cand('1', 1, [meta]), cand('2', 2, [meta])],
      hung: [[2, 1]],
      failed: {},
      pending: [],
      alone: ['2'],
      planned: ['1', '2'],
      deletion: -1,
    },
    {
      what: 'charged as often as allowed: fails',
      ready: [cand('1', 1, [meta]), cand('2', 2, [meta])],
      hung: [[1, 2]],
      failed: { '1': 'PH5_ERR_WATCHDOG' },
      pending: [],
      alone: [],
      planned: ['2'],
      deletion: -1,
    },
    {
      what: 'a deletion ends the epoch',
      ready: [cand('1', 1, [meta]), cand('2', 2, [del]), cand('3', 3, [meta]), cand('4', 4, [meta])],
      failed: {},
      pending: ['3', '4'],
      alone: [],
      planned: ['1', '2'],
      deletion: 1,
    },
    {
      what: 'a cancelled deletion does not end it',
      ready: [cand('1', 1, [del], true), cand('2', 2, [meta])],
      failed: { '1': 'PH5_ERR_CANCELLED' },
      pending: [],
      alone: [],
      planned: ['2'],
      deletion: -1,
    },
  ];
  for (const row of table) {
    const got = preflight({ ready: row.ready, stagedSizes: sizes, hung: new Map(row.hung ?? []), hungJobAttempts: 2, stepTimeoutMs: 1000 });
    const failed: Record<string, string> = {};
    const pending: string[] = [];
    for (const [c, o] of got.outcomes) {
      if (o.kind === 'failed') failed[c.id] = o.reason.split(':')[0]!;
      else if (o.kind === 'pending') pending.push(c.id);
      else assert.fail(`${row.what}: unexpected ${o.kind}`);
    }
    assert.deepEqual(
      { failed, pending, alone: got.alone.map((c) => c.id), planned: got.planned.map((c) => c.id), deletion: got.deletion },
      { failed: row.failed, pending: row.pending, alone: row.alone, planned: row.planned, deletion: row.deletion },
      row.what,
    );
  }
  const hung = preflight({ ready: [cand('1', 1, [meta])], stagedSizes: sizes, hung: new Map([[1, 3]]), hungJobAttempts: 2, stepTimeoutMs: 1000 });
  assert.deepEqual(
    hung.hungOut.map(({ job, hangs }) => [job.id, hangs]),
    [['1', 3]],
    'the hang count is there for the log',
  );
});

test('stagedNames: each staged payload once, valid names only', () => {
  assert.deepEqual(stagedNames([{ ops: [write('a', 1), write('b', 1)] }, { ops: [write('a', 2), meta, write('../x', 1)] }]), ['a', 'b']);
});

const report = (rank: number, over: Partial<RankReport> = {}): RankReport => ({ rank, steps: [], failedJobs: {}, openMs: 0, applyMs: 0, closeMs: 0, ...over });
const peer: RankFailure = { code: 'PH5_ERR_PEER', message: 'another rank failed at this step' };
const mine = (code: string): RankFailure => ({ code, message: `${code} here` });
const kinds = (list: Outcome[]) => list.map((o) => (o.kind === 'failed' || o.kind === 'retry' ? `${o.kind}:${o.reason.split(':')[0]}` : o.kind));

test("epochAbort: where the epoch stopped, with a rank's own reason rather than a peer's echo", () => {
  assert.equal(epochAbort([report(0), report(1)]), undefined, 'ran to the end');
  assert.deepEqual(epochAbort([report(0, { abort: { step: 2, ...peer } }), report(1, { abort: { step: 2, ...mine('PH5_ERR_HDF5') } })]), {
    step: 2,
    ...mine('PH5_ERR_HDF5'),
  });
  assert.deepEqual(
    epochAbort([report(0, { abort: { step: -1, ...peer } }), report(1, { abort: { step: -1, ...peer } })]),
    { step: -1, ...peer },
    'only echoes: the first',
  );
  assert.equal(isBlameless({ step: 0, ...mine('PH5_ERR_LEASE_LOST') }), true);
  assert.equal(isBlameless({ step: 0, ...mine('PH5_ERR_HDF5') }), false);
  assert.equal(isBlameless(undefined), false);
});

test("decide: each planned job's outcome from the ranks' reports", () => {
  // Three jobs; steps: [job 0], [job 1], [job 2] unless a row says otherwise.
  const alone3 = [{ jobs: [0] }, { jobs: [1] }, { jobs: [2] }];
  const first = { attemptsMade: 0, attempts: 3 };
  const lastTry = { attemptsMade: 2, attempts: 3 };
  type Row = {
    what: string;
    jobs?: Array<{ attemptsMade: number; attempts: number | undefined }>;
    steps?: Array<{ jobs: number[] }>;
    reports: RankReport[];
    abort?: Abort;
    blameless?: boolean;
    outcomes: string[];
    alone?: number[];
    blamed?: string | null;
  };
  const table: Row[] = [
    { what: 'all ok', reports: [report(0), report(1)], outcomes: ['done', 'done', 'done'] },
    { what: 'no steps at all (nothing to write)', steps: [], reports: [], outcomes: ['done', 'done', 'done'] },
    {
      what: 'one rank failed a job for good (the others echo)',
      reports: [report(0, { failedJobs: { 1: peer } }), report(1, { failedJobs: { 1: mine('PH5_ERR_TYPE') } })],
      outcomes: ['done', 'failed:PH5_ERR_TYPE', 'done'],
    },
    {
      what: 'an abort in a one-job step: that job uses up an attempt, the later ones wait',
      reports: [report(0)],
      abort: { step: 1, ...mine('PH5_ERR_HDF5') },
      outcomes: ['done', 'retry:PH5_ERR_HDF5', 'pending'],
      blamed: 'PH5_ERR_HDF5',
    },
    {
      what: 'the same on its last attempt: it fails for good',
      jobs: [first, lastTry, first],
      reports: [report(0)],
      abort: { step: 1, ...mine('PH5_ERR_HDF5') },
      outcomes: ['done', 'failed:PH5_ERR_HDF5', 'pending'],
      blamed: 'PH5_ERR_HDF5',
    },
    {
      what: 'no attempts set: the first is the last',
      jobs: [first, { attemptsMade: 0, attempts: undefined }, first],
      reports: [report(0)],
      abort: { step: 1, ...mine('PH5_ERR_HDF5') },
      outcomes: ['done', 'failed:PH5_ERR_HDF5', 'pending'],
      blamed: 'PH5_ERR_HDF5',
    },
    {
      what: 'a permanent failure fails at once',
      reports: [report(0)],
      abort: { step: 0, ...mine('PH5_ERR_NOT_FOUND') },
      outcomes: ['failed:PH5_ERR_NOT_FOUND', 'pending', 'pending'],
      blamed: 'PH5_ERR_NOT_FOUND',
    },
    {
      what: 'an abort in a coalesced step: its jobs run alone next time, none is blamed yet',
      steps: [{ jobs: [0, 1] }, { jobs: [2] }],
      reports: [report(0)],
      abort: { step: 0, ...mine('PH5_ERR_HDF5') },
      outcomes: ['pending', 'pending', 'pending'],
      alone: [0, 1],
      blamed: 'PH5_ERR_HDF5',
    },
    {
      what: 'the open failed (step -1): the first job is blamed',
      reports: [report(0)],
      abort: { step: -1, ...mine('PH5_ERR_HDF5') },
      outcomes: ['retry:PH5_ERR_HDF5', 'pending', 'pending'],
      blamed: 'PH5_ERR_HDF5',
    },
    {
      what: 'the close failed (step past the last): the first job is blamed, the cursor stops there (advanceCursor)',
      reports: [report(0)],
      abort: { step: 3, ...mine('PH5_ERR_HDF5') },
      outcomes: ['retry:PH5_ERR_HDF5', 'done', 'done'],
      blamed: 'PH5_ERR_HDF5',
    },
    {
      what: 'the lease was lost (blameless): the rest simply runs again',
      reports: [report(0)],
      abort: { step: 1, ...mine('PH5_ERR_LEASE_LOST') },
      blameless: true,
      outcomes: ['done', 'pending', 'pending'],
      blamed: null,
    },
    {
      what: 'a job failed for good before the abort keeps its failure',
      reports: [report(0, { failedJobs: { 0: mine('PH5_ERR_TYPE') } })],
      abort: { step: 2, ...mine('PH5_ERR_HDF5') },
      outcomes: ['failed:PH5_ERR_TYPE', 'done', 'retry:PH5_ERR_HDF5'],
      blamed: 'PH5_ERR_HDF5',
    },
    {
      what: 'a job written in several steps is done only if all of them ran',
      steps: [{ jobs: [0] }, { jobs: [1] }, { jobs: [1] }, { jobs: [2] }],
      reports: [report(0)],
      abort: { step: 2, ...mine('PH5_ERR_LEASE_LOST') },
      blameless: true,
      outcomes: ['done', 'pending', 'pending'],
      blamed: null,
    },
  ];
  for (const row of table) {
    const got = decide(row.jobs ?? [first, first, first], row.steps ?? alone3, row.reports, row.abort, row.blameless ?? isBlameless(row.abort));
    assert.deepEqual(kinds(got.outcomes), row.outcomes, row.what);
    assert.deepEqual(got.alone, row.alone ?? [], `${row.what}: alone`);
    assert.equal(got.blamed?.split(':')[0] ?? null, row.blamed ?? null, `${row.what}: blamed`);
  }
});

const done: Outcome = { kind: 'done' };
const failed: Outcome = { kind: 'failed', reason: 'PH5_ERR_TYPE: bad' };
const retry: Outcome = { kind: 'retry', reason: 'PH5_ERR_HDF5: again' };
const pending: Outcome = { kind: 'pending' };

test('advanceCursor: through the longest run of finished jobs in order', () => {
  type Row = { what: string; from: number; ready: Array<[number | null, Outcome]>; through: number; failures: number[] };
  const table: Row[] = [
    {
      what: 'all done',
      from: 4,
      ready: [
        [5, done],
        [6, done],
        [7, done],
      ],
      through: 7,
      failures: [],
    },
    {
      what: 'a failure is passed and recorded',
      from: 4,
      ready: [
        [5, done],
        [6, failed],
        [7, done],
      ],
      through: 7,
      failures: [6],
    },
    {
      what: 'a pending job stops it',
      from: 4,
      ready: [
        [5, done],
        [6, pending],
        [7, done],
      ],
      through: 5,
      failures: [],
    },
    {
      what: 'a retry stops it',
      from: 4,
      ready: [
        [5, retry],
        [6, done],
      ],
      through: 4,
      failures: [],
    },
    {
      what: 'a gap stops it',
      from: 4,
      ready: [
        [5, done],
        [7, done],
      ],
      through: 5,
      failures: [],
    },
    {
      what: 'unsequenced jobs do not count',
      from: 4,
      ready: [
        [null, retry],
        [5, done],
      ],
      through: 5,
      failures: [],
    },
    { what: 'nothing finished', from: 4, ready: [[5, pending]], through: 4, failures: [] },
    {
      what: 'cancelled (failed) jobs move it like any failure',
      from: 0,
      ready: [
        [1, failed],
        [2, failed],
      ],
      through: 2,
      failures: [1, 2],
    },
  ];
  for (const row of table) {
    const got = advanceCursor(
      row.ready.map(([seq, outcome]) => ({ seq, outcome })),
      row.from,
    );
    assert.deepEqual({ through: got.through, failures: got.failures.map((f) => f.seq) }, { through: row.through, failures: row.failures }, row.what);
  }
  assert.equal(advanceCursor([{ seq: 1, outcome: failed }], 0).failures[0]!.reason, 'PH5_ERR_TYPE: bad', 'the reason is recorded as is');
});

test('settlesNow: settled once the cursor passed it (a retry at once); pending stays', () => {
  const table: Array<[seq: number | null, outcome: Outcome, through: number, settles: boolean]> = [
    [5, done, 5, true],
    [6, done, 5, false], // a crash now would leave a completed job unapplied
    [6, failed, 5, false],
    [6, retry, 5, true],
    [5, pending, 9, false],
    [null, done, 0, true],
    [null, pending, 0, false],
  ];
  for (const [seq, outcome, through, settles] of table) assert.equal(settlesNow(seq, outcome, through), settles, `${seq} ${outcome.kind} through ${through}`);
});
