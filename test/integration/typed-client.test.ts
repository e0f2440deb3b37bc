/**
 * The published contract, proven by a client that did not write it: the openapi-fetch
 * client over the types openapi-typescript generated from openapi/openapi.json drives a
 * live stack with auth on (2 real ranks): create, binary and JSON writes, jobs waited for,
 * reads as JSON and raw bytes, and problems. The file is checked with h5py.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createPh5Client, waitForJob, type Ph5Client } from '../../services/client/index.js';
import { h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';

const TOKEN = 'typed-client-token-0123456789abcdef';
let stack: Stack;
let ph5: Ph5Client;
before(async () => {
  stack = await startStack({ ranks: 2, env: { PH5_TOKENS: JSON.stringify([{ name: 'tc', project: 'typed', role: 'write', token: TOKEN }]) } });
  ph5 = createPh5Client({ baseUrl: stack.url, token: TOKEN });
});
after(async () => {
  await stack?.stop();
});

test('create, write (binary and JSON), wait, read back: all through the generated types', { timeout: 120_000 }, async () => {
  const created = await ph5.POST('/v1/files/{file}/datasets', {
    params: { path: { file: 'typed.h5' } },
    body: { path: '/grp/x', dtype: 'float32', shape: [8, 3] },
  });
  assert.equal(created.response.status, 202, JSON.stringify(created.error));
  assert.ok(created.data);
  assert.equal(created.response.headers.get('location'), `/v1/jobs/${created.data.job.id}`);
  assert.equal((await waitForJob(ph5, created.data.job.id)).state, 'completed');

  const rows = new Float32Array(Array.from({ length: 12 }, (_, i) => i + 0.25));
  const binary = await ph5.PUT('/v1/files/{file}/datasets/{path}/value', {
    params: { path: { file: 'typed.h5', path: 'grp/x' }, query: { select: '[0:4,:]' } },
    body: Buffer.from(rows.buffer) as never,
    bodySerializer: (b: unknown) => b as never,
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal(binary.response.status, 202, JSON.stringify(binary.error));
  const json = await ph5.PUT('/v1/files/{file}/datasets/{path}/value', {
    params: { path: { file: 'typed.h5', path: 'grp/x' }, query: { select: '[4:8,:]' } },
    body: [
      [-1, -2, -3],
      [-4, -5, -6],
      [-7, -8, -9],
      [-10, -11, -12],
    ],
  });
  assert.equal(json.response.status, 202, JSON.stringify(json.error));
  for (const r of [binary, json]) assert.equal((await waitForJob(ph5, r.data!.job.id)).state, 'completed');

  const read = await ph5.GET('/v1/files/{file}/datasets/{path}/value', { params: { path: { file: 'typed.h5', path: 'grp/x' }, query: { select: '[3:5,1]' } } });
  assert.equal(read.response.status, 200);
  assert.deepEqual(read.data, { dtype: 'float32', shape: [2, 1], data: [[10.25], [-2]] }); // an index keeps its dimension (HSDS)

  const raw = await ph5.GET('/v1/files/{file}/datasets/{path}/value', {
    params: { path: { file: 'typed.h5', path: 'grp/x' } },
    headers: { accept: 'application/octet-stream' },
    parseAs: 'arrayBuffer',
  });
  assert.equal(raw.response.headers.get('x-ph5-dtype'), 'float32');
  const all = new Float32Array(raw.data as unknown as ArrayBuffer);
  assert.deepEqual([...all.slice(0, 12)], [...rows]);

  const info = await ph5.GET('/v1/files/{file}/datasets/{path}', { params: { path: { file: 'typed.h5', path: 'grp/x' } } });
  assert.deepEqual(info.data && { dtype: info.data.dtype, shape: info.data.shape, state: info.data.state }, {
    dtype: 'float32',
    shape: [8, 3],
    state: 'ready',
  });

  // The file is where the token's project says, and h5py agrees.
  const file = path.join(stack.dataDir, 'typed', 'typed.h5');
  const seen = await h5py<number[][]>(file, "out = h5py.File(path, 'r')['/grp/x'][...].tolist()");
  assert.deepEqual(seen[5], [-4, -5, -6]);
  assert.deepEqual(seen[0], [0.25, 1.25, 2.25]);
});

test('problems come back typed: bad selection 400, unknown job 404, no token 401', async () => {
  const bad = await ph5.GET('/v1/files/{file}/datasets/{path}/value', { params: { path: { file: 'typed.h5', path: 'grp/x' }, query: { select: '[0:99]' } } });
  assert.equal(bad.response.status, 400);
  assert.equal(bad.error?.code, 'PH5_ERR_SELECTION');
  const missing = await ph5.GET('/v1/jobs/{id}', { params: { path: { id: 'no-such-job' } } });
  assert.equal(missing.response.status, 404);
  assert.equal(missing.error?.code, 'PH5_ERR_JOB_NOT_FOUND');
  const anonymous = createPh5Client({ baseUrl: stack.url });
  const refused = await anonymous.GET('/v1/jobs/{id}', { params: { path: { id: 'x' } } });
  assert.equal(refused.response.status, 401);
  assert.equal(refused.error?.code, 'PH5_ERR_UNAUTHORIZED');
});
