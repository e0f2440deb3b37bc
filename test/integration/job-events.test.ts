/**
 * Watching work happen on a live stack (2 real ranks): the Server-Sent Events stream of a
 * job reports its states in order and ends when it completes; /v1/workers shows the pool
 * with its versions and heartbeat.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { client } from '../helpers/client.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
before(async () => {
  stack = await startStack({ ranks: 2 });
});
after(async () => {
  await stack?.stop();
});

/** Reads a whole SSE stream (it ends by itself) into its events. */
async function readEvents(url: string): Promise<{ event: string; data: any }[]> {
  const res = await fetch(url, { headers: { accept: 'text/event-stream' }, signal: AbortSignal.timeout(60_000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('event:'))
    .map((block) => {
      const [eventLine, dataLine] = block.split('\n');
      return { event: eventLine!.slice('event: '.length), data: JSON.parse(dataLine!.slice('data: '.length)) };
    });
}

test('the event stream of a job goes from its current state to completed, then ends', { timeout: 120_000 }, async () => {
  const api = client(stack.url);
  const created = await api.call('POST', '/v1/files/ev.h5/datasets', { path: '/big', dtype: 'float64', shape: [1 << 20] });
  assert.equal(created.status, 202);
  const id = created.json.job.id;
  const events = await readEvents(`${stack.url}/v1/jobs/${id}/events`);
  assert.ok(events.length >= 1, 'at least the final event');
  const states = events.map((e) => e.data.state);
  assert.equal(states.at(-1), 'completed', JSON.stringify(events));
  const order = ['queued', 'running', 'completed'];
  for (let i = 1; i < states.length; i++) assert.ok(order.indexOf(states[i]) >= order.indexOf(states[i - 1]), `states never go back: ${states}`);
  assert.ok(events.every((e) => e.data.id === id));

  // A finished job's stream is one event, then the end.
  const again = await readEvents(`${stack.url}/v1/jobs/${id}/events`);
  assert.deepEqual(
    again.map((e) => [e.event, e.data.state]),
    [['state', 'completed']],
  );

  const missing = await fetch(`${stack.url}/v1/jobs/nope/events`);
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get('content-type'), 'application/problem+json; charset=utf-8');
});

test('/v1/workers lists the live pool: ranks, versions, heartbeat', async () => {
  const res = await fetch(`${stack.url}/v1/workers`);
  assert.equal(res.status, 200);
  const { workers } = (await res.json()) as { workers: any[] };
  assert.equal(workers.length, 1);
  const [w] = workers;
  assert.equal(w.ranks, 2);
  assert.match(w.hdf5, /^1\.10/);
  assert.match(w.mpi, /Open MPI/);
  assert.ok(Date.now() - w.heartbeatAt < 15_000);
  assert.equal(typeof w.busy, 'boolean');
});
