/**
 * Configured limits refuse work before anything changes: dimensions and elements (400/413),
 * jobs queued per project (429 PH5_ERR_QUEUE_FULL, freed when jobs finish), requests per
 * minute (429 PH5_ERR_RATE_LIMITED with Retry-After; health probes exempt).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { startApi } from '../helpers/api.js';

test('PH5_MAX_DIMS and PH5_MAX_ELEMENTS are enforced at creation', async () => {
  const api = await startApi({ PH5_MAX_DIMS: '3', PH5_MAX_ELEMENTS: '1000' });
  try {
    const dims = await api.app.inject({ method: 'POST', url: '/v1/files/f.h5/datasets', payload: { path: '/a', dtype: 'int8', shape: [2, 2, 2, 2] } });
    assert.equal(dims.statusCode, 400, dims.body);
    assert.equal(dims.json().code, 'PH5_ERR_SHAPE');
    const elements = await api.app.inject({ method: 'POST', url: '/v1/files/f.h5/datasets', payload: { path: '/a', dtype: 'int8', shape: [10, 101] } });
    assert.equal(elements.statusCode, 413, elements.body);
    assert.equal(elements.json().code, 'PH5_ERR_TOO_MANY_ELEMENTS');
    const ok = await api.app.inject({ method: 'POST', url: '/v1/files/f.h5/datasets', payload: { path: '/a', dtype: 'int8', shape: [10, 100] } });
    assert.equal(ok.statusCode, 202, ok.body);
    assert.equal(await api.jobCount(), 1);
  } finally {
    await api.stop();
  }
});

test('a project with PH5_MAX_QUEUED_PER_PROJECT unfinished jobs gets 429 until one finishes', async () => {
  const api = await startApi({ PH5_MAX_QUEUED_PER_PROJECT: '2' });
  try {
    const create = (p: string) => api.app.inject({ method: 'POST', url: '/v1/files/f.h5/datasets', payload: { path: p, dtype: 'int8', shape: [4] } });
    const first = await create('/a');
    assert.equal(first.statusCode, 202);
    assert.equal((await create('/b')).statusCode, 202);
    const full = await create('/c');
    assert.equal(full.statusCode, 429, full.body);
    assert.equal(full.json().code, 'PH5_ERR_QUEUE_FULL');
    // The refused creation claimed nothing: /c is free once there is room.
    const write = await api.app.inject({ method: 'PUT', url: '/v1/files/f.h5/datasets/a/value', payload: [1, 2, 3, 4] });
    assert.equal(write.statusCode, 429, 'writes count against the same quota');
    assert.deepEqual(await api.staged(), [], 'a refused write staged nothing');
    assert.equal(await api.jobCount(), 2);

    // A job that is gone (finished and removed) no longer counts; reconciliation notices.
    await api.app.jobs.queueOf(first.json().job.id)!.remove(first.json().job.id);
    await sleep(1_100); // reconciliation runs at most once a second per project
    const again = await create('/c');
    assert.equal(again.statusCode, 202, again.body);
  } finally {
    await api.stop();
  }
});

test('PH5_RATE_LIMIT_PER_MINUTE: the request beyond the limit is 429 with Retry-After; probes are exempt', async () => {
  const api = await startApi({ PH5_RATE_LIMIT_PER_MINUTE: '5' });
  try {
    for (let i = 0; i < 5; i++) {
      const res = await api.app.inject({ method: 'GET', url: '/v1/files/f.h5/datasets/none' });
      assert.equal(res.statusCode, 404);
    }
    const limited = await api.app.inject({ method: 'GET', url: '/v1/files/f.h5/datasets/none' });
    assert.equal(limited.statusCode, 429, limited.body);
    assert.equal(limited.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(limited.json().code, 'PH5_ERR_RATE_LIMITED');
    assert.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After is set');
    for (let i = 0; i < 10; i++) assert.equal((await api.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  } finally {
    await api.stop();
  }
});

test('/metrics exposes requests by route pattern (never file names), queue depth and job counters', async () => {
  const api = await startApi();
  try {
    await api.app.inject({ method: 'POST', url: '/v1/files/secret-name.h5/datasets', payload: { path: '/a', dtype: 'int8', shape: [4] } });
    const res = await api.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assert.match(res.body, /ph5_http_requests_total\{method="POST",route="\/v1\/files\/:file\/datasets",status="202"\} 1/);
    assert.match(res.body, /ph5_queue_jobs\{state="waiting"\} 1/);
    assert.match(res.body, /# TYPE ph5_job_latency_seconds histogram/);
    assert.match(res.body, /# TYPE ph5_bytes_written_total counter/);
    assert.doesNotMatch(res.body, /secret-name/);
  } finally {
    await api.stop();
  }
});
