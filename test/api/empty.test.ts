/**
 * Empty datasets and empty selections through the API, on a file written by h5py
 * (maxshape=(None,) datasets of extent 0, the start of the append idiom): their metadata
 * and group listing, reads answering empty values (JSON `[]` nested to the selection's
 * shape, zero raw bytes with X-Ph5-Shape, a .npy of shape (0,)), and empty writes accepted
 * as jobs that change nothing. Creating an empty appendable dataset is accepted.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { WriteOp } from '../../services/shared/jobs.js';
import { startApi, writeWithH5py, type TestApi } from '../helpers/api.js';

let api: TestApi;

before(async () => {
  api = await startApi();
  const program = `
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], 'w') as f:
    f.create_dataset('log', shape=(0,), maxshape=(None,), dtype='<f8', chunks=(1024,))
    f.create_dataset('wide', shape=(2, 0), maxshape=(None, None), dtype='<i2')
    f.create_dataset('rows', shape=(0, 3), maxshape=(None, 3), dtype='u1')
    f['grid'] = np.arange(20, dtype='<i4').reshape(4, 5)
    f.create_dataset('names', shape=(0,), maxshape=(None,), dtype=h5py.string_dtype())
    f.create_dataset('pairs', shape=(0,), maxshape=(None,), dtype=[('x', '<i4'), ('y', '<f8')])
`;
  await writeWithH5py(api, 'e.h5', program);
});
after(async () => {
  await api?.stop();
});

const get = (url: string, accept?: string) => api.app.inject({ method: 'GET', url, ...(accept ? { headers: { accept } } : {}) });

test('an empty dataset is described and listed like any other', async () => {
  const meta = await get('/v1/files/e.h5/datasets/log');
  assert.equal(meta.statusCode, 200, meta.body);
  assert.deepEqual(
    { shape: meta.json().shape, maxshape: meta.json().maxshape, layout: meta.json().layout, chunks: meta.json().chunks },
    { shape: [0], maxshape: [null], layout: 'chunked', chunks: [1024] },
  );
  assert.deepEqual((await get('/v1/files/e.h5/datasets/wide')).json().shape, [2, 0]);
  const tree = await get('/v1/files/e.h5');
  assert.equal(tree.statusCode, 200, tree.body);
  assert.match(tree.body, /"log"|\/log/);
});

test('reading an empty dataset answers empty values, nested to its shape', async () => {
  assert.deepEqual((await get('/v1/files/e.h5/datasets/log/value')).json(), { dtype: 'float64', shape: [0], data: [] });
  assert.deepEqual((await get('/v1/files/e.h5/datasets/wide/value')).json(), { dtype: 'int16', shape: [2, 0], data: [[], []] });
  assert.deepEqual((await get('/v1/files/e.h5/datasets/rows/value')).json(), { dtype: 'uint8', shape: [0, 3], data: [] });
  assert.deepEqual((await get('/v1/files/e.h5/datasets/log/value?select=[0:0]')).json().data, []);
  assert.deepEqual((await get('/v1/files/e.h5/datasets/names/value')).json().data, [], 'variable-length strings');
  assert.deepEqual((await get('/v1/files/e.h5/datasets/pairs/value')).json().data, [], 'a compound');
  assert.equal((await get('/v1/files/e.h5/datasets/pairs/value', 'application/octet-stream')).rawPayload.length, 0);

  const raw = await get('/v1/files/e.h5/datasets/wide/value', 'application/octet-stream');
  assert.equal(raw.statusCode, 200);
  assert.equal(raw.rawPayload.length, 0);
  assert.equal(raw.headers['content-length'], '0');
  assert.equal(raw.headers['x-ph5-shape'], '2,0');
  assert.equal(raw.headers['x-ph5-dtype'], 'int16');

  const npy = await get('/v1/files/e.h5/datasets/log/value', 'application/x-npy');
  assert.equal(npy.statusCode, 200);
  const headerLength = npy.rawPayload.readUInt16LE(8);
  assert.match(npy.rawPayload.subarray(10, 10 + headerLength).toString('latin1'), /'shape': \(0,\)/);
  assert.equal(npy.rawPayload.length, 10 + headerLength, 'no data after the header');
});

test('an empty selection of a non-empty dataset answers empty values', async () => {
  assert.deepEqual((await get('/v1/files/e.h5/datasets/grid/value?select=[0:0,:]')).json(), { dtype: 'int32', shape: [0, 5], data: [] });
  assert.deepEqual((await get('/v1/files/e.h5/datasets/grid/value?select=[:,2:2]')).json(), { dtype: 'int32', shape: [4, 0], data: [[], [], [], []] });
  assert.deepEqual((await get('/v1/files/e.h5/datasets/grid/value?select=[4:4,1:3]')).json().shape, [0, 2]);
  const raw = await get('/v1/files/e.h5/datasets/grid/value?select=[2:2,:]', 'application/octet-stream');
  assert.equal(raw.rawPayload.length, 0);
  assert.equal(raw.headers['x-ph5-shape'], '0,5');
  // still refused: past the extent, or start after stop
  for (const select of ['[5:5,:]', '[3:2,:]', '[0:1]']) {
    const bad = await get(`/v1/files/e.h5/datasets/grid/value?select=${select}`);
    assert.equal(bad.statusCode, 400, select);
    assert.equal(bad.json().code, 'PH5_ERR_SELECTION');
  }
});

test('an empty write is accepted as a job that changes nothing (JSON [] or zero raw bytes)', async () => {
  for (const [url, payload, headers] of [
    ['/v1/files/e.h5/datasets/log/value', [], {}],
    ['/v1/files/e.h5/datasets/grid/value?select=[1:1,:]', [], {}],
    ['/v1/files/e.h5/datasets/wide/value', [[], []], {}],
    ['/v1/files/e.h5/datasets/grid/value?select=[0:4,3:3]', Buffer.alloc(0), { 'content-type': 'application/octet-stream' }],
  ] as const) {
    const res = await api.app.inject({ method: 'PUT', url, payload: payload as unknown as string, headers });
    assert.equal(res.statusCode, 202, `${url}: ${res.body}`);
    const job = await api.app.jobs.job(res.headers.location!.split('/').pop()!);
    const op = job!.data.ops[0] as WriteOp;
    assert.equal(op.bytes, 0);
  }
  // values where there is no room: refused
  const tooMany = await api.app.inject({ method: 'PUT', url: '/v1/files/e.h5/datasets/log/value', payload: [1] });
  assert.equal(tooMany.statusCode, 400);
  assert.equal(tooMany.json().code, 'PH5_ERR_VALUE');
});

test('creating an empty appendable dataset is accepted, and described while pending', async () => {
  const res = await api.app.inject({
    method: 'POST',
    url: '/v1/files/e.h5/datasets',
    payload: { path: '/app/x', dtype: 'float32', shape: [0, 4], maxshape: [null, 4], chunks: [256, 4] },
  });
  assert.equal(res.statusCode, 202, res.body);
  const meta = await get('/v1/files/e.h5/datasets/app%2Fx');
  assert.deepEqual(meta.json().shape, [0, 4]);
  const noChunks = await api.app.inject({
    method: 'POST',
    url: '/v1/files/e.h5/datasets',
    payload: { path: '/app/y', dtype: 'int64', shape: [0], maxshape: [null] },
  });
  assert.equal(noChunks.statusCode, 202, noChunks.body);
  // a contiguous empty dataset (fixed at 0) is fine; chunked with a dimension fixed at 0 is not
  const contiguous = await api.app.inject({ method: 'POST', url: '/v1/files/e.h5/datasets', payload: { path: '/app/z', dtype: 'int8', shape: [0] } });
  assert.equal(contiguous.statusCode, 202, contiguous.body);
  const jobs = await api.jobCount();
  for (const payload of [
    { path: '/app/bad1', dtype: 'int8', shape: [0], compression: 'gzip' },
    { path: '/app/bad2', dtype: 'int8', shape: [3, 0], shuffle: true },
    { path: '/app/bad3', dtype: 'int8', shape: [0], chunks: [4] },
  ]) {
    const res = await api.app.inject({ method: 'POST', url: '/v1/files/e.h5/datasets', payload });
    assert.equal(res.statusCode, 400, JSON.stringify(payload));
    assert.match(res.json().code, /PH5_ERR_SHAPE|PH5_ERR_VALIDATION/);
  }
  assert.equal(await api.jobCount(), jobs, 'nothing queued');
});
