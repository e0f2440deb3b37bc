/**
 * Bad input gets a clear application/problem+json error with a stable code, and changes
 * nothing: no job queued, no staged payload left, no dataset recorded.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
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

/** Every dataset registry entry of every file, to check refused requests leave it alone. */
async function registry(): Promise<Record<string, Record<string, string>>> {
  const redis = api.app.redis;
  const out: Record<string, Record<string, string>> = {};
  for (const key of (await redis.keys('ph5:meta:*')).sort()) out[key] = await redis.hgetall(key);
  return out;
}

const chunked =
  (...sizes: number[]) =>
  () =>
    Readable.from(sizes.map((n) => Buffer.alloc(n)));

interface Case {
  name: string;
  method: 'POST' | 'PUT' | 'GET';
  url: string;
  /** A function gives a fresh stream per run: sent chunked, without Content-Length. */
  payload?: unknown;
  headers?: Record<string, string>;
  status: number;
  code: string;
}

const binary = { 'content-type': 'application/octet-stream' };
const cases: Case[] = [
  {
    name: 'unknown dtype',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'int33', shape: [4] },
    status: 400,
    code: 'PH5_ERR_DTYPE',
  },
  {
    name: 'negative dimension',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [-1] },
    status: 400,
    code: 'PH5_ERR_VALIDATION',
  },
  {
    name: 'maxshape below shape',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [4], maxshape: [2] },
    status: 400,
    code: 'PH5_ERR_SHAPE',
  },
  {
    name: 'unknown field',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [4], compresion: 4 },
    status: 400,
    code: 'PH5_ERR_VALIDATION',
  },
  {
    name: 'fill value out of range',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'uint8', shape: [4], fillValue: 300 },
    status: 400,
    code: 'PH5_ERR_VALUE',
  },
  {
    name: 'dataset exists',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/d', dtype: 'int8', shape: [4] },
    status: 409,
    code: 'PH5_ERR_EXISTS',
  },
  {
    name: 'bad HDF5 path',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/a/../b', dtype: 'int8', shape: [4] },
    status: 400,
    code: 'PH5_ERR_H5_PATH',
  },
  {
    name: 'file name with ..',
    method: 'POST',
    url: '/v1/files/..%2Fescape.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [4] },
    status: 400,
    code: 'PH5_ERR_FILE_NAME',
  },
  {
    name: 'file name %2e%2e%2f',
    method: 'POST',
    url: '/v1/files/%2e%2e%2fescape.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [4] },
    status: 400,
    code: 'PH5_ERR_FILE_NAME',
  },
  { name: 'file name with /', method: 'PUT', url: '/v1/files/a%2Fb.h5/datasets/d/value', payload: [1], status: 400, code: 'PH5_ERR_FILE_NAME' },
  { name: 'hidden file name', method: 'GET', url: '/v1/files/.staging/datasets/d', status: 400, code: 'PH5_ERR_FILE_NAME' },
  { name: 'unknown dataset', method: 'PUT', url: '/v1/files/ok.h5/datasets/nope/value', payload: [1], status: 404, code: 'PH5_ERR_NOT_FOUND' },
  {
    name: 'selection out of bounds',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:11,0:4]',
    payload: [],
    status: 400,
    code: 'PH5_ERR_SELECTION',
  },
  {
    name: 'selection with wrong rank',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:2]',
    payload: [1, 2],
    status: 400,
    code: 'PH5_ERR_SELECTION',
  },
  { name: 'malformed selection', method: 'PUT', url: '/v1/files/ok.h5/datasets/d/value?select=0:2', payload: [1, 2], status: 400, code: 'PH5_ERR_SELECTION' },
  {
    name: 'JSON shape mismatch',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:2,0:4]',
    payload: [
      [1, 2, 3, 4],
      [5, 6, 7],
    ],
    status: 400,
    code: 'PH5_ERR_VALUE',
  },
  {
    name: 'JSON value out of range',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:1,0:1]',
    payload: [2 ** 31],
    status: 400,
    code: 'PH5_ERR_VALUE',
  },
  {
    name: 'binary body too short',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:2,0:4]',
    payload: Buffer.alloc(31),
    headers: binary,
    status: 400,
    code: 'PH5_ERR_BODY_LENGTH',
  },
  {
    name: 'binary body too long',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:2,0:4]',
    payload: Buffer.alloc(33),
    headers: binary,
    status: 400,
    code: 'PH5_ERR_BODY_LENGTH',
  },
  {
    name: 'binary dtype of another size',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:1,0:1]&dtype=%3Ei8',
    payload: Buffer.alloc(8),
    headers: binary,
    status: 400,
    code: 'PH5_ERR_DTYPE',
  },
  {
    name: 'unsupported body type',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:1,0:1]',
    payload: 'x',
    headers: { 'content-type': 'text/csv' },
    status: 415,
    code: 'PH5_ERR_MEDIA_TYPE',
  },
  {
    name: 'broken JSON',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:1,0:1]',
    payload: '[1,',
    headers: { 'content-type': 'application/json' },
    status: 400,
    code: 'PH5_ERR_JSON',
  },
  { name: 'unknown route', method: 'GET', url: '/v1/nothing', status: 404, code: 'PH5_ERR_ROUTE' },
  {
    name: 'zero chunk dimension',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [4, 2], chunks: [4, 0] },
    status: 400,
    code: 'PH5_ERR_VALIDATION',
  },
  {
    name: 'compressed with a dimension fixed at 0',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [4, 0], compression: 'gzip' },
    status: 400,
    code: 'PH5_ERR_SHAPE',
  },
  {
    name: 'fractional dimension',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [4.5] },
    status: 400,
    code: 'PH5_ERR_VALIDATION',
  },
  {
    name: 'rank above 32',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: Array(33).fill(1) },
    status: 400,
    code: 'PH5_ERR_VALIDATION',
  },
  {
    name: 'too many elements',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [2 ** 25, 2 ** 25] },
    status: 413,
    code: 'PH5_ERR_TOO_MANY_ELEMENTS',
  },
  { name: 'missing shape', method: 'POST', url: '/v1/files/ok.h5/datasets', payload: { path: '/e', dtype: 'int8' }, status: 400, code: 'PH5_ERR_VALIDATION' },
  {
    name: 'maxshape of another rank',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [4], maxshape: [4, 4] },
    status: 400,
    code: 'PH5_ERR_SHAPE',
  },
  {
    name: 'chunks of another rank',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [4, 4], chunks: [2] },
    status: 400,
    code: 'PH5_ERR_SHAPE',
  },
  {
    name: 'chunks beyond maxshape',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [4], chunks: [8] },
    status: 400,
    code: 'PH5_ERR_SHAPE',
  },
  {
    name: 'chunk of 4 GiB',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'float64', shape: [2 ** 20, 2 ** 10], chunks: [2 ** 19, 2 ** 10] },
    status: 400,
    code: 'PH5_ERR_SHAPE',
  },
  {
    name: 'chunked scalar',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [], chunks: [] },
    status: 400,
    code: 'PH5_ERR_SHAPE',
  },
  {
    name: 'growable without chunks',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [4], maxshape: [8] },
    status: 400,
    code: 'PH5_ERR_SHAPE',
  },
  {
    name: 'fill value of the wrong kind',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [4], fillValue: 1.5 },
    status: 400,
    code: 'PH5_ERR_VALUE',
  },
  {
    name: 'root as dataset path',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/', dtype: 'int8', shape: [4] },
    status: 400,
    code: 'PH5_ERR_H5_PATH',
  },
  {
    name: 'empty segment in dataset path',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: '/a//b', dtype: 'int8', shape: [4] },
    status: 400,
    code: 'PH5_ERR_H5_PATH',
  },
  {
    name: 'dataset exists, other spelling',
    method: 'POST',
    url: '/v1/files/ok.h5/datasets',
    payload: { path: 'd', dtype: 'int32', shape: [10, 4] },
    status: 409,
    code: 'PH5_ERR_EXISTS',
  },
  {
    name: 'file name with leading dot',
    method: 'POST',
    url: '/v1/files/.hidden.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [4] },
    status: 400,
    code: 'PH5_ERR_FILE_NAME',
  },
  {
    name: 'file name with a space',
    method: 'POST',
    url: '/v1/files/a%20b.h5/datasets',
    payload: { path: '/e', dtype: 'int8', shape: [4] },
    status: 400,
    code: 'PH5_ERR_FILE_NAME',
  },
  { name: 'bad HDF5 path in the URL', method: 'PUT', url: '/v1/files/ok.h5/datasets/a%2F..%2Fd/value', payload: [1], status: 400, code: 'PH5_ERR_H5_PATH' },
  {
    name: 'flat JSON of the wrong length',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:2,0:4]',
    payload: [1, 2, 3, 4, 5, 6, 7],
    status: 400,
    code: 'PH5_ERR_VALUE',
  },
  {
    name: 'JSON value not a number',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:1,0:2]',
    payload: [1, 'two'],
    status: 400,
    code: 'PH5_ERR_VALUE',
  },
  {
    name: 'JSON float into an int dataset',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:1,0:2]',
    payload: [1, 2.5],
    status: 400,
    code: 'PH5_ERR_VALUE',
  },
  {
    name: 'selection with start after stop',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[4:3,0:4]',
    payload: [],
    status: 400,
    code: 'PH5_ERR_SELECTION',
  },
  { name: 'negative index', method: 'PUT', url: '/v1/files/ok.h5/datasets/d/value?select=[-1:2,0:4]', payload: [], status: 400, code: 'PH5_ERR_SELECTION' },
  {
    name: 'whole-dataset JSON of the wrong shape',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value',
    payload: [[1, 2, 3, 4]],
    status: 400,
    code: 'PH5_ERR_VALUE',
  },
  {
    name: 'chunked binary body too short',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:2,0:4]',
    payload: chunked(10, 11),
    headers: binary,
    status: 400,
    code: 'PH5_ERR_BODY_LENGTH',
  },
  {
    name: 'chunked binary body too long',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:2,0:4]',
    payload: chunked(20, 20),
    headers: binary,
    status: 400,
    code: 'PH5_ERR_BODY_LENGTH',
  },
  {
    name: 'chunked binary body for a bad selection',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:20,0:4]',
    payload: chunked(320),
    headers: binary,
    status: 400,
    code: 'PH5_ERR_SELECTION',
  },
  {
    name: 'binary body for an unknown dataset',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/zz/value',
    payload: Buffer.alloc(4),
    headers: binary,
    status: 404,
    code: 'PH5_ERR_NOT_FOUND',
  },
  {
    name: 'binary body with an unknown ?dtype',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:1,0:1]&dtype=q4',
    payload: Buffer.alloc(4),
    headers: binary,
    status: 400,
    code: 'PH5_ERR_DTYPE',
  },
  {
    name: 'binary body with ?dtype of another kind',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:1,0:1]&dtype=%3Ef4',
    payload: Buffer.alloc(4),
    headers: binary,
    status: 400,
    code: 'PH5_ERR_DTYPE',
  },
  {
    name: '?dtype with a JSON body',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?select=[0:1,0:1]&dtype=%3Ei4',
    payload: [1],
    status: 400,
    code: 'PH5_ERR_DTYPE',
  },
  {
    name: 'unknown query parameter',
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value?selection=[0:1,0:1]',
    payload: [1],
    status: 400,
    code: 'PH5_ERR_VALIDATION',
  },
];

for (const c of cases) {
  test(`${c.name} → ${c.status} ${c.code}, nothing queued or staged`, async () => {
    const jobsBefore = await api.jobCount();
    const registryBefore = await registry();
    const payload = typeof c.payload === 'function' ? (c.payload as () => Readable)() : c.payload;
    const res = await api.app.inject({
      method: c.method,
      url: c.url,
      ...(payload === undefined ? {} : { payload: payload as never }),
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
    assert.deepEqual(await registry(), registryBefore, 'no dataset was registered');
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

test('an upload aborted halfway leaves nothing staged and queues nothing', async () => {
  const jobsBefore = await api.jobCount();
  const body = new Readable({ read() {} });
  const answer = api.app.inject({
    method: 'PUT',
    url: '/v1/files/ok.h5/datasets/d/value',
    headers: { 'content-type': 'application/octet-stream' },
    payload: body,
  });
  body.push(Buffer.alloc(64));
  setTimeout(() => body.destroy(new Error('client went away')), 50);
  const res = await answer.catch((err: Error) => err);
  if (!(res instanceof Error)) assert.ok(res.statusCode >= 400, `refused: ${res.statusCode}`);
  for (let i = 0; i < 50 && (await api.staged()).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(await api.staged(), [], 'the partial payload was removed');
  assert.equal(await api.jobCount(), jobsBefore);
});

test('bodies above PH5_MAX_BODY_BYTES are refused with 413, JSON or binary, declared or not', async () => {
  const small = await startApi({ PH5_MAX_BODY_BYTES: '64' });
  try {
    const created = await small.app.inject({ method: 'POST', url: '/v1/files/s.h5/datasets', payload: { path: '/d', dtype: 'float64', shape: [100] } });
    assert.equal(created.statusCode, 202);
    const jobsBefore = await small.jobCount();
    const attempts = [
      { payload: Array(100).fill(1.25), headers: {} },
      { payload: Buffer.alloc(800), headers: binary },
      { payload: Readable.from([Buffer.alloc(800)]), headers: binary },
    ];
    for (const a of attempts) {
      const res = await small.app.inject({ method: 'PUT', url: '/v1/files/s.h5/datasets/d/value', payload: a.payload as never, headers: a.headers });
      assert.equal(res.statusCode, 413, res.body);
      assert.equal(res.json().code, 'PH5_ERR_BODY_TOO_LARGE');
    }
    assert.equal(await small.jobCount(), jobsBefore);
    assert.deepEqual(await small.staged(), []);
  } finally {
    await small.stop();
  }
});

test('dot-dot file names sent raw over HTTP (no client-side normalisation) are refused', async () => {
  const http = await import('node:http');
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = api.app.server.address() as { port: number };
  const send = (rawPath: string) =>
    new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: rawPath, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ path: '/e', dtype: 'int8', shape: [4] }));
    });
  const jobsBefore = await api.jobCount();
  for (const raw of [
    '/v1/files/%2e%2e/datasets',
    '/v1/files/%2E%2E/datasets',
    '/v1/files/../datasets',
    '/v1/files/..%2f..%2fetc/datasets',
    '/v1/files/%2e/datasets',
  ]) {
    const res = await send(raw);
    assert.ok(res.status === 400 || res.status === 404, `${raw}: ${res.status}`);
    assert.ok(['PH5_ERR_FILE_NAME', 'PH5_ERR_ROUTE'].includes(res.body.code), `${raw}: ${res.body.code}`);
  }
  assert.equal((await send('/v1/files/%2e%2e/datasets')).body.code, 'PH5_ERR_FILE_NAME');
  assert.equal(await api.jobCount(), jobsBefore);
  assert.deepEqual(await api.staged(), []);
});
