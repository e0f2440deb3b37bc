/**
 * Bad input gets a clear application/problem+json error with a stable code, and changes
 * nothing: no job queued, no staged payload left, no dataset recorded.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApi, type TestApi } from '../helpers/api.js';

let api: TestApi;
before(async () => {
  api = await startApi();
  const res = await api.app.inject({ method: 'POST', url: '/v1/files/ok.h5/datasets', payload: { path: '/d', dtype: 'int32', shape: [10, 4] } });
  assert.equal(res.statusCode, 202);
});
after(async () => {
  await api?.stop();
});

interface Case {
  name: string;
  method: 'POST' | 'PUT' | 'GET';
  url: string;
  payload?: unknown;
  headers?: Record<string, string>;
  status: number;
  code: string;
}

const binary = { 'content-type': 'application/octet-stream' };
const cases: Case[] = [
  { name: 'unknown dtype', method: 'POST', url: '/v1/files/ok.h5/datasets', payload: { path: '/e', dtype: 'int33', shape: [4] }, status: 400, code: 'PH5_ERR_DTYPE' },
  { name: 'negative dimension', method: 'POST', url: '/v1/files/ok.h5/datasets', payload: { path: '/e', dtype: 'int8', shape: [-1] }, status: 400, code: 'PH5_ERR_VALIDATION' },
  { name: 'maxshape below shape', method: 'POST', url: '/v1/files/ok.h5/datasets', payload: { path: '/e', dtype: 'int8', shape: [4], maxshape: [2] }, status: 400, code: 'PH5_ERR_SHAPE' },
  { name: 'unknown field', method: 'POST', url: '/v1/files/ok.h5/datasets', payload: { path: '/e', dtype: 'int8', shape: [4], compresion: 4 }, status: 400, code: 'PH5_ERR_VALIDATION' },
  { name: 'fill value out of range', method: 'POST', url: '/v1/files/ok.h5/datasets', payload: { path: '/e', dtype: 'uint8', shape: [4], fillValue: 300 }, status: 400, code: 'PH5_ERR_VALUE' },
  { name: 'dataset exists', method: 'POST', url: '/v1/files/ok.h5/datasets', payload: { path: '/d', dtype: 'int8', shape: [4] }, status: 409, code: 'PH5_ERR_EXISTS' },
  { name: 'bad HDF5 path', method: 'POST', url: '/v1/files/ok.h5/datasets', payload: { path: '/a/../b', dtype: 'int8', shape: [4] }, status: 400, code: 'PH5_ERR_H5_PATH' },
  { name: 'file name with ..', method: 'POST', url: '/v1/files/..%2Fescape.h5/datasets', payload: { path: '/e', dtype: 'int8', shape: [4] }, status: 400, code: 'PH5_ERR_FILE_NAME' },
  { name: 'file name %2e%2e%2f', method: 'POST', url: '/v1/files/%2e%2e%2fescape.h5/datasets', payload: { path: '/e', dtype: 'int8', shape: [4] }, status: 400, code: 'PH5_ERR_FILE_NAME' },
  { name: 'file name with /', method: 'PUT', url: '/v1/files/a%2Fb.h5/datasets/d/value', payload: [1], status: 400, code: 'PH5_ERR_FILE_NAME' },
  { name: 'hidden file name', method: 'GET', url: '/v1/files/.staging/datasets/d', status: 400, code: 'PH5_ERR_FILE_NAME' },
  { name: 'unknown dataset', method: 'PUT', url: '/v1/files/ok.h5/datasets/nope/value', payload: [1], status: 404, code: 'PH5_ERR_NOT_FOUND' },
  { name: 'selection out of bounds', method: 'PUT', url: '/v1/files/ok.h5/datasets/d/value?select=[0:11,0:4]', payload: [], status: 400, code: 'PH5_ERR_SELECTION' },
  { name: 'selection with wrong rank', method: 'PUT', url: '/v1/files/ok.h5/datasets/d/value?select=[0:2]', payload: [1, 2], status: 400, code: 'PH5_ERR_SELECTION' },
  { name: 'malformed selection', method: 'PUT', url: '/v1/files/ok.h5/datasets/d/value?select=0:2', payload: [1, 2], status: 400, code: 'PH5_ERR_SELECTION' },
  { name: 'JSON shape mismatch', method: 'PUT', url: '/v1/files/ok.h5/datasets/d/value?select=[0:2,0:4]', payload: [[1, 2, 3, 4], [5, 6, 7]], status: 400, code: 'PH5_ERR_VALUE' },
  { name: 'JSON value out of range', method: 'PUT', url: '/v1/files/ok.h5/datasets/d/value?select=[0:1,0:1]', payload: [2 ** 31], status: 400, code: 'PH5_ERR_VALUE' },
  { name: 'binary body too short', method: 'PUT', url: '/v1/files/ok.h5/datasets/d/value?select=[0:2,0:4]', payload: Buffer.alloc(31), headers: binary, status: 400, code: 'PH5_ERR_BODY_LENGTH' },
  { name: 'binary body too long', method: 'PUT', url: '/v1/files/ok.h5/datasets/d/value?select=[0:2,0:4]', payload: Buffer.alloc(33), headers: binary, status: 400, code: 'PH5_ERR_BODY_LENGTH' },
  { name: 'binary dtype of another size', method: 'PUT', url: '/v1/files/ok.h5/datasets/d/value?select=[0:1,0:1]&dtype=%3Ei8', payload: Buffer.alloc(8), headers: binary, status: 400, code: 'PH5_ERR_DTYPE' },
  { name: 'unsupported body type', method: 'PUT', url: '/v1/files/ok.h5/datasets/d/value?select=[0:1,0:1]', payload: 'x', headers: { 'content-type': 'text/csv' }, status: 415, code: 'PH5_ERR_MEDIA_TYPE' },
  { name: 'broken JSON', method: 'PUT', url: '/v1/files/ok.h5/datasets/d/value?select=[0:1,0:1]', payload: '[1,', headers: { 'content-type': 'application/json' }, status: 400, code: 'PH5_ERR_JSON' },
  { name: 'unknown route', method: 'GET', url: '/v1/nothing', status: 404, code: 'PH5_ERR_ROUTE' },
];

for (const c of cases) {
  test(`${c.name} → ${c.status} ${c.code}, nothing queued or staged`, async () => {
    const jobsBefore = await api.jobCount();
    const res = await api.app.inject({
      method: c.method,
      url: c.url,
      ...(c.payload === undefined ? {} : { payload: c.payload as never }),
      ...(c.headers ? { headers: c.headers } : {}),
    });
    assert.equal(res.statusCode, c.status, res.body);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    const problem = res.json();
    assert.equal(problem.code, c.code);
    assert.equal(problem.status, c.status);
    assert.ok(problem.detail && problem.title && problem.type.endsWith(c.code));
    assert.equal(await api.jobCount(), jobsBefore, 'no job was queued');
    assert.deepEqual(await api.staged(), [], 'no payload was left in staging');
  });
}

test('a symlink planted in the project directory is refused', async () => {
  const { mkdir, symlink } = await import('node:fs/promises');
  const path = await import('node:path');
  const projectDir = path.join(api.config.dataDir, 'default');
  await mkdir(projectDir, { recursive: true });
  await symlink('/etc/hostname', path.join(projectDir, 'link.h5'));
  const res = await api.app.inject({ method: 'GET', url: '/v1/files/link.h5/datasets/d/value' });
  assert.equal(res.statusCode, 400);
  assert.equal(res.json().code, 'PH5_ERR_FILE_NAME');
});

test('Redis down → 503 with Retry-After, quickly, and nothing staged', async () => {
  await api.redis.kill();
  try {
    const t0 = Date.now();
    const res = await api.app.inject({ method: 'PUT', url: '/v1/files/ok.h5/datasets/d/value?select=[0:1,0:1]', payload: [1] });
    assert.equal(res.statusCode, 503, res.body);
    assert.equal(res.json().code, 'PH5_ERR_UNAVAILABLE');
    assert.equal(res.headers['retry-after'], '5');
    assert.ok(Date.now() - t0 < 3000, `answered in ${Date.now() - t0} ms`);
    assert.deepEqual(await api.staged(), []);
  } finally {
    await api.redis.restart();
  }
});
