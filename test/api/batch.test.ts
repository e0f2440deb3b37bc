/**
 * POST /v1/jobs: a batch is checked operation by operation against the operations before
 * it (a dataset created earlier in the batch can be written and resized later in it), and
 * refused whole — nothing queued, claimed or staged — when any operation is bad, with the
 * operation's index in the problem.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApi, type TestApi } from '../helpers/api.js';

let api: TestApi;
before(async () => {
  api = await startApi();
});
after(async () => {
  await api?.stop();
});

const batch = (file: string, ops: unknown[]) => api.app.inject({ method: 'POST', url: '/v1/jobs', payload: { file, ops } });

test('a batch whose operations build on each other becomes one job, in order', async () => {
  const res = await batch('b.h5', [
    { op: 'createGroup', path: '/raw' },
    { op: 'createDataset', path: '/raw/t', dtype: 'float64', shape: [4], maxshape: [null] },
    { op: 'write', path: '/raw/t', value: [1, 2, 3, 4] },
    { op: 'resize', path: '/raw/t', shape: [6] },
    { op: 'write', path: '/raw/t', select: '[4:6]', value: [5, 6] },
    { op: 'setAttribute', path: '/raw/t', name: 'units', value: 'm' },
    { op: 'setAttribute', path: '/', name: 'version', value: 2 },
  ]);
  assert.equal(res.statusCode, 202, res.body);
  const job = await api.app.jobs.job(res.json().job.id);
  const ops = job!.data.ops;
  assert.deepEqual(
    ops.map((o) => `${o.op}:${o.path}`),
    ['createGroup:/raw', 'createDataset:/raw/t', 'write:/raw/t', 'resize:/raw/t', 'write:/raw/t', 'setAttribute:/raw/t', 'setAttribute:/'],
  );
  assert.equal((await api.staged()).length, 2, 'two JSON writes staged');
  // Later requests see what the batch will make.
  const meta = await api.app.inject({ method: 'GET', url: '/v1/files/b.h5/datasets/raw%2Ft' });
  assert.equal(meta.statusCode, 200, meta.body);
  assert.deepEqual([meta.json().shape, meta.json().state], [[6], 'pending']);
  assert.equal((await batch('b.h5', [{ op: 'createGroup', path: '/raw' }])).statusCode, 409);
});

test('a bad operation refuses the whole batch and leaves nothing behind', async () => {
  const jobs = await api.jobCount();
  const staged = (await api.staged()).length;
  const cases: [unknown[], number, string, RegExp][] = [
    [
      [
        { op: 'createDataset', path: '/x', dtype: 'int8', shape: [2] },
        { op: 'write', path: '/x', value: [1, 2, 3] },
      ],
      400,
      'PH5_ERR_VALUE',
      /^ops\[1\]/,
    ],
    [
      [
        { op: 'createDataset', path: '/y', dtype: 'int8', shape: [2] },
        { op: 'write', path: '/nope', value: [1] },
      ],
      404,
      'PH5_ERR_NOT_FOUND',
      /^ops\[1\]/,
    ],
    [
      [
        { op: 'createGroup', path: '/g' },
        { op: 'createDataset', path: '/g', dtype: 'int8', shape: [2] },
      ],
      409,
      'PH5_ERR_EXISTS',
      /^ops\[1\]/,
    ],
    [
      [
        { op: 'createDataset', path: '/z', dtype: 'int8', shape: [2] },
        { op: 'resize', path: '/z', shape: [3] },
      ],
      400,
      'PH5_ERR_SHAPE',
      /^ops\[1\]/,
    ],
    [
      [
        { op: 'createDataset', path: '/w', dtype: 'int8', shape: [2] },
        { op: 'delete', path: '/w' },
        { op: 'write', path: '/w', value: [1, 2] },
      ],
      404,
      'PH5_ERR_NOT_FOUND',
      /^ops\[2\]/,
    ],
    [[{ op: 'setAttribute', path: '/', name: 'a/b', value: 1 }], 400, 'PH5_ERR_ATTRIBUTE_NAME', /^ops\[0\]/],
    [[{ op: 'frobnicate', path: '/' }], 400, 'PH5_ERR_VALIDATION', /./],
    [[], 400, 'PH5_ERR_VALIDATION', /./],
  ];
  for (const [ops, status, code, detail] of cases) {
    const res = await batch('c.h5', ops);
    assert.equal(res.statusCode, status, `${JSON.stringify(ops)}: ${res.body}`);
    assert.equal(res.json().code, code, JSON.stringify(ops));
    assert.match(res.json().detail, detail);
  }
  assert.equal(await api.jobCount(), jobs, 'nothing queued');
  assert.equal((await api.staged()).length, staged, 'nothing staged');
  // Nothing claimed either: the names are free.
  const free = await batch('c.h5', [
    { op: 'createDataset', path: '/x', dtype: 'int8', shape: [2] },
    { op: 'createGroup', path: '/g' },
  ]);
  assert.equal(free.statusCode, 202, free.body);
});
