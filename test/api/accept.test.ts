/**
 * What an accepted write leaves behind: a queued job whose JSON data points at a staged
 * payload holding exactly the bytes the worker must write, and a Location to poll.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { keys, type JobData, type WriteOp } from '../../services/shared/jobs.js';
import { startApi, type TestApi } from '../helpers/api.js';

let api: TestApi;
before(async () => {
  api = await startApi();
});
after(async () => {
  await api?.stop();
});

async function jobData(location: string): Promise<JobData> {
  const job = await api.app.jobs.job(location.split('/').pop()!);
  assert.ok(job, `job ${location} is in Redis`);
  return job.data;
}

test('creating a dataset queues a createDataset job and answers 202 with Location', async () => {
  const res = await api.app.inject({ method: 'POST', url: '/v1/files/output.h5/datasets', payload: { path: 'test', dtype: '<i4', shape: [42] } });
  assert.equal(res.statusCode, 202, res.body);
  const body = res.json();
  assert.equal(body.job.state, 'queued');
  assert.equal(res.headers.location, `/v1/jobs/${body.job.id}`);
  const data = await jobData(res.headers.location);
  assert.deepEqual(data.ops, [{ op: 'createDataset', path: '/test', dtype: 'int32', shape: [42] }]);
  assert.equal(data.project, 'default');
  assert.equal(data.file, 'output.h5');

  const meta = await api.app.inject({ method: 'GET', url: '/v1/files/output.h5/datasets/test' });
  assert.equal(meta.statusCode, 200);
  assert.equal(meta.json().state, 'pending');
  assert.deepEqual(meta.json().shape, [42]);
});

test('a JSON write is staged as little-endian bytes of the dataset dtype', async () => {
  const res = await api.app.inject({
    method: 'PUT',
    url: '/v1/files/output.h5/datasets/test/value?select=[0:42]',
    payload: Array.from({ length: 42 }, (_, i) => i),
  });
  assert.equal(res.statusCode, 202, res.body);
  const op = (await jobData(res.headers.location!)).ops[0] as WriteOp;
  assert.equal(op.op, 'write');
  assert.deepEqual(op.hyperslab, { start: [0], stride: [1], count: [42] });
  const staged = await readFile(path.join(api.config.dataDir, '.staging', op.staged));
  assert.equal(staged.length, 168);
  for (let i = 0; i < 42; i++) assert.equal(staged.readInt32LE(i * 4), i);
});

test('a binary write is streamed to staging byte for byte, with its declared byte order', async () => {
  await api.app.inject({ method: 'POST', url: '/v1/files/b.h5/datasets', payload: { path: '/g/d', dtype: 'float64', shape: [4, 3] } });
  const bytes = Buffer.alloc(2 * 3 * 8);
  for (let i = 0; i < 6; i++) bytes.writeDoubleBE(i + 0.25, i * 8);
  const res = await api.app.inject({
    method: 'PUT',
    url: '/v1/files/b.h5/datasets/g%2Fd/value?select=[1:4:2,0:3]&dtype=%3Ef8',
    headers: { 'content-type': 'application/octet-stream' },
    payload: bytes,
  });
  assert.equal(res.statusCode, 202, res.body);
  const op = (await jobData(res.headers.location!)).ops[0] as WriteOp;
  assert.equal(op.path, '/g/d');
  assert.equal(op.payloadDtype, '>f8');
  assert.equal(op.dtype, 'float64');
  assert.deepEqual(op.hyperslab, { start: [1, 0], stride: [2, 1], count: [2, 3] });
  assert.deepEqual(await readFile(path.join(api.config.dataDir, '.staging', op.staged)), bytes);
});

test('job status maps BullMQ states and long-polls up to ?wait', async () => {
  const res = await api.app.inject({ method: 'POST', url: '/v1/files/w.h5/datasets', payload: { path: 'x', dtype: 'uint8', shape: [1] } });
  const t0 = Date.now();
  const job = await api.app.inject({ method: 'GET', url: `${res.headers.location}?wait=1` });
  assert.equal(job.statusCode, 200);
  assert.equal(job.json().state, 'queued');
  assert.ok(Date.now() - t0 >= 900, 'waited for the job before answering');
  const missing = await api.app.inject({ method: 'GET', url: '/v1/jobs/no-such-job' });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().code, 'PH5_ERR_JOB_NOT_FOUND');
});

async function writeOp(res: { statusCode: number; body: string; headers: Record<string, unknown> }): Promise<WriteOp> {
  assert.equal(res.statusCode, 202, res.body);
  const op = (await jobData(String(res.headers.location))).ops[0] as WriteOp;
  assert.equal(op.op, 'write');
  return op;
}

async function stagedBytes(op: WriteOp): Promise<Buffer> {
  return readFile(path.join(api.config.dataDir, '.staging', op.staged));
}

test('JSON values are encoded in the dataset’s dtype and byte order', async () => {
  const cases: { dtype: string; shape: number[]; values: unknown; bytes: Buffer }[] = [
    { dtype: 'int32', shape: [3], values: [-1, 0, 2147483647], bytes: Buffer.from('ffffffff00000000ffffff7f', 'hex') },
    { dtype: '>i4', shape: [2], values: [1, -2], bytes: Buffer.from('00000001fffffffe', 'hex') },
    {
      dtype: 'float64',
      shape: [2],
      values: [1.5, 'NaN'],
      bytes: Buffer.concat([Buffer.from('000000000000f83f', 'hex'), Buffer.from('000000000000f87f', 'hex')]),
    },
    {
      dtype: 'bool',
      shape: [2, 2],
      values: [
        [true, false],
        [false, true],
      ],
      bytes: Buffer.from([1, 0, 0, 1]),
    },
    { dtype: 'uint8', shape: [2, 2], values: [0, 255, 7, 128], bytes: Buffer.from([0, 255, 7, 128]) },
    { dtype: 'int64', shape: [1], values: ['-9223372036854775808'], bytes: Buffer.from('0000000000000080', 'hex') },
  ];
  for (const [i, c] of cases.entries()) {
    const created = await api.app.inject({ method: 'POST', url: '/v1/files/enc.h5/datasets', payload: { path: `/d${i}`, dtype: c.dtype, shape: c.shape } });
    assert.equal(created.statusCode, 202, created.body);
    const op = await writeOp(await api.app.inject({ method: 'PUT', url: `/v1/files/enc.h5/datasets/d${i}/value`, payload: c.values as never }));
    assert.equal(op.payloadDtype, op.dtype, c.dtype);
    assert.equal(op.bytes, c.bytes.length);
    assert.equal(op.select, `[${c.shape.map((d) => `0:${d}`).join(',')}]`, 'no select: the whole dataset, written canonically');
    assert.deepEqual(await stagedBytes(op), c.bytes, `${c.dtype} ${JSON.stringify(c.values)}`);
  }
});

test('a binary body without Content-Length (chunked) is streamed and counted', async () => {
  await api.app.inject({ method: 'POST', url: '/v1/files/chunked.h5/datasets', payload: { path: '/d', dtype: 'uint16', shape: [1000] } });
  const bytes = Buffer.alloc(2000);
  for (let i = 0; i < 1000; i++) bytes.writeUInt16LE(i * 7, i * 2);
  const res = await api.app.inject({
    method: 'PUT',
    url: '/v1/files/chunked.h5/datasets/d/value',
    headers: { 'content-type': 'application/octet-stream' },
    payload: Readable.from([bytes.subarray(0, 333), bytes.subarray(333, 1500), bytes.subarray(1500)]),
  });
  const op = await writeOp(res);
  assert.deepEqual(await stagedBytes(op), bytes);
  assert.equal(op.bytes, 2000);
});

test('dataset options travel to the worker; the registry records the accepted shape', async () => {
  const res = await api.app.inject({
    method: 'POST',
    url: '/v1/files/opts.h5/datasets',
    payload: { path: 'grp/images', dtype: '>u2', shape: [10, 64, 64], maxshape: [null, 64, 64], chunks: [1, 64, 64], fillValue: 513 },
  });
  assert.equal(res.statusCode, 202, res.body);
  const data = await jobData(res.headers.location!);
  assert.deepEqual(data.ops, [
    {
      op: 'createDataset',
      path: '/grp/images',
      dtype: '>u2',
      shape: [10, 64, 64],
      maxshape: [null, 64, 64],
      chunks: [1, 64, 64],
      fillValue: Buffer.from([2, 1]).toString('base64'),
    },
  ]);
  const record = JSON.parse((await api.app.redis.hget(keys.datasets('default', 'opts.h5'), '/grp/images'))!);
  assert.deepEqual(record, {
    dtype: '>u2',
    shape: [10, 64, 64],
    maxshape: [null, 64, 64],
    chunks: [1, 64, 64],
    fillValue: 'AgE=',
    jobId: res.json().job.id,
    at: record.at,
  });
  assert.ok(Math.abs(record.at - Date.now()) < 60_000, 'the record says when it was accepted');
  // A write right after the 202 is checked against the accepted shape.
  const op = await writeOp(
    await api.app.inject({
      method: 'PUT',
      url: '/v1/files/opts.h5/datasets/grp%2Fimages/value?select=[9,0:2,0:2]',
      payload: [
        [
          [1, 2],
          [3, 4],
        ],
      ],
    }),
  );
  assert.deepEqual(op.hyperslab, { start: [9, 0, 0], stride: [1, 1, 1], count: [1, 2, 2] });
  assert.equal(op.select, '[9,0:2,0:2]', 'the selection as the client wrote it');
  assert.deepEqual(await stagedBytes(op), Buffer.from('0001000200030004', 'hex'));
});

test('scalar datasets take a single JSON value', async () => {
  await api.app.inject({ method: 'POST', url: '/v1/files/scalar.h5/datasets', payload: { path: '/s', dtype: 'float32', shape: [] } });
  const op = await writeOp(
    await api.app.inject({
      method: 'PUT',
      url: '/v1/files/scalar.h5/datasets/s/value',
      payload: 2.5 as never,
      headers: { 'content-type': 'application/json' },
    }),
  );
  assert.deepEqual(op.hyperslab, { start: [], stride: [], count: [] });
  assert.deepEqual(await stagedBytes(op), Buffer.from('00002040', 'hex'));
});

test('concurrent creations of one dataset: exactly one is accepted', async () => {
  const results = await Promise.all(
    Array.from({ length: 8 }, () =>
      api.app.inject({ method: 'POST', url: '/v1/files/race.h5/datasets', payload: { path: '/same', dtype: 'int16', shape: [8] } }),
    ),
  );
  const codes = results.map((r) => r.statusCode).sort();
  assert.deepEqual(codes, [202, 409, 409, 409, 409, 409, 409, 409]);
  const accepted = results.find((r) => r.statusCode === 202)!;
  const record = JSON.parse((await api.app.redis.hget(keys.datasets('default', 'race.h5'), '/same'))!);
  assert.equal(record.jobId, accepted.json().job.id);
});

test('an accepted resize changes only the extent the API reports: layout, filters and fill value stay', async () => {
  const created = await api.app.inject({
    method: 'POST',
    url: '/v1/files/resize.h5/datasets',
    payload: { path: '/z', dtype: 'int16', shape: [8], maxshape: [8], compression: 'gzip', compressionLevel: 6, shuffle: true, fillValue: -1 },
  });
  assert.equal(created.statusCode, 202, created.body);
  for (const shape of [[4], [8]]) {
    const resized = await api.app.inject({ method: 'PUT', url: '/v1/files/resize.h5/datasets/z/shape', payload: { shape } });
    assert.equal(resized.statusCode, 202, resized.body);
    const meta = (await api.app.inject({ method: 'GET', url: '/v1/files/resize.h5/datasets/z' })).json();
    assert.deepEqual(
      [meta.shape, meta.layout, meta.compression, meta.compressionLevel, meta.shuffle, meta.fillValue],
      [shape, 'chunked', 'gzip', 6, true, -1],
      `after resizing to ${shape}`,
    );
  }
});
