/**
 * Binary uploads (PUT …/value) as real clients send them over a socket, which `inject`
 * cannot show: a chunked body with no Content-Length, `Expect: 100-continue` (the body
 * sent only after the server's go-ahead, and a refusal that comes before any of it), an
 * upload cut off mid-body (nothing staged, no job), and keep-alive after a refusal (the
 * server does not read a refused binary body: it answers `Connection: close` and closes,
 * and a keep-alive client goes on with a new connection). Every answer that fastify sends
 * is checked against openapi/openapi.json by startApi's ledger.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import request from 'supertest';
import type { WriteOp } from '../../services/shared/jobs.js';
import { startApi, type TestApi } from '../helpers/api.js';

const ROW = 1024; // float64 values per row: 8 KiB, beyond write grouping (each write its own staged file)
const ROWS = 64;

let api: TestApi;
let port: number;
let base: string;

before(async () => {
  api = await startApi();
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  port = (api.app.server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  const res = await request(base)
    .post('/v1/files/u.h5/datasets')
    .send({ path: 'rows', dtype: 'float64', shape: [ROWS, ROW] });
  assert.equal(res.status, 202, res.text);
});
after(async () => {
  await api?.stop();
});

function rows(first: number, count = 1): Buffer {
  const b = Buffer.alloc(count * ROW * 8);
  for (let k = 0; k < count * ROW; k++) b.writeDoubleLE(first * 10_000 + k, k * 8);
  return b;
}

const valueUrl = (row: number, count = 1, dataset = 'rows') => `/v1/files/u.h5/datasets/${dataset}/value?select=[${row}:${row + count},0:${ROW}]`;

/** The staged payload of the single op of job `id`. */
async function stagedPayload(id: string): Promise<Buffer> {
  const job = await api.app.jobs.job(id);
  assert.ok(job, `job ${id} is in Redis`);
  const op = job.data.ops[0] as WriteOp;
  const { readFile } = await import('node:fs/promises');
  const staged = await readFile(`${api.config.dataDir}/.staging/${op.staged}`);
  return staged.subarray(op.stagedOffset ?? 0, (op.stagedOffset ?? 0) + op.bytes);
}

/** Waits until the staging area and the queue are back to `staged` and `jobs` (a cut upload is cleaned up asynchronously). */
async function settlesTo(staged: string[], jobs: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const now = (await api.staged()).sort();
    const count = await api.jobCount();
    if ((now.join() === staged.join() && count === jobs) || Date.now() > deadline) {
      assert.deepEqual(now, staged, 'nothing left staged');
      assert.equal(count, jobs, 'no job queued');
      return;
    }
    await sleep(50);
  }
}

/** A raw connection that collects what the server sends and notes when it closes. */
function connect(): Promise<{ socket: net.Socket; received: () => string; closed: Promise<void>; until(text: RegExp, ms?: number): Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    const waiters = new Set<() => void>();
    socket.on('data', (d) => {
      data += d.toString('latin1');
      for (const w of waiters) w();
    });
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('error', () => {}); // a reset after the answer is what some tests look at, not a failure
    const until = (text: RegExp, ms = 5000) =>
      new Promise<string>((res, rej) => {
        const check = () => {
          if (!text.test(data)) return;
          waiters.delete(check);
          clearTimeout(timer);
          res(data);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          rej(new Error(`no ${text} within ${ms} ms; got ${JSON.stringify(data.slice(0, 300))}`));
        }, ms);
        waiters.add(check);
        check();
      });
    socket.once('connect', () => resolve({ socket, received: () => data, closed, until }));
    socket.once('error', reject);
  });
}

function head(method: string, url: string, headers: Record<string, string | number>): string {
  return `${method} ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}

/** The body of the last answer in `text` (Content-Length framed), parsed as JSON. */
function lastJson(text: string): { status: number; headers: string; body: any } {
  const at = text.lastIndexOf('HTTP/1.1 ');
  const end = text.indexOf('\r\n\r\n', at);
  const headers = text.slice(at, end);
  return { status: Number(headers.slice(9, 12)), headers, body: JSON.parse(text.slice(end + 4)) };
}

test('a chunked upload (no Content-Length) is staged byte for byte', async () => {
  const body = rows(1, 2);
  const req = request(base).put(valueUrl(1, 2)).set('content-type', 'application/octet-stream');
  // superagent streams what is written to it: no Content-Length, Transfer-Encoding: chunked.
  for (let at = 0; at < body.length; at += 3000) req.write(body.subarray(at, at + 3000));
  const res = await req;
  assert.equal(res.status, 202, res.text);
  assert.ok((await stagedPayload(res.body.job.id)).equals(body), 'staged byte for byte');
});

test('a chunked upload shorter or longer than its selection is refused and leaves nothing staged', async () => {
  const staged = (await api.staged()).sort();
  const jobs = await api.jobCount();
  for (const body of [rows(3).subarray(8), Buffer.concat([rows(3), Buffer.alloc(8)])]) {
    const req = request(base).put(valueUrl(3)).set('content-type', 'application/octet-stream');
    req.write(body);
    const res = await req;
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.code, 'PH5_ERR_BODY_LENGTH');
  }
  await settlesTo(staged, jobs);
});

test('Expect: 100-continue: the server says go ahead before the body, and takes it', async () => {
  const body = rows(5);
  const c = await connect();
  c.socket.write(head('PUT', valueUrl(5), { 'content-type': 'application/octet-stream', 'content-length': body.length, expect: '100-continue' }));
  await c.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
  // write, not end: a client that half-closes after its body gets no answer at all, as from
  // any Node server (httpAllowHalfOpen is off: the FIN aborts the request).
  c.socket.write(body);
  const answer = lastJson(await c.until(/HTTP\/1\.1 202[^]*\r\n\r\n[^]*\}$/));
  assert.equal(answer.status, 202);
  assert.ok((await stagedPayload(answer.body.job.id)).equals(body));
});

test('Expect: 100-continue to a dataset that does not exist: refused before any of the body is sent, and the connection closed', async () => {
  const staged = (await api.staged()).sort();
  const jobs = await api.jobCount();
  const c = await connect();
  c.socket.write(head('PUT', valueUrl(0, 1, 'missing'), { 'content-type': 'application/octet-stream', 'content-length': ROW * 8, expect: '100-continue' }));
  // Node's server sends 100 Continue at once (there is no checkContinue listener); the route
  // then refuses without waiting for the body, which the client has not sent.
  const text = await c.until(/HTTP\/1\.1 404[^]*\r\n\r\n[^]*\}$/);
  const answer = lastJson(text);
  assert.equal(answer.body.code, 'PH5_ERR_NOT_FOUND');
  assert.match(answer.headers, /\r\nconnection: close/i, 'the unread body is not drained: the connection ends');
  await c.closed;
  await settlesTo(staged, jobs);
});

test('an upload cut off mid-body leaves nothing staged and queues no job', async () => {
  const staged = (await api.staged()).sort();
  const jobs = await api.jobCount();
  const body = rows(7, 4);
  const c = await connect();
  c.socket.write(head('PUT', valueUrl(7, 4), { 'content-type': 'application/octet-stream', 'content-length': body.length }));
  c.socket.write(body.subarray(0, body.length / 2));
  await sleep(200); // the route has started staging the first half
  c.socket.destroy();
  await settlesTo(staged, jobs);
  // The server is fine afterwards: the same rows can be written.
  const res = await request(base).put(valueUrl(7, 4)).set('content-type', 'application/octet-stream').send(body);
  assert.equal(res.status, 202, res.text);
});

test('keep-alive after a refused binary upload: the answer says Connection: close, and the client carries on over a new connection', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const send = (method: string, path: string, body?: Buffer) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; socket: net.Socket }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method, path, agent, headers: body ? { 'content-type': 'application/octet-stream', 'content-length': body.length } : {} },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text, socket: req.socket! }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  try {
    const first = await send('GET', '/healthz');
    const second = await send('GET', '/healthz');
    assert.equal(second.socket, first.socket, 'keep-alive: the second request reuses the connection');
    // Small enough to be in the socket buffers before the answer: the client sees the answer, not a reset.
    const refused = await send('PUT', valueUrl(0, 1, 'missing'), rows(0));
    assert.equal(refused.status, 404, refused.body);
    assert.equal(JSON.parse(refused.body).code, 'PH5_ERR_NOT_FOUND');
    assert.equal(refused.headers.connection, 'close', 'the unread body is not drained: the server closes');
    const after = await send('GET', '/healthz');
    assert.equal(after.status, 200, after.body);
    assert.notEqual(after.socket, refused.socket, 'the next request went over a new connection');
    const accepted = await send('PUT', valueUrl(9), rows(9));
    assert.equal(accepted.status, 202, accepted.body);
    assert.notEqual(accepted.headers.connection, 'close', 'an upload read to its end keeps the connection');
  } finally {
    agent.destroy();
  }
});
