/**
 * Point selections through the API, on a file written by h5py: reads by GET ?points= and
 * POST …/value/points (JSON, raw, .npy; 1-D in the order of the points), point writes
 * (?points= with any body, or a JSON body {points, value}) accepted as jobs whose staged
 * file holds the coordinates then the values; and every refusal with PH5_ERR_SELECTION (or
 * its own code) and no side effects: no job, nothing staged, no registry entry.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { keys, type WriteOp } from '../../services/shared/jobs.js';
import { MAX_POINTS } from '../../services/shared/points.js';
import { startApi, writeWithH5py, type TestApi } from '../helpers/api.js';

let api: TestApi;

before(async () => {
  api = await startApi();
  const program = `
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], 'w') as f:
    f['grid'] = np.arange(20, dtype='<i4').reshape(4, 5)
    f['line'] = (np.arange(10) / 2).astype('>f8')
    f['scalar'] = np.int16(7)
`;
  await writeWithH5py(api, 'p.h5', program);
});
after(async () => {
  await api?.stop();
});

const url = (dset: string, query = '') => `/v1/files/p.h5/datasets/${dset}/value${query}`;
const q = (points: unknown) => `?points=${encodeURIComponent(JSON.stringify(points))}`;

test('GET ?points= and POST …/value/points answer the points 1-D, in their order, as JSON, raw and .npy', async () => {
  const points = [
    [3, 4],
    [0, 1],
    [2, 2],
    [0, 1],
  ];
  const get = await api.app.inject({ method: 'GET', url: url('grid', q(points)) });
  assert.equal(get.statusCode, 200, get.body);
  assert.deepEqual(get.json(), { dtype: 'int32', shape: [4], data: [19, 1, 12, 1] });
  const post = await api.app.inject({ method: 'POST', url: url('grid', '/points'), payload: { points } });
  assert.equal(post.statusCode, 200, post.body);
  assert.deepEqual(post.json(), get.json());
  assert.equal(post.headers['x-ph5-dtype'], 'int32', 'every answer says its dtype and shape');
  assert.equal(post.headers['x-ph5-shape'], '4');

  const raw = await api.app.inject({ method: 'POST', url: url('grid', '/points'), payload: { points }, headers: { accept: 'application/octet-stream' } });
  assert.equal(raw.statusCode, 200);
  assert.equal(raw.headers['x-ph5-shape'], '4');
  assert.equal(raw.headers['x-ph5-dtype'], 'int32');
  assert.deepEqual([...new Int32Array(new Uint8Array(raw.rawPayload).buffer)], [19, 1, 12, 1]);

  const npy = await api.app.inject({ method: 'GET', url: url('line', q([9, 0, 3])), headers: { accept: 'application/x-npy' } });
  assert.equal(npy.statusCode, 200);
  assert.equal(npy.headers['content-type'], 'application/x-npy');
  const header = npy.rawPayload.subarray(10, 10 + npy.rawPayload.readUInt16LE(8)).toString('latin1');
  assert.match(header, /'descr': '>f8'/);
  assert.match(header, /'shape': \(3,\)/);
  const body = npy.rawPayload.subarray(10 + npy.rawPayload.readUInt16LE(8));
  assert.deepEqual(
    [0, 1, 2].map((i) => body.readDoubleBE(i * 8)),
    [4.5, 0, 1.5],
  );

  // a 1-D dataset takes plain indices as well as [i] lists
  assert.deepEqual((await api.app.inject({ method: 'GET', url: url('line', q([[1], 2])) })).json().data, [0.5, 1]);
});

interface Refusal {
  name: string;
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  payload?: unknown;
  headers?: Record<string, string>;
  code: string;
  status?: number;
}

const refusals: Refusal[] = [
  { name: 'read: point outside the extent', method: 'GET', url: url('grid', q([[4, 0]])), code: 'PH5_ERR_SELECTION' },
  { name: 'read: point of the wrong rank', method: 'POST', url: url('grid', '/points'), payload: { points: [[1, 2, 3]] }, code: 'PH5_ERR_SELECTION' },
  { name: 'read: negative coordinate', method: 'GET', url: url('grid', q([[-1, 0]])), code: 'PH5_ERR_SELECTION' },
  { name: 'read: fractional coordinate', method: 'GET', url: url('grid', q([[1.5, 0]])), code: 'PH5_ERR_SELECTION' },
  { name: 'read: not a list', method: 'POST', url: url('grid', '/points'), payload: { points: { a: 1 } }, code: 'PH5_ERR_SELECTION' },
  { name: 'read: no points', method: 'POST', url: url('grid', '/points'), payload: { points: [] }, code: 'PH5_ERR_SELECTION' },
  { name: 'read: ?points= not JSON', method: 'GET', url: url('grid', '?points=[[1,2]'), code: 'PH5_ERR_SELECTION' },
  { name: 'read: ?points= and ?select=', method: 'GET', url: url('grid', `${q([[1, 2]])}&select=[0:1,0:1]`), code: 'PH5_ERR_SELECTION' },
  {
    name: 'read: ?points= with ?dtype=',
    method: 'GET',
    url: url('grid', `${q([[1, 2]])}&dtype=>i4`),
    headers: { accept: 'application/octet-stream' },
    code: 'PH5_ERR_DTYPE',
  },
  { name: 'read: scalar dataset', method: 'GET', url: url('scalar', q([[0]])), code: 'PH5_ERR_SELECTION' },
  { name: 'read: body without points', method: 'POST', url: url('grid', '/points'), payload: { pts: [[1, 1]] }, code: 'PH5_ERR_VALIDATION' },
  { name: 'read: unknown dataset', method: 'POST', url: url('nope', '/points'), payload: { points: [[1, 1]] }, code: 'PH5_ERR_NOT_FOUND', status: 404 },
  {
    name: 'write: the same point twice',
    method: 'PUT',
    url: url('grid'),
    payload: {
      points: [
        [1, 1],
        [2, 2],
        [1, 1],
      ],
      value: [1, 2, 3],
    },
    code: 'PH5_ERR_SELECTION',
  },
  { name: 'write: point outside the extent', method: 'PUT', url: url('grid', q([[0, 5]])), payload: [1], code: 'PH5_ERR_SELECTION' },
  { name: 'write: wrong rank', method: 'PUT', url: url('grid'), payload: { points: [[1]], value: [1] }, code: 'PH5_ERR_SELECTION' },
  { name: 'write: ?points= and ?select=', method: 'PUT', url: url('grid', `${q([[1, 2]])}&select=[0:1,0:1]`), payload: [1], code: 'PH5_ERR_SELECTION' },
  {
    name: 'write: ?points= and a {points, value} body',
    method: 'PUT',
    url: url('grid', q([[1, 2]])),
    payload: { points: [[1, 2]], value: [1] },
    code: 'PH5_ERR_SELECTION',
  },
  {
    name: 'write: fewer values than points',
    method: 'PUT',
    url: url('grid'),
    payload: {
      points: [
        [1, 1],
        [2, 2],
      ],
      value: [1],
    },
    code: 'PH5_ERR_VALUE',
  },
  { name: 'write: value out of range', method: 'PUT', url: url('grid', q([[1, 2]])), payload: [2 ** 31], code: 'PH5_ERR_VALUE' },
  {
    name: 'write: binary body of the wrong length',
    method: 'PUT',
    url: url(
      'grid',
      q([
        [1, 2],
        [3, 3],
      ]),
    ),
    payload: Buffer.alloc(4),
    headers: { 'content-type': 'application/octet-stream' },
    code: 'PH5_ERR_BODY_LENGTH',
  },
  { name: 'write: scalar dataset', method: 'PUT', url: url('scalar'), payload: { points: [[0]], value: [1] }, code: 'PH5_ERR_SELECTION' },
  { name: 'write: no points', method: 'PUT', url: url('grid'), payload: { points: [], value: [] }, code: 'PH5_ERR_SELECTION' },
];

for (const c of refusals) {
  test(`${c.name} → ${c.code}, nothing queued, staged or recorded`, async () => {
    const jobs = await api.jobCount();
    const staged = await api.staged();
    const res = await api.app.inject({
      method: c.method,
      url: c.url,
      ...(c.payload !== undefined ? { payload: c.payload as string } : {}),
      ...(c.headers ? { headers: c.headers } : {}),
    });
    assert.equal(res.statusCode, c.status ?? 400, res.body);
    assert.match(res.headers['content-type'] as string, /application\/problem\+json/);
    assert.equal(res.json().code, c.code, res.body);
    assert.equal(await api.jobCount(), jobs, 'nothing queued');
    assert.deepEqual(await api.staged(), staged, 'nothing staged');
    assert.deepEqual(await api.app.redis.hkeys(keys.datasets('default', 'p.h5')), [], 'nothing recorded');
  });
}

test(`more than ${MAX_POINTS} points are refused`, async () => {
  const points = Array.from({ length: MAX_POINTS + 1 }, () => [0]);
  const res = await api.app.inject({ method: 'POST', url: url('line', '/points'), payload: { points } });
  assert.equal(res.statusCode, 400);
  assert.equal(res.json().code, 'PH5_ERR_SELECTION');
  assert.match(res.json().detail, /at most 1048576/);
});

async function acceptedOp(res: { statusCode: number; body: string; headers: Record<string, unknown> }): Promise<WriteOp> {
  assert.equal(res.statusCode, 202, res.body);
  const job = await api.app.jobs.job(String(res.headers.location).split('/').pop()!);
  const op = job!.data.ops[0]!;
  assert.equal(op.op, 'write');
  return op;
}

test('a point write is a job; its staged file holds the coordinates (uint64 LE) then the values; job data stays small', async () => {
  const op = await acceptedOp(
    await api.app.inject({
      method: 'PUT',
      url: url('grid'),
      payload: {
        points: [
          [3, 4],
          [0, 0],
          [1, 2],
        ],
        value: [-1, -2, -3],
      },
    }),
  );
  assert.deepEqual(op.points, { count: 3, rank: 2 });
  assert.equal(op.select, 'points(3)');
  assert.deepEqual(op.hyperslab, { start: [0], stride: [1], count: [3] });
  assert.equal(op.bytes, 12);
  const staged = await readFile(path.join(api.config.dataDir, '.staging', op.staged));
  assert.equal(staged.length, 3 * 2 * 8 + 12);
  const coords = Array.from({ length: 6 }, (_, i) => Number(staged.readBigUInt64LE(i * 8)));
  assert.deepEqual(coords, [3, 4, 0, 0, 1, 2]);
  assert.deepEqual(
    [0, 1, 2].map((i) => staged.readInt32LE(48 + i * 4)),
    [-1, -2, -3],
  );
  // (The staged file's name is a UUID, which may hold '-2' itself.)
  assert.ok(!JSON.stringify({ ...op, staged: '' }).includes('-2'), 'no values in the job data');

  // binary body with ?points=, in another byte order: the points before the body's bytes
  const values = Buffer.alloc(8);
  values.writeInt32BE(5, 0);
  values.writeInt32BE(6, 4);
  const bin = await acceptedOp(
    await api.app.inject({
      method: 'PUT',
      url: url(
        'grid',
        `${q([
          [2, 0],
          [2, 1],
        ])}&dtype=>i4`,
      ),
      payload: values,
      headers: { 'content-type': 'application/octet-stream' },
    }),
  );
  assert.equal(bin.payloadDtype, '>i4');
  const b = await readFile(path.join(api.config.dataDir, '.staging', bin.staged));
  assert.deepEqual(
    Array.from({ length: 4 }, (_, i) => Number(b.readBigUInt64LE(i * 8))),
    [2, 0, 2, 1],
  );
  assert.ok(b.subarray(32).equals(values));
});

test('a batch may write points (after creating the dataset in the same batch); bad points refuse the whole batch', async () => {
  const batch = (ops: unknown[]) => api.app.inject({ method: 'POST', url: '/v1/jobs', payload: { file: 'batch.h5', ops } });
  const res = await batch([
    { op: 'createDataset', path: '/log', dtype: 'int16', shape: [0], maxshape: [null] },
    { op: 'resize', path: '/log', shape: [5] },
    { op: 'write', path: '/log', points: [[4], [1]], value: [40, 10] },
    { op: 'write', path: '/log', select: '[2:2]', value: [] },
  ]);
  assert.equal(res.statusCode, 202, res.body);
  const job = await api.app.jobs.job(res.json().job.id);
  const [, , pts, empty] = job!.data.ops as WriteOp[];
  assert.deepEqual([pts!.points, pts!.select, pts!.bytes], [{ count: 2, rank: 1 }, 'points(2)', 4]);
  const staged = await readFile(path.join(api.config.dataDir, '.staging', pts!.staged));
  assert.deepEqual([Number(staged.readBigUInt64LE(0)), Number(staged.readBigUInt64LE(8)), staged.readInt16LE(16), staged.readInt16LE(18)], [4, 1, 40, 10]);
  assert.equal(empty!.bytes, 0, 'an empty write in a batch too');

  const jobs = await api.jobCount();
  const before = await api.staged();
  for (const [op, code] of [
    [{ op: 'write', path: '/d', points: [[1], [1]], value: [1, 2] }, 'PH5_ERR_SELECTION'],
    [{ op: 'write', path: '/d', points: [[3]], value: [1] }, 'PH5_ERR_SELECTION'],
    [{ op: 'write', path: '/d', points: [[1]], select: '[0:1]', value: [1] }, 'PH5_ERR_SELECTION'],
  ] as const) {
    const bad = await batch([{ op: 'createDataset', path: '/d', dtype: 'int8', shape: [3] }, { op: 'write', path: '/d', value: [1, 2, 3] }, op]);
    assert.equal(bad.statusCode, 400, bad.body);
    assert.equal(bad.json().code, code);
    assert.match(bad.json().detail, /^ops\[2\]/);
  }
  assert.equal(await api.jobCount(), jobs, 'nothing queued');
  assert.deepEqual(await api.staged(), before, 'nothing staged (the write before the bad one is unstaged too)');
});
