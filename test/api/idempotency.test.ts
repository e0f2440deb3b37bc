/**
 * Idempotency-Key on PUT …/value (the API in-process, real Redis): a retried part answers
 * its original job and queues nothing; the same key for another request is refused; a key
 * whose first request is still being received answers "in progress"; a refused request
 * releases its key; keys are per project; a bad key is refused with nothing staged.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { startApi, type TestApi } from '../helpers/api.js';

const A = 'idem-token-project-a-0123456789';
const B = 'idem-token-project-b-0123456789';
let api: TestApi;

before(async () => {
  api = await startApi({
    PH5_TOKENS: JSON.stringify([
      { project: 'pa', role: 'write', token: A },
      { project: 'pb', role: 'write', token: B },
    ]),
  });
  for (const token of [A, B]) {
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/files/i.h5/datasets',
      headers: { authorization: `Bearer ${token}` },
      payload: { path: 'x', dtype: 'float64', shape: [1000] },
    });
    assert.equal(res.statusCode, 202, res.body);
  }
});
after(async () => {
  await api?.stop();
});

/** A raw write of `bytes` (default 100 float64) into `select` of the project's /x. */
function put(opts: { key?: string; select?: string; bytes?: number; token?: string; payload?: Buffer | PassThrough }) {
  const bytes = opts.bytes ?? 800;
  return api.app.inject({
    method: 'PUT',
    url: `/v1/files/i.h5/datasets/x/value?select=${encodeURIComponent(opts.select ?? '[0:100]')}`,
    headers: {
      authorization: `Bearer ${opts.token ?? A}`,
      'content-type': 'application/octet-stream',
      'content-length': String(bytes),
      ...(opts.key !== undefined ? { 'idempotency-key': opts.key } : {}),
    },
    payload: opts.payload ?? Buffer.alloc(bytes, 1),
  });
}

test('the same key and request: 202 with the original job, Idempotent-Replayed, no new job, nothing new staged', async () => {
  const first = await put({ key: 'up1-0' });
  assert.equal(first.statusCode, 202, first.body);
  assert.equal(first.headers['idempotent-replayed'], undefined);
  const jobs = await api.jobCount();
  const staged = (await api.staged()).length;
  const again = await put({ key: 'up1-0' });
  assert.equal(again.statusCode, 202, again.body);
  assert.equal(again.json().job.id, first.json().job.id);
  assert.equal(again.headers.location, String(first.headers.location));
  assert.equal(again.headers['idempotent-replayed'], 'true');
  assert.equal(await api.jobCount(), jobs, 'no second job');
  assert.equal((await api.staged()).length, staged, 'no second staged payload');
  // Without a key, the same request is a new job (as before).
  const plain = await put({});
  assert.notEqual(plain.json().job.id, first.json().job.id);
});

test('the same key with another request: 409 PH5_ERR_IDEMPOTENCY_KEY and nothing queued', async () => {
  await put({ key: 'up2-0' });
  const jobs = await api.jobCount();
  const staged = (await api.staged()).length;
  for (const other of [{ select: '[100:200]' }, { select: '[0:50]', bytes: 400 }]) {
    const res = await put({ key: 'up2-0', ...other });
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(res.json().code, 'PH5_ERR_IDEMPOTENCY_KEY');
    assert.match(String(res.headers['content-type']), /application\/problem\+json/);
  }
  assert.equal(await api.jobCount(), jobs);
  assert.equal((await api.staged()).length, staged);
});

test('a key whose first request is still arriving: 409 PH5_ERR_IDEMPOTENCY_IN_PROGRESS; then the first completes', async () => {
  const body = new PassThrough();
  body.write(Buffer.alloc(4000, 2));
  const firstP = put({ key: 'up3-0', select: '[0:1000]', bytes: 8000, payload: body });
  await new Promise((r) => setTimeout(r, 300)); // the first request reserves its key
  const during = await put({ key: 'up3-0', select: '[0:1000]', bytes: 8000 });
  assert.equal(during.statusCode, 409, during.body);
  assert.equal(during.json().code, 'PH5_ERR_IDEMPOTENCY_IN_PROGRESS');
  body.end(Buffer.alloc(4000, 3));
  const first = await firstP;
  assert.equal(first.statusCode, 202, first.body);
  const replay = await put({ key: 'up3-0', select: '[0:1000]', bytes: 8000 });
  assert.equal(replay.statusCode, 202, replay.body);
  assert.equal(replay.json().job.id, first.json().job.id);
});

test('a refused request releases its key: the corrected retry with the same key is accepted', async () => {
  const staged = (await api.staged()).length;
  const bad = await api.app.inject({
    method: 'PUT',
    url: `/v1/files/i.h5/datasets/x/value?select=${encodeURIComponent('[0:100]')}`,
    headers: { authorization: `Bearer ${A}`, 'content-type': 'application/octet-stream', 'idempotency-key': 'up4-0' },
    payload: Buffer.alloc(799),
  });
  assert.equal(bad.statusCode, 400, bad.body);
  assert.equal((await api.staged()).length, staged);
  const good = await put({ key: 'up4-0' });
  assert.equal(good.statusCode, 202, good.body);
  assert.equal(good.headers['idempotent-replayed'], undefined);
});

test('keys are per project: the same key in another project is another request', async () => {
  const a = await put({ key: 'shared-key' });
  const b = await put({ key: 'shared-key', token: B, select: '[500:600]' });
  assert.equal(a.statusCode, 202, a.body);
  assert.equal(b.statusCode, 202, b.body);
  assert.notEqual(a.json().job.id, b.json().job.id);
});

test('a malformed key: 400 PH5_ERR_VALIDATION, nothing staged or queued', async () => {
  const jobs = await api.jobCount();
  const staged = (await api.staged()).length;
  const res = await put({ key: 'has a space' });
  assert.equal(res.statusCode, 400, res.body);
  assert.equal(res.json().code, 'PH5_ERR_VALIDATION');
  assert.equal(await api.jobCount(), jobs);
  assert.equal((await api.staged()).length, staged);
});
