/**
 * A streamed read holds its file's read lease, on a live stack (2 real ranks): a write
 * queued while a client reads waits; when the client goes away mid-answer, or stops
 * reading for PH5_READ_STALL_MS, the lease is released and the write completes; the
 * stalled client's body is cut short, never complete-looking.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { client } from '../helpers/client.js';
import { startStack, type Stack } from '../helpers/stack.js';

const N = 8 * 1024 * 1024; // float64 elements: 64 MiB, more than the kernel's socket buffers hold
const STALL_MS = 2000;

let stack: Stack;
before(async () => {
  stack = await startStack({ ranks: 2, env: { PH5_READ_STALL_MS: String(STALL_MS), PH5_READ_PIECE_BYTES: String(64 * 1024), PH5_RATE_LIMIT_PER_MINUTE: '0' } });
  const api = client(stack.url);
  assert.equal((await api.accepted('POST', '/v1/files/a.h5/datasets', { path: '/v', dtype: 'float64', shape: [N], fillValue: 0.5 })).state, 'completed');
});
after(async () => {
  await stack?.stop();
});

/** Starts a raw GET of the whole dataset; resolves once its headers are in. */
function startRead(): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${stack.url}/v1/files/a.h5/datasets/v/value`, { headers: { accept: 'application/octet-stream' } }, (res) => resolve({ req, res }));
    req.on('error', reject);
  });
}

async function writeAndWait(values: number[]): Promise<number> {
  const api = client(stack.url);
  const started = Date.now();
  const r = await api.call('PUT', `/v1/files/a.h5/datasets/v/value?select=[0:${values.length}]`, values);
  assert.equal(r.status, 202);
  const job = await api.waitJob(r.headers.get('location')!, 120_000);
  assert.equal(job.state, 'completed', JSON.stringify(job.error));
  return Date.now() - started;
}

async function firstValues(n: number): Promise<number[]> {
  const res = await fetch(`${stack.url}/v1/files/a.h5/datasets/v/value?select=[0:${n}]`);
  return ((await res.json()) as { data: number[] }).data;
}

test('a client that goes away mid-answer: the write queued behind its read completes', { timeout: 180_000 }, async () => {
  const { req, res } = await startRead();
  assert.equal(res.statusCode, 200);
  res.pause(); // hold the read (and the lease) while the write is queued
  const writing = writeAndWait([1, 2, 3]);
  await new Promise((r) => setTimeout(r, 500));
  let received = 0;
  await new Promise<void>((resolve) => {
    res.on('data', (c: Buffer) => {
      received += c.length;
      if (received > 1024 * 1024) {
        req.destroy();
        resolve();
      }
    });
    res.on('error', () => {});
    res.resume();
  });
  await writing;
  assert.deepEqual(await firstValues(4), [1, 2, 3, 0.5]);
});

test('a client that stops reading is cut off after PH5_READ_STALL_MS: the write completes, the body is cut short', { timeout: 180_000 }, async () => {
  const { res } = await startRead();
  res.pause();
  const tookMs = await writeAndWait([7, 8]);
  // The write waited for the stalled read to be cut off.
  assert.ok(tookMs >= STALL_MS / 2, `the write completed after ${tookMs} ms, while the read should still have held the file`);
  let received = 0;
  const complete = await new Promise<boolean>((resolve) => {
    res.on('data', (c: Buffer) => (received += c.length));
    res.on('end', () => resolve(res.complete));
    res.on('error', () => resolve(false));
    res.on('aborted', () => resolve(false));
    res.resume();
  });
  assert.equal(complete, false);
  assert.ok(received < N * 8, `received ${received} of ${N * 8}`);
  assert.deepEqual(await firstValues(3), [7, 8, 3]);
});
