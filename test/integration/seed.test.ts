/**
 * The seed scenario (the tutorial ph5 replaces): the 42-rank tutorial write, done by ph5 from
 * one HTTP client. The file must match the tutorial's h5dump byte for byte. The expected dump
 * is a copy kept in test/fixtures/seed, so that a bare clone has everything the test reads.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { h5dump, h5py } from '../helpers/h5.js';
import { client } from '../helpers/client.js';
import { startStack, type Stack } from '../helpers/stack.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// Compiled to dist/test/integration: the fixtures stay in the source tree.
const SEED = path.resolve(here, '..', '..', '..', 'test', 'fixtures', 'seed');
const RANKS = 42;

let stack: Stack;
before(async () => {
  stack = await startStack({ ranks: RANKS });
});
after(async () => {
  await stack?.stop();
});

test('42 ranks write the seed dataset from one request; h5dump matches the tutorial', { timeout: 300_000 }, async () => {
  const { call, waitJob } = client(stack.url);
  const created = await call('POST', '/v1/files/output.h5/datasets', { path: '/test', dtype: 'int32', shape: [42] });
  assert.equal(created.status, 202, JSON.stringify(created.json));
  const createLocation = created.headers.get('location')!;
  assert.match(createLocation, /^\/v1\/jobs\/.+/);

  const values = Array.from({ length: 42 }, (_, i) => i);
  const written = await call('PUT', '/v1/files/output.h5/datasets/test/value?select=[0:42]', values);
  assert.equal(written.status, 202, JSON.stringify(written.json));

  const createJob = await waitJob(createLocation);
  assert.equal(createJob.state, 'completed', JSON.stringify(createJob.error));
  const job = await waitJob(written.headers.get('location')!);
  assert.equal(job.state, 'completed', JSON.stringify(job.error));
  assert.equal(job.ranks, RANKS);
  const decomposition = job.result.ops[0].decomposition;
  assert.equal(decomposition.length, RANKS);
  decomposition.forEach((share: { rank: number; rows: number; select: string; bytes: number }, i: number) => {
    assert.deepEqual(share, { rank: i, rows: 1, select: `[${i}:${i + 1}]`, bytes: 4 });
  });

  const expected = await readFile(path.join(SEED, 'expected-h5dump.txt'), 'utf8');
  const actual = await h5dump(stack.filePath('output.h5'));
  assert.equal(actual.trimEnd(), expected.trimEnd());

  const read = await h5py<{ dtype: string; shape: number[]; data: number[] }>(
    stack.filePath('output.h5'),
    "f = h5py.File(path, 'r'); d = f['test']; out = {'dtype': d.dtype.str, 'shape': list(d.shape), 'data': d[()].tolist()}",
  );
  assert.deepEqual(read, { dtype: '<i4', shape: [42], data: values });

  // And through the API, as a client would read it back.
  const back = await call('GET', '/v1/files/output.h5/datasets/test/value');
  assert.equal(back.status, 200);
  assert.deepEqual(back.json.data, values);
});
