/**
 * The pure decisions of a write in parts: how rows are split, the selection of a block,
 * how rows written / not written are told, sizes on the command line, what is retried, the
 * idempotency fingerprint, and when `ph5 put` goes in parts at all.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeRows, parseSize, planParts, retryable, selectRows } from '../../services/client/parts.js';
import { partedPlan } from '../../services/cli/commands.js';
import { checkIdempotencyKey, idempotencyRedisKey, requestFingerprint } from '../../services/api/domain/idempotency.js';
import { parseDtype } from '../../services/shared/dtype.js';

test('planParts: whole rows, at most partBytes, the last part short, at least one row each', () => {
  const table: { rows: number; rowBytes: number; partBytes: number; want: [number, number][] }[] = [
    {
      rows: 10,
      rowBytes: 8,
      partBytes: 32,
      want: [
        [0, 4],
        [4, 8],
        [8, 10],
      ],
    },
    {
      rows: 8,
      rowBytes: 8,
      partBytes: 32,
      want: [
        [0, 4],
        [4, 8],
      ],
    },
    {
      rows: 3,
      rowBytes: 100,
      partBytes: 10,
      want: [
        [0, 1],
        [1, 2],
        [2, 3],
      ],
    },
    { rows: 5, rowBytes: 8, partBytes: 1e9, want: [[0, 5]] },
    { rows: 0, rowBytes: 8, partBytes: 32, want: [] },
  ];
  for (const t of table) {
    const plan = planParts(t.rows, t.rowBytes, t.partBytes);
    assert.deepEqual(
      plan.map((p) => p.rows),
      t.want,
      JSON.stringify(t),
    );
    plan.forEach((p, i) => {
      assert.equal(p.index, i);
      assert.equal(p.offset, p.rows[0] * t.rowBytes);
      assert.equal(p.bytes, (p.rows[1] - p.rows[0]) * t.rowBytes);
    });
  }
  assert.throws(() => planParts(4, 0, 32));
});

test('selectRows: a row block, every other dimension whole', () => {
  assert.equal(selectRows([0, 10], 1), '[0:10]');
  assert.equal(selectRows([5, 7], 2), '[5:7,:]');
  assert.equal(selectRows([1, 2], 4), '[1:2,:,:,:]');
});

test('describeRows: sorted, adjacent and overlapping ranges merged, none when empty', () => {
  assert.equal(describeRows([]), 'none');
  assert.equal(
    describeRows([
      [4, 8],
      [0, 4],
    ]),
    '0:8',
  );
  assert.equal(
    describeRows([
      [0, 4],
      [8, 10],
      [4, 6],
    ]),
    '0:6, 8:10',
  );
  assert.equal(
    describeRows([
      [0, 5],
      [2, 3],
    ]),
    '0:5',
  );
});

test('parseSize: binary units, with or without B/iB; NaN otherwise', () => {
  const table: [string, number][] = [
    ['4096', 4096],
    ['64M', 64 * 2 ** 20],
    ['64MiB', 64 * 2 ** 20],
    ['64mb', 64 * 2 ** 20],
    ['1G', 2 ** 30],
    ['512k', 512 * 1024],
    ['1.5M', 1.5 * 2 ** 20],
  ];
  for (const [text, n] of table) assert.equal(parseSize(text), n, text);
  for (const bad of ['', 'M', 'lots', '-5M', '5X']) assert.ok(Number.isNaN(parseSize(bad)), bad);
});

test('retryable: no answer, 5xx, 429 and a key still in progress; not other refusals', () => {
  const table: [number | null, string | undefined, boolean][] = [
    [null, undefined, true],
    [500, 'PH5_ERR_INTERNAL', true],
    [503, 'PH5_ERR_UNAVAILABLE', true],
    [429, 'PH5_ERR_RATE_LIMITED', true],
    [409, 'PH5_ERR_IDEMPOTENCY_IN_PROGRESS', true],
    [409, 'PH5_ERR_IDEMPOTENCY_KEY', false],
    [400, 'PH5_ERR_SELECTION', false],
    [413, 'PH5_ERR_BODY_TOO_LARGE', false],
    [404, 'PH5_ERR_NOT_FOUND', false],
  ];
  for (const [status, code, want] of table) assert.equal(retryable(status, code), want, `${status} ${code}`);
});

test('idempotency: a fingerprint changes with anything that changes the write; keys are checked and scoped per project', () => {
  const base = { route: 'PUT value', file: 'a.h5', path: '/x', select: '[0:10]', dtype: '>f8', contentType: 'application/octet-stream', contentLength: '80' };
  const fp = requestFingerprint(base);
  assert.equal(requestFingerprint({ ...base, contentType: 'Application/Octet-Stream; charset=x' }), fp, 'media type parameters and case do not matter');
  for (const change of [
    { file: 'b.h5' },
    { path: '/y' },
    { select: '[10:20]' },
    { dtype: '<f8' },
    { contentType: 'application/x-npy' },
    { contentLength: '88' },
    { select: undefined },
  ]) {
    assert.notEqual(requestFingerprint({ ...base, ...change }), fp, JSON.stringify(change));
  }
  assert.equal(checkIdempotencyKey('upload-1-part-3'), 'upload-1-part-3');
  for (const bad of ['', 'has space', 'x'.repeat(256), 'tab\there', 'é']) assert.throws(() => checkIdempotencyKey(bad), /Idempotency-Key/, JSON.stringify(bad));
  assert.notEqual(idempotencyRedisKey('p1', 'k'), idempotencyRedisKey('p2', 'k'));
  assert.match(idempotencyRedisKey('p1', 'k'), /^ph5:idem:\{p1\}:[0-9a-f]{64}$/);
});

test('partedPlan: parts only for a file holding exactly the whole dataset, above the threshold', () => {
  const parting = { enabled: true, partsAbove: 100, partBytes: 64, connections: 3 };
  const dataset = { dtype: 'float64', shape: [100, 2] };
  const npy = { dtype: parseDtype('>f8'), shape: [100, 2], fortranOrder: false, dataOffset: 128 };
  type PlanInput = Parameters<typeof partedPlan>[0];
  const base: PlanInput = { stdin: false, select: undefined, npy: null, size: 1600, dataset, payloadDtype: undefined, parting };
  assert.deepEqual(partedPlan(base), { shape: [100, 2], itemsize: 8, offset: 0, dtype: undefined });
  assert.deepEqual(partedPlan({ ...base, npy, size: 1728 }), { shape: [100, 2], itemsize: 8, offset: 128, dtype: '>f8' }, 'a .npy keeps its byte order');
  assert.deepEqual(partedPlan({ ...base, payloadDtype: '>f8' })?.dtype, '>f8');
  const none: [string, Partial<PlanInput>][] = [
    ['--no-parts', { parting: { ...parting, enabled: false } }],
    ['stdin', { stdin: true }],
    ['a selection', { select: '[0:10,:]' }],
    ['small', { size: 1600, parting: { ...parting, partsAbove: 1600 } }],
    ['one row', { dataset: { dtype: 'float64', shape: [1, 200] } }],
    ['scalar', { dataset: { dtype: 'float64', shape: [] } }],
    ['wrong size', { size: 1592 }],
    ['other kind', { payloadDtype: '<i8' }],
    ['fortran .npy', { npy: { ...npy, fortranOrder: true }, size: 1728 }],
    ['.npy of another count', { npy: { ...npy, shape: [99, 2] }, size: 128 + 99 * 16 }],
    ['no dataset', { dataset: null }],
  ];
  for (const [why, change] of none) assert.equal(partedPlan({ ...base, ...change }), null, why);
});
