/**
 * The decisions of a value write (PUT …/value) before anything is staged
 * (services/api/domain/value-write.ts): which elements, which payload type, how many body
 * bytes, and which problem a bad request gets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkDeclaredLength,
  checkPayload,
  expectedBytes,
  fromNpyHeader,
  planValueWrite,
  pointWriteBody,
  valueWriteOp,
  type BodyKind,
  type ValueWriteRequest,
} from '../../services/api/domain/value-write.js';
import { parseDtype } from '../../services/shared/dtype.js';
import type { NpyHeader } from '../../services/shared/npy.js';

const MAX = 1000;
const f64 = { dtype: '<f8', shape: [4, 5] };
const text = { dtype: 'str', shape: [3] };

function req(kind: BodyKind, query: ValueWriteRequest['query'], body: unknown = undefined, dataset = f64): ValueWriteRequest {
  return { kind, h5path: '/d', dataset, query, body };
}

/** The code a thrown problem carries, or 'ok'. */
function codeOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

test('pointWriteBody: only an object with exactly points and value', () => {
  const cases: [unknown, boolean][] = [
    [{ points: [[0, 0]], value: [1] }, true],
    [{ value: [1], points: [[0, 0]] }, true],
    [{ points: [[0, 0]] }, false],
    [{ points: [[0, 0]], value: [1], extra: 1 }, false],
    [[[0, 0]], false],
    [null, false],
    [3, false],
  ];
  for (const [body, isPoints] of cases) assert.equal(pointWriteBody(body) !== null, isPoints, JSON.stringify(body));
});

test('checkDeclaredLength: a binary body declared beyond the limit is refused first; JSON is limited by the parser', () => {
  const cases: [BodyKind, string | undefined, string][] = [
    ['raw', '1001', 'PH5_ERR_BODY_TOO_LARGE'],
    ['npy', '1001', 'PH5_ERR_BODY_TOO_LARGE'],
    ['raw', '1000', 'ok'],
    ['raw', undefined, 'ok'],
    ['json', '5000', 'ok'],
  ];
  for (const [kind, declared, code] of cases)
    assert.equal(
      codeOf(() => checkDeclaredLength(kind, declared, MAX)),
      code,
      `${kind} ${declared}`,
    );
});

test('planValueWrite: which requests are refused, and with which code', () => {
  const cases: [string, ValueWriteRequest, string][] = [
    [
      'JSON values of the selection',
      req('json', { select: '[0:2,0:2]' }, [
        [1, 2],
        [3, 4],
      ]),
      'ok',
    ],
    ['raw bytes of the whole dataset', req('raw', {}), 'ok'],
    ['raw bytes in the other byte order', req('raw', { dtype: '>f8' }), 'ok'],
    ['?points= with raw bytes', req('raw', { points: '[[0,0],[1,1]]' }), 'ok'],
    [
      'a JSON body {points, value}',
      req(
        'json',
        {},
        {
          points: [
            [0, 0],
            [3, 4],
          ],
          value: [1, 2],
        },
      ),
      'ok',
    ],
    ['?points= and ?select=', req('raw', { points: '[[0,0]]', select: '[0:1,0:1]' }), 'PH5_ERR_SELECTION'],
    ['?points= and a body {points, value}', req('json', { points: '[[0,0]]' }, { points: [[0, 0]], value: [1] }), 'PH5_ERR_SELECTION'],
    ['a point twice', req('raw', { points: '[[0,0],[0,0]]' }), 'PH5_ERR_SELECTION'],
    ['a point outside the extent', req('raw', { points: '[[4,0]]' }), 'PH5_ERR_SELECTION'],
    ['a selection outside the extent', req('raw', { select: '[0:5,0:1]' }), 'PH5_ERR_SELECTION'],
    ['?dtype= with a JSON body', req('json', { dtype: '<f8', select: '[0:1,0:1]' }, [[1]]), 'PH5_ERR_DTYPE'],
    ['JSON values of another shape', req('json', { select: '[0:2,0:2]' }, [1, 2, 3]), 'PH5_ERR_VALUE'],
    ['?dtype= with a .npy body', req('npy', { dtype: '<f8' }), 'PH5_ERR_DTYPE'],
    ['raw bytes for strings without ?dtype=S<n>', req('raw', {}, undefined, text), 'PH5_ERR_DTYPE'],
    ['raw slots for strings with ?dtype=S8', req('raw', { dtype: 'S8' }, undefined, text), 'ok'],
    ['JSON strings', req('json', {}, ['a', 'bc', 'def'], text), 'ok'],
  ];
  for (const [name, r, code] of cases)
    assert.equal(
      codeOf(() => planValueWrite(r)),
      code,
      name,
    );
});

test('planValueWrite: the elements, payload type and select text of a write', () => {
  const slab = planValueWrite(req('raw', { select: '[1:3,0:5:2]' }));
  assert.deepEqual(slab.hs, { start: [1, 0], stride: [1, 2], count: [2, 3] });
  assert.equal(slab.elements, 6);
  assert.equal(slab.points, null);
  assert.equal(slab.select, '[1:3,0:5:2]');
  assert.equal(slab.payloadDtype, slab.dtype);

  const whole = planValueWrite(req('raw', {}));
  assert.equal(whole.elements, 20);
  assert.equal(whole.select, '[0:4,0:5]', 'no ?select=: the whole extent, written out');

  const pts = planValueWrite(
    req(
      'json',
      {},
      {
        points: [
          [0, 0],
          [3, 4],
        ],
        value: [1, 2],
      },
    ),
  );
  assert.deepEqual(pts.hs, { start: [0], stride: [1], count: [2] });
  assert.equal(pts.points?.count, 2);
  assert.equal(pts.json?.bytes.length, 16, 'two float64 values, encoded at once');

  const swapped = planValueWrite(req('raw', { dtype: '>f8' }));
  assert.equal(swapped.payloadDtype.order, 'be');

  const strings = planValueWrite(req('json', {}, ['a', 'bc', 'def'], text));
  assert.equal(strings.payloadDtype.kind, 'bytes', 'JSON strings are staged as fixed-width slots');
});

test('expectedBytes: elements × payload size; a binary body over the limit is refused, JSON is already in memory', () => {
  const cases: [string, ValueWriteRequest, number | string][] = [
    ['raw float64', req('raw', { select: '[0:2,0:2]' }), 32],
    ['raw float64, the whole dataset', req('raw', {}), 160],
    ['raw slots S8', req('raw', { dtype: 'S8' }, undefined, text), 24],
    ['JSON: the encoded bytes', req('json', { select: '[0:1,0:2]' }, [[1, 2]]), 16],
  ];
  for (const [name, r, want] of cases) assert.equal(expectedBytes(planValueWrite(r), MAX), want, name);
  const big = planValueWrite(req('raw', {}, undefined, { dtype: '<f8', shape: [200] }));
  assert.equal(
    codeOf(() => expectedBytes(big, MAX)),
    'PH5_ERR_BODY_TOO_LARGE',
  );
});

test('fromNpyHeader: C order, as many elements as the selection, within the limit', () => {
  const plan = planValueWrite(req('npy', { select: '[0:2,0:3]' }));
  const header = (shape: number[], dtype = '<f8', fortranOrder = false): NpyHeader => ({ dtype: parseDtype(dtype), fortranOrder, shape, dataOffset: 128 });
  const cases: [string, NpyHeader, string][] = [
    ['the same shape', header([2, 3]), 'ok'],
    ['another shape of as many elements', header([6]), 'ok'],
    ['Fortran order', header([2, 3], '<f8', true), 'PH5_ERR_NPY'],
    ['too few elements', header([5]), 'PH5_ERR_SELECTION'],
  ];
  for (const [name, h, code] of cases)
    assert.equal(
      codeOf(() => fromNpyHeader(plan, h, MAX)),
      code,
      name,
    );
  assert.deepEqual(fromNpyHeader(plan, header([2, 3], '>f8'), MAX), { payloadDtype: parseDtype('>f8'), expected: 48, headerBytes: 128 });
  const wide = planValueWrite(req('npy', {}, undefined, { dtype: '<f8', shape: [100] }));
  assert.equal(
    codeOf(() => fromNpyHeader(wide, header([100], '<c16'), MAX)),
    'PH5_ERR_BODY_TOO_LARGE',
    'the .npy dtype sets the size',
  );
});

test('checkPayload: the payload type must fit the dataset, and Content-Length the payload', () => {
  const plan = planValueWrite(req('raw', { select: '[0:1,0:2]' }));
  const sized = (dtype: string, expected = 16, headerBytes = 0) => ({ payloadDtype: parseDtype(dtype), expected, headerBytes });
  const cases: [string, ReturnType<typeof sized>, BodyKind, string | undefined, string][] = [
    ['the same type, the right length', sized('<f8'), 'raw', '16', 'ok'],
    ['the other byte order', sized('>f8'), 'raw', '16', 'ok'],
    ['no Content-Length (chunked)', sized('<f8'), 'raw', undefined, 'ok'],
    ['another type', sized('<i8'), 'raw', '16', 'PH5_ERR_DTYPE'],
    ['a short body', sized('<f8'), 'raw', '15', 'PH5_ERR_BODY_LENGTH'],
    ['a .npy body counts its header', sized('<f8', 16, 128), 'npy', '144', 'ok'],
    ['a .npy body without room for its header', sized('<f8', 16, 128), 'npy', '16', 'PH5_ERR_BODY_LENGTH'],
    ['JSON: its length is the parser’s', sized('<f8'), 'json', '3', 'ok'],
  ];
  for (const [name, s, kind, declared, code] of cases)
    assert.equal(
      codeOf(() => checkPayload(plan, s, kind, declared)),
      code,
      name,
    );
  const strings = planValueWrite(req('raw', { dtype: 'S4' }, undefined, text));
  assert.equal(
    codeOf(() => checkPayload(strings, sized('<f8', 24), 'raw', '24')),
    'PH5_ERR_DTYPE',
    'strings take slots only',
  );
});

test('valueWriteOp: the queued write names the dataset dtype, the payload dtype and the elements', () => {
  const pts = planValueWrite(req('raw', { points: '[[0,0],[1,2]]' }));
  const op = valueWriteOp(pts, '/d', '<f8', parseDtype('>f8'), 16);
  assert.deepEqual(op, {
    op: 'write',
    path: '/d',
    dtype: '<f8',
    payloadDtype: '>f8',
    select: pts.select,
    hyperslab: { start: [0], stride: [1], count: [2] },
    bytes: 16,
    points: { count: 2, rank: 2 },
  });
  const slab = valueWriteOp(planValueWrite(req('raw', { select: '[0:1,0:2]' })), '/d', '<f8', parseDtype('<f8'), 16);
  assert.equal('points' in slab, false);
  assert.equal(slab.select, '[0:1,0:2]');
});
