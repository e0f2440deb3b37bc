/**
 * GET /v1/jobs: a project's jobs, newest first, filtered by state and file, paged with
 * ?before=; another project's jobs never appear; jobs that expired are skipped.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApi, type TestApi } from '../helpers/api.js';

const A = 'job-list-token-project-a-0123456789';
const B = 'job-list-token-project-b-0123456789';
let api: TestApi;
const ids: string[] = [];
before(async () => {
  api = await startApi({
    PH5_TOKENS: JSON.stringify([
      { project: 'pa', role: 'write', token: A },
      { project: 'pb', role: 'write', token: B },
    ]),
  });
  for (let i = 0; i < 5; i++) {
    const res = await api.app.inject({
      method: 'POST',
      url: `/v1/files/${i % 2 ? 'odd' : 'even'}.h5/datasets`,
      headers: { authorization: `Bearer ${A}` },
      payload: { path: `/d${i}`, dtype: 'int8', shape: [2] },
    });
    assert.equal(res.statusCode, 202, res.body);
    ids.push(res.json().job.id);
    await new Promise((r) => setTimeout(r, 3)); // distinct acceptance times
  }
  await api.app.inject({
    method: 'POST',
    url: '/v1/files/even.h5/datasets',
    headers: { authorization: `Bearer ${B}` },
    payload: { path: '/x', dtype: 'int8', shape: [2] },
  });
});
after(async () => {
  await api?.stop();
});

const list = async (query: string, token = A) => {
  const res = await api.app.inject({ method: 'GET', url: `/v1/jobs${query}`, headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<{ jobs: { id: string; file: string; state: string }[]; next: number | null }>();
};

test('newest first, only the project’s own jobs', async () => {
  const page = await list('');
  assert.deepEqual(
    page.jobs.map((j) => j.id),
    [...ids].reverse(),
  );
  assert.equal(page.next, null);
  const other = await list('', B);
  assert.equal(other.jobs.length, 1);
  assert.ok(!ids.includes(other.jobs[0]!.id));
});

test('filters by file and state', async () => {
  const odd = await list('?file=odd.h5');
  assert.deepEqual(
    odd.jobs.map((j) => j.id),
    [ids[3], ids[1]],
  );
  assert.equal((await list('?state=queued')).jobs.length, 5);
  assert.equal((await list('?state=completed')).jobs.length, 0);
});

test('pages with limit and before', async () => {
  const first = await list('?limit=2');
  assert.deepEqual(
    first.jobs.map((j) => j.id),
    [ids[4], ids[3]],
  );
  assert.ok(first.next);
  const second = await list(`?limit=2&before=${first.next}`);
  assert.deepEqual(
    second.jobs.map((j) => j.id),
    [ids[2], ids[1]],
  );
  const third = await list(`?limit=2&before=${second.next}`);
  assert.deepEqual(
    third.jobs.map((j) => j.id),
    [ids[0]],
  );
  assert.equal(third.next, null);
});

test('a job that expired from the queue is skipped and pruned', async () => {
  await api.app.jobs.queueOf(ids[2]!)!.remove(ids[2]!);
  const page = await list('');
  assert.deepEqual(
    page.jobs.map((j) => j.id),
    [ids[4], ids[3], ids[1], ids[0]],
  );
});

test('bad filters are 400', async () => {
  for (const q of ['?state=done', '?limit=0', '?limit=5000', '?before=-1', '?color=red']) {
    const res = await api.app.inject({ method: 'GET', url: `/v1/jobs${q}`, headers: { authorization: `Bearer ${A}` } });
    assert.equal(res.statusCode, 400, q);
    assert.equal(res.json().code, 'PH5_ERR_VALIDATION');
  }
});
