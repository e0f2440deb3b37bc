/**
 * Epoch pacing (PH5_EPOCH_PACING): a stream of small writes to one file is applied in few
 * epochs, because a file that received jobs while its epoch ran waits a little before the
 * next one and gathers what arrives; a lone client that waits for each of its writes never
 * waits for pacing. What the pool did is read from its own epoch log lines; the data is
 * checked with h5py.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { workerEvents } from '../helpers/worker-events.js';

let stack: Stack;
let api: ReturnType<typeof client>;
before(async () => {
  // info: the pool's epoch lines are what this test reads.
  stack = await startStack({ ranks: 2, env: { PH5_LOG_LEVEL: 'info', PH5_EPOCH_PACING: '2', PH5_EPOCH_PACING_MAX_MS: '250' } });
  api = client(stack.url);
});
after(async () => {
  await stack?.stop();
});

interface EpochLine {
  jobs: number;
  pacedMs: number | null;
}

/** The pool's epochs on `file`, from its `epoch` events. */
function epochsOf(file: string): EpochLine[] {
  return workerEvents(stack.logs(), 'epoch')
    .filter((e) => e.file.endsWith(`/${file}`))
    .map((e) => ({ jobs: e.jobs, pacedMs: e.pacedMs }));
}

function rowBytes(row: number, cols: number): Buffer {
  const b = Buffer.alloc(cols * 4);
  for (let c = 0; c < cols; c++) b.writeInt32LE(row * 10 + c, c * 4);
  return b;
}

test('a stream of small writes to one file is applied in few, paced epochs, and every row lands', { timeout: 180_000 }, async () => {
  const ROWS = 400;
  const COLS = 4;
  const CLIENTS = 16;
  assert.equal((await api.accepted('POST', '/v1/files/stream.h5/datasets', { path: 'rows', dtype: 'int32', shape: [ROWS, COLS] })).state, 'completed');

  // Clients that do not wait for their writes to be applied: jobs keep arriving while
  // epochs run, which is what pacing is for.
  const locations: string[] = [];
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      for (let row = c; row < ROWS; row += CLIENTS) {
        const r = await api.call('PUT', `/v1/files/stream.h5/datasets/rows/value?select=[${row}:${row + 1},0:${COLS}]`, rowBytes(row, COLS));
        assert.equal(r.status, 202, JSON.stringify(r.json));
        locations.push(r.headers.get('location')!);
      }
    }),
  );
  const jobs = [...new Set(locations)];
  for (const location of jobs) assert.equal((await api.waitJob(location)).state, 'completed');

  const epochs = epochsOf('stream.h5');
  const applied = epochs.reduce((sum, e) => sum + e.jobs, 0);
  const detail = JSON.stringify({ jobs: jobs.length, epochs });
  // One epoch created the dataset; the others applied every write job.
  assert.equal(applied, jobs.length + 1, detail);
  assert.ok(
    epochs.some((e) => e.pacedMs !== null && e.pacedMs > 0 && e.pacedMs <= 250),
    `no epoch was paced: ${detail}`,
  );
  assert.ok(epochs.length < jobs.length, `every job had an epoch of its own: ${detail}`);

  const got = await h5py<number[][]>(stack.filePath('stream.h5'), "out = h5py.File(path, 'r')['rows'][:].tolist()");
  assert.deepEqual(
    got,
    Array.from({ length: ROWS }, (_, row) => Array.from({ length: COLS }, (_, c) => row * 10 + c)),
  );
});

test('a lone client that waits for each write is never held back by pacing', { timeout: 120_000 }, async () => {
  assert.equal((await api.accepted('POST', '/v1/files/lone.h5/datasets', { path: 'v', dtype: 'int32', shape: [6, 1] })).state, 'completed');
  for (let row = 0; row < 6; row++) {
    const job = await api.accepted('PUT', `/v1/files/lone.h5/datasets/v/value?select=[${row}:${row + 1},0:1]`, rowBytes(row, 1));
    assert.equal(job.state, 'completed', JSON.stringify(job.error));
  }
  const epochs = epochsOf('lone.h5');
  assert.equal(epochs.length, 7, JSON.stringify(epochs));
  assert.deepEqual(
    epochs.map((e) => e.pacedMs),
    epochs.map(() => null),
  );
  const got = await h5py<number[][]>(stack.filePath('lone.h5'), "out = h5py.File(path, 'r')['v'][:].tolist()");
  assert.deepEqual(got, [[0], [10], [20], [30], [40], [50]]);
});
