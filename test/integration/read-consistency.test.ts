/**
 * Reads against writes in flight, on a live stack (4 real ranks, collective mpio writes):
 * a read never sees a job half-applied, never goes back in time, and a read issued after a
 * job reports completed sees that job (or a later one).
 *
 * Each job overwrites the whole 16 MiB dataset with one value k = 1, 2, 3...; the reader
 * reads all of it again and again while they run. A half-applied job would show as a mix
 * of two values.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { client } from '../helpers/client.js';
import { startStack, type Stack } from '../helpers/stack.js';

const N = 2 * 1024 * 1024; // float64 elements: 16 MiB
const JOBS = 8;

let stack: Stack;
before(async () => {
  stack = await startStack({ ranks: 4 });
});
after(async () => {
  await stack?.stop();
});

async function readAll(): Promise<Float64Array> {
  const res = await fetch(`${stack.url}/v1/files/c.h5/datasets/v/value`, { headers: { accept: 'application/octet-stream' } });
  assert.equal(res.status, 200);
  return new Float64Array(await res.arrayBuffer());
}

/** The one value all elements hold; fails on a mix. */
function uniform(values: Float64Array): number {
  const first = values[0]!;
  for (let i = 0; i < values.length; i += 4096) {
    if (values[i] !== first) assert.fail(`a read mixes ${first} and ${values[i]} (element ${i}): a job was seen half-applied`);
  }
  assert.equal(values[values.length - 1], first, 'the last element agrees');
  return first;
}

test('reads during writes see whole jobs only, in order; after completed, the job is visible', { timeout: 300_000 }, async () => {
  const api = client(stack.url);
  assert.equal((await api.accepted('POST', '/v1/files/c.h5/datasets', { path: '/v', dtype: 'float64', shape: [N], fillValue: 0 })).state, 'completed');

  let writing = true;
  const seen: number[] = [];
  const reader = (async () => {
    while (writing) seen.push(uniform(await readAll()));
  })();

  for (let k = 1; k <= JOBS; k++) {
    const body = new Float64Array(N).fill(k);
    const r = await api.call('PUT', '/v1/files/c.h5/datasets/v/value', new Uint8Array(body.buffer));
    assert.equal(r.status, 202);
    if (k % 2 === 0) {
      // Wait for this one: the next read must see it (or later).
      const job = await api.waitJob(r.headers.get('location')!);
      assert.equal(job.state, 'completed');
      assert.ok(uniform(await readAll()) >= k, `after job ${k} completed, a read sees it`);
    }
  }
  writing = false;
  await reader;
  assert.ok(seen.length >= 3, `the reader ran during the writes (${seen.length} reads)`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `reads never go back: ${seen.join(',')}`);
  assert.equal(uniform(await readAll()), JOBS);
  console.log(`read-consistency: ${seen.length} reads during ${JOBS} writes saw ${[...new Set(seen)].join(',')}`);
});
