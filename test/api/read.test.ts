/**
 * Reads of real HDF5 files (written by Debian's h5py, not by ph5): metadata, values as
 * JSON and as raw bytes, selections; writes validated against datasets found in the file;
 * and reads waiting while a writer holds the file.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { keys } from '../../services/shared/jobs.js';
import { startApi, type TestApi } from '../helpers/api.js';

const run = promisify(execFile);
let api: TestApi;

/** Runs a Python snippet with h5py/numpy imported and `path` bound; prints `out` as JSON. */
async function py<T = unknown>(file: string, snippet: string): Promise<T> {
  const program = ['import json, sys, h5py, numpy as np', 'path = sys.argv[1]', 'out = None', snippet, 'print(json.dumps(out))'].join('\n');
  const { stdout } = await run('/usr/bin/python3', ['-c', program, file], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as T;
}

let file: string;
before(async () => {
  api = await startApi();
  const dir = path.join(api.config.dataDir, 'default');
  await mkdir(dir, { recursive: true });
  file = path.join(dir, 'r.h5');
  await py(
    file,
    `
with h5py.File(path, 'w') as f:
    f['ints'] = np.arange(12, dtype='<i4').reshape(3, 4)
    f.create_dataset('grp/big', data=np.array([0.5, -1.25, 3e300, np.inf, np.nan], dtype='>f8'))
    f['flags'] = np.array([True, False, True])
    f['bytes'] = np.arange(250, 256, dtype='u1')
    f['wide'] = np.array([2**62, -5], dtype='<i8')
    f['scalar'] = np.float32(2.5)
    f.create_dataset('ext', shape=(4, 6), maxshape=(None, 6), chunks=(2, 3), dtype='<u2')
`,
  );
});
after(async () => {
  await api?.stop();
});

async function get(url: string, headers: Record<string, string> = {}) {
  return api.app.inject({ method: 'GET', url, headers });
}

test('metadata of datasets in a file written by h5py', async () => {
  const ints = await get('/v1/files/r.h5/datasets/ints');
  assert.equal(ints.statusCode, 200, ints.body);
  assert.deepEqual(ints.json(), {
    path: '/ints',
    dtype: 'int32',
    shape: [3, 4],
    maxshape: [3, 4],
    layout: 'contiguous',
    chunks: null,
    compression: null,
    compressionLevel: null,
    shuffle: false,
    fillValue: null,
    state: 'ready',
  });
  const big = await get('/v1/files/r.h5/datasets/grp%2Fbig');
  assert.equal(big.json().dtype, '>f8');
  assert.equal(big.json().path, '/grp/big');
  const ext = await get('/v1/files/r.h5/datasets/ext');
  assert.deepEqual(ext.json(), {
    path: '/ext',
    dtype: 'uint16',
    shape: [4, 6],
    maxshape: [null, 6],
    layout: 'chunked',
    chunks: [2, 3],
    compression: null,
    compressionLevel: null,
    shuffle: false,
    fillValue: null,
    state: 'ready',
  });
  const scalar = await get('/v1/files/r.h5/datasets/scalar');
  assert.deepEqual(scalar.json().shape, []);
  assert.equal(scalar.json().dtype, 'float32');
});

test('values as JSON: whole datasets and strided selections, in every dtype', async () => {
  const all = await get('/v1/files/r.h5/datasets/ints/value');
  assert.equal(all.statusCode, 200, all.body);
  assert.deepEqual(all.json(), {
    dtype: 'int32',
    shape: [3, 4],
    data: [
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9, 10, 11],
    ],
  });
  const part = await get('/v1/files/r.h5/datasets/ints/value?select=[1:3,0:4:2]');
  assert.deepEqual(part.json(), {
    dtype: 'int32',
    shape: [2, 2],
    data: [
      [4, 6],
      [8, 10],
    ],
  });
  assert.deepEqual((await get('/v1/files/r.h5/datasets/grp%2Fbig/value')).json().data, [0.5, -1.25, 3e300, 'Infinity', 'NaN']);
  assert.deepEqual((await get('/v1/files/r.h5/datasets/flags/value')).json().data, [true, false, true]);
  assert.deepEqual((await get('/v1/files/r.h5/datasets/bytes/value?select=[3:6]')).json().data, [253, 254, 255]);
  assert.deepEqual((await get('/v1/files/r.h5/datasets/wide/value')).json().data, ['4611686018427387904', -5]);
  assert.deepEqual((await get('/v1/files/r.h5/datasets/scalar/value')).json(), { dtype: 'float32', shape: [], data: 2.5 });
});

test('values as raw bytes with Accept: application/octet-stream, byte for byte what h5py reads', async () => {
  const res = await get('/v1/files/r.h5/datasets/grp%2Fbig/value?select=[1:4]', { accept: 'application/octet-stream' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^application\/octet-stream/);
  assert.equal(res.headers['x-ph5-dtype'], '>f8');
  assert.equal(res.headers['x-ph5-shape'], '3');
  const expected = await py<string>(file, "with h5py.File(path, 'r') as f:\n    out = f['grp/big'][1:4].tobytes().hex()");
  assert.equal(res.rawPayload.toString('hex'), expected);
  const ints = await get('/v1/files/r.h5/datasets/ints/value?select=[0:3:2,1:3]', { accept: 'application/octet-stream' });
  const expectedInts = await py<string>(file, "with h5py.File(path, 'r') as f:\n    out = f['ints'][0:3:2, 1:3].tobytes().hex()");
  assert.equal(ints.rawPayload.toString('hex'), expectedInts);
});

test('read errors: unknown dataset or file 404, a group is not a dataset, selection out of bounds 400', async () => {
  const cases: [string, number, string][] = [
    ['/v1/files/r.h5/datasets/nope', 404, 'PH5_ERR_NOT_FOUND'],
    ['/v1/files/r.h5/datasets/nope/value', 404, 'PH5_ERR_NOT_FOUND'],
    ['/v1/files/absent.h5/datasets/ints', 404, 'PH5_ERR_NOT_FOUND'],
    ['/v1/files/absent.h5/datasets/ints/value', 404, 'PH5_ERR_NOT_FOUND'],
    ['/v1/files/r.h5/datasets/grp', 400, 'PH5_ERR_TYPE'],
    ['/v1/files/r.h5/datasets/ints/value?select=[0:4,0:4]', 400, 'PH5_ERR_SELECTION'],
    ['/v1/files/r.h5/datasets/ints/value?dtype=%3Ei4', 400, 'PH5_ERR_DTYPE'],
    ['/v1/files/..%2Fr.h5/datasets/ints/value', 400, 'PH5_ERR_FILE_NAME'],
  ];
  for (const [url, status, code] of cases) {
    const res = await get(url);
    assert.equal(res.statusCode, status, `${url}: ${res.body}`);
    assert.equal(res.json().code, code, url);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  }
});

test('creating a dataset that exists in the file is 409; writes are checked against the file’s dtype and shape', async () => {
  const before = await api.jobCount();
  const exists = await api.app.inject({ method: 'POST', url: '/v1/files/r.h5/datasets', payload: { path: '/ints', dtype: 'int32', shape: [3, 4] } });
  assert.equal(exists.statusCode, 409);
  assert.equal(exists.json().code, 'PH5_ERR_EXISTS');
  const group = await api.app.inject({ method: 'POST', url: '/v1/files/r.h5/datasets', payload: { path: 'grp', dtype: 'int32', shape: [3] } });
  assert.equal(group.statusCode, 409, 'a group is in the way');
  assert.deepEqual(await api.app.redis.hkeys(keys.datasets('default', 'r.h5')), []);
  const tooMany = await api.app.inject({ method: 'PUT', url: '/v1/files/r.h5/datasets/ints/value?select=[0:1,0:4]', payload: [1, 2, 3] });
  assert.equal(tooMany.statusCode, 400);
  assert.equal(tooMany.json().code, 'PH5_ERR_VALUE');
  assert.equal(await api.jobCount(), before);

  const ok = await api.app.inject({ method: 'PUT', url: '/v1/files/r.h5/datasets/grp%2Fbig/value?select=[0:2]', payload: [1, 2] });
  assert.equal(ok.statusCode, 202, ok.body);
  const job = await api.app.jobs.job(ok.headers.location!.split('/').pop()!);
  const op = job!.data.ops[0]!;
  assert.equal(op.op === 'write' && op.dtype, '>f8', 'the dtype comes from the file');
});

test('a pending dataset is described from the registry, and has no values yet', async () => {
  const res = await api.app.inject({ method: 'POST', url: '/v1/files/r.h5/datasets', payload: { path: '/new/x', dtype: '>i2', shape: [5], maxshape: [null] } });
  assert.equal(res.statusCode, 202, res.body);
  const meta = await get('/v1/files/r.h5/datasets/new%2Fx');
  assert.deepEqual(meta.json(), {
    path: '/new/x',
    dtype: '>i2',
    shape: [5],
    maxshape: [null],
    layout: 'chunked',
    chunks: null,
    compression: null,
    compressionLevel: null,
    shuffle: false,
    fillValue: null,
    state: 'pending',
  });
  const value = await get('/v1/files/r.h5/datasets/new%2Fx/value');
  assert.equal(value.statusCode, 404);
  assert.match(value.json().detail, /has not run/);
});

test('a read waits while a writer holds the file, and proceeds when it lets go', async () => {
  const lease = await api.app.locks.acquireWrite('default', 'r.h5');
  let answered = false;
  const reading = get('/v1/files/r.h5/datasets/ints/value?select=[0:1,0:1]').then((r) => {
    answered = true;
    return r;
  });
  await sleep(300);
  assert.equal(answered, false, 'the read waits for the writer');
  await lease.release();
  const res = await reading;
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json().data, [[0]]);
});
