/**
 * Answers made before a route runs — by the router (bad URL encoding, a parameter too
 * long, no route, wrong method), by the body parsers (bad JSON, media type, size), by
 * Node's HTTP parser (headers too large, malformed requests, header timeout) and while
 * the process shuts down — are application/problem+json with a stable PH5_ERR_* code,
 * like every other error. Checked over raw sockets against a listening server with a real
 * Redis: `inject` would skip Node's parser entirely.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { ServerOptions } from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../services/api/app.js';
import { allowedMethods, clientErrorProblem, type RouteEntry } from '../../services/api/errors.js';
import { loadConfig } from '../../services/shared/config.js';
import { ContractChecker, assertContractKept, watchContract } from '../helpers/contract.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const CODE = /^PH5_ERR_[A-Z_]+$/;

interface Server {
  app: FastifyInstance;
  port: number;
  close(): Promise<void>;
}

async function listen(redis: TestRedis, http?: ServerOptions, env: NodeJS.ProcessEnv = {}): Promise<Server> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ph5-edge-'));
  const config = loadConfig({ PH5_DATA_DIR: dataDir, PH5_REDIS_URL: redis.url, PH5_LOG_LEVEL: 'silent', ...env });
  const checker = ContractChecker.fromFile();
  const app = await buildApp({ config, logger: false, ...(http ? { http } : {}) });
  watchContract(app, checker);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as net.AddressInfo).port;
  return {
    app,
    port,
    close: async () => {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
      assertContractKept(app);
    },
  };
}

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Parses one HTTP/1.1 answer (Content-Length framed) from the start of `text`. */
function parseAnswer(text: string): RawAnswer | null {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  return { status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(end + 4, end + 4 + length) };
}

/** Sends raw bytes (all at once, or in pieces) and reads until the server closes or `ms`. */
function raw(port: number, request: string | Buffer | (string | Buffer)[], ms = 5000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, ms);
    socket.on('data', (b) => (out += b.toString('latin1')));
    socket.on('close', done);
    socket.on('error', done); // a reset after the answer: what was read is kept
    socket.on('connect', () => {
      for (const piece of [request].flat()) socket.write(piece);
    });
  });
}

/** The checks every error answer passes, wherever it was made. */
function assertProblem(text: string, status: number, code: string | RegExp, what: string): RawAnswer {
  const answer = parseAnswer(text);
  assert.ok(answer, `${what}: an HTTP answer (got ${JSON.stringify(text.slice(0, 200))})`);
  assert.equal(answer.status, status, `${what}: ${answer.body.slice(0, 300)}`);
  assert.match(answer.headers['content-type'] ?? '', /^application\/problem\+json/, `${what}: content-type (${answer.status} ${answer.body.slice(0, 200)})`);
  const problem = JSON.parse(answer.body || 'null') as { code: string; status: number; type: string; title: string; detail: string };
  assert.match(problem.code, CODE, `${what}: code ${problem.code}`);
  if (typeof code === 'string') assert.equal(problem.code, code, what);
  else assert.match(problem.code, code, what);
  assert.equal(problem.status, status, `${what}: the body's status`);
  assert.equal(problem.type, `https://ph5.dev/problems/${problem.code}`, `${what}: type`);
  assert.ok(problem.title && problem.detail, `${what}: title and detail`);
  if (status === 429 || status === 503) assert.ok(Number(answer.headers['retry-after']) > 0, `${what}: Retry-After`);
  return answer;
}

const req = (line: string, headers: string[] = [], body = ''): string =>
  `${line}\r\nHost: 127.0.0.1\r\n${[...headers, 'Connection: close'].map((h) => `${h}\r\n`).join('')}\r\n${body}`;

let redis: TestRedis;
let server: Server;
before(async () => {
  redis = await startRedis();
  server = await listen(redis);
});
after(async () => {
  await server?.close();
  await redis?.stop();
});

const CASES: { name: string; request: string; status: number; code: string; check?: (a: RawAnswer) => void }[] = [
  // The router.
  { name: '5,000-character file name', request: req(`GET /v1/files/${'a'.repeat(5000)} HTTP/1.1`), status: 414, code: 'PH5_ERR_URI_TOO_LONG' },
  { name: '5,000-character dataset path', request: req(`GET /v1/files/f.h5/datasets/${'p'.repeat(5000)} HTTP/1.1`), status: 414, code: 'PH5_ERR_URI_TOO_LONG' },
  { name: 'a % that does not decode', request: req('GET /v1/files/%zz HTTP/1.1'), status: 400, code: 'PH5_ERR_URL' },
  { name: 'no such path', request: req('GET /v2/files HTTP/1.1'), status: 404, code: 'PH5_ERR_ROUTE' },
  {
    name: 'PATCH of a path that has GET',
    request: req('PATCH /v1/files HTTP/1.1'),
    status: 405,
    code: 'PH5_ERR_METHOD',
    check: (a) => assert.equal(a.headers.allow, 'GET, HEAD'),
  },
  {
    name: 'DELETE of /v1/jobs',
    request: req('DELETE /v1/jobs HTTP/1.1'),
    status: 405,
    code: 'PH5_ERR_METHOD',
    check: (a) => assert.deepEqual(a.headers.allow?.split(', ').sort(), ['GET', 'HEAD', 'POST']),
  },
  {
    name: 'POST of a dataset value (a parameterised path)',
    request: req('POST /v1/files/f.h5/datasets/d/value HTTP/1.1', ['Content-Length: 0']),
    status: 405,
    code: 'PH5_ERR_METHOD',
    check: (a) => assert.deepEqual(a.headers.allow?.split(', ').sort(), ['GET', 'HEAD', 'PUT']),
  },
  // The body parsers and the schemas.
  {
    name: 'a JSON body that does not parse',
    request: req('POST /v1/files/f.h5/groups HTTP/1.1', ['Content-Type: application/json', 'Content-Length: 3'], '{x}'),
    status: 400,
    code: 'PH5_ERR_JSON',
  },
  {
    name: 'an empty JSON body',
    request: req('POST /v1/files/f.h5/groups HTTP/1.1', ['Content-Type: application/json', 'Content-Length: 0']),
    status: 400,
    code: 'PH5_ERR_JSON',
  },
  {
    name: 'a JSON body with __proto__',
    request: req('POST /v1/files/f.h5/groups HTTP/1.1', ['Content-Type: application/json', 'Content-Length: 35'], '{"__proto__":{"x":1},"path":"/abc"}'),
    status: 400,
    code: 'PH5_ERR_JSON',
  },
  {
    name: 'text/csv',
    request: req('POST /v1/files/f.h5/groups HTTP/1.1', ['Content-Type: text/csv', 'Content-Length: 3'], 'a,b'),
    status: 415,
    code: 'PH5_ERR_MEDIA_TYPE',
  },
  {
    name: 'a JSON body over the limit',
    request: req('POST /v1/files/f.h5/groups HTTP/1.1', ['Content-Type: application/json', 'Content-Length: 99999999999']),
    status: 413,
    code: 'PH5_ERR_BODY_TOO_LARGE',
  },
  {
    name: 'a field of the wrong type',
    request: req('POST /v1/files/f.h5/groups HTTP/1.1', ['Content-Type: application/json', 'Content-Length: 2'], '{}'),
    status: 400,
    code: 'PH5_ERR_VALIDATION',
  },
  // Node's HTTP parser, before fastify sees a request.
  {
    name: '60,000-character bearer token',
    request: req('GET /v1/files HTTP/1.1', [`Authorization: Bearer ${'t'.repeat(60_000)}`]),
    status: 431,
    code: 'PH5_ERR_HEADERS_TOO_LARGE',
  },
  { name: '20,000-character request line', request: req(`GET /v1/files/${'b'.repeat(20_000)} HTTP/1.1`), status: 414, code: 'PH5_ERR_URI_TOO_LONG' },
  { name: 'a request line that is not HTTP', request: 'GARBAGE\r\n\r\n', status: 400, code: 'PH5_ERR_HTTP' },
  { name: 'a method that is no HTTP method', request: req('FROB /v1/files HTTP/1.1'), status: 400, code: 'PH5_ERR_HTTP' },
  { name: 'HTTP/3.0 on an HTTP/1.1 socket', request: req('GET /healthz HTTP/3.0'), status: 400, code: 'PH5_ERR_HTTP' },
  { name: 'a header name with a space', request: req('GET /healthz HTTP/1.1', ['Bad Header: x']), status: 400, code: 'PH5_ERR_HTTP' },
  { name: 'a NUL byte in the URL', request: req('GET /v1/files/a\0b HTTP/1.1'), status: 400, code: 'PH5_ERR_HTTP' },
  { name: 'CONNECT (Node hands it to no route)', request: req('CONNECT 127.0.0.1:22 HTTP/1.1'), status: 405, code: 'PH5_ERR_METHOD' },
  {
    name: 'Content-Length that is not a number',
    request: req('PUT /v1/files/f.h5 HTTP/1.1', ['Content-Length: abc']),
    status: 400,
    code: 'PH5_ERR_BODY_LENGTH',
  },
  {
    name: 'Content-Length with Transfer-Encoding',
    request: req('PUT /v1/files/f.h5 HTTP/1.1', ['Content-Length: 3', 'Transfer-Encoding: chunked'], '0\r\n\r\n'),
    status: 400,
    code: 'PH5_ERR_HTTP',
  },
];

test('each refusal made outside the routes is problem+json with its PH5_ERR_* code (raw sockets)', async () => {
  for (const c of CASES) {
    const answer = assertProblem(await raw(server.port, c.request), c.status, c.code, c.name);
    c.check?.(answer);
  }
  assert.equal(await server.app.jobs.counts().then((n) => Object.values(n).reduce((a, b) => a + b, 0)), 0, 'nothing was queued');
});

test('a 60 KiB header sent in small pieces, slower than the parser refuses it, still gets its 431', async () => {
  const line = `Authorization: Bearer ${'t'.repeat(60_000)}\r\n`;
  const pieces = ['GET /v1/files HTTP/1.1\r\nHost: x\r\n', ...Array.from({ length: 60 }, (_, i) => line.slice(i * 1001, (i + 1) * 1001)), '\r\n'];
  assertProblem(await raw(server.port, pieces), 431, 'PH5_ERR_HEADERS_TOO_LARGE', 'header in pieces');
});

/** A deterministic PRNG (mulberry32): a failing case can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('fuzz: mangled requests get either a success or a problem+json with a PH5_ERR_* code, never anything else', { timeout: 300_000 }, async () => {
  const rand = rng(Number(process.env.PH5_FUZZ_SEED ?? 1414));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  // (No HEAD: its answers have no body to check.)
  const methods = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'get', 'G ET', 'CONNECT', ''];
  const paths = [
    '/v1/files',
    '/v1/files/f.h5',
    '/v1/files/f.h5/datasets',
    '/v1/files/f.h5/datasets/d/value',
    '/v1/jobs',
    '/v1/jobs/x',
    '/readyz',
    '/nope',
    '/v1/files/%',
    '/v1/files/%e9',
    '*',
    '',
    '//',
    '/v1/files/f.h5/groups',
  ];
  const contentTypes = [
    'application/json',
    'application/octet-stream',
    'application/x-npy',
    'text/plain',
    'application/json; charset=latin9',
    '',
    'multipart/form-data',
  ];
  const mutate = (s: string): string => {
    const bytes = [...s];
    const n = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < n; i++) {
      const at = Math.floor(rand() * (bytes.length + 1));
      const r = rand();
      if (r < 0.3) bytes.splice(at, 1);
      else if (r < 0.6) bytes.splice(at, 0, String.fromCharCode(Math.floor(rand() * 256)));
      else bytes.splice(at, 0, pick(['\r\n', ' ', ':', '%', '\0', '/', '..']));
    }
    return bytes.join('');
  };
  const seen = new Map<number, number>();
  for (let i = 0; i < 300; i++) {
    const long = rand() < 0.1 ? 'x'.repeat(Math.floor(rand() * 30_000)) : '';
    const body = pick(['', '{}', '[1,2,3]', '{"path":"/g"}', '{"path":', 'abc', '\0\0\0\0']);
    const headers = [
      `Content-Type: ${pick(contentTypes)}`,
      `Content-Length: ${rand() < 0.8 ? Buffer.byteLength(body, 'latin1') : pick(['-1', '1e3', '99999999999', ''])}`,
    ];
    if (rand() < 0.2) headers.push(`Authorization: Bearer ${long || 'abc'}`);
    if (rand() < 0.1) headers.push('Transfer-Encoding: chunked');
    let request = `${pick(methods)} ${pick(paths)}${rand() < 0.3 ? `/${long}` : ''}${rand() < 0.2 ? '?select=[0:' : ''} HTTP/1.1\r\nHost: x\r\n${headers.join('\r\n')}\r\nConnection: close\r\n\r\n${body}`;
    if (rand() < 0.5) request = mutate(request);
    const text = await raw(server.port, Buffer.from(request, 'latin1'), 1500);
    const answer = parseAnswer(text);
    // A request the server has not seen the end of (a mangled blank line, a Content-Length
    // beyond the bytes sent, a chunked body never ended): it rightly waits for the rest
    // (the header and request timeouts end that wait, with 408).
    const head = request.split('\r\n\r\n')[0]!;
    const declared = /\r\ncontent-length: *(\d+)\r?$/im.exec(head)?.[1];
    const sent = Buffer.byteLength(request.slice(head.length + 4), 'latin1');
    const unfinished = !request.includes('\r\n\r\n') || /transfer-encoding/i.test(head) || (declared !== undefined && Number(declared) > sent);
    if (!answer && unfinished) continue;
    assert.ok(answer, `request ${i} got an answer: ${JSON.stringify(request.slice(0, 200))} -> ${JSON.stringify(text.slice(0, 200))}`);
    seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
    if (answer.status < 400) continue;
    // (503 is /readyz telling the truth: this server has no worker pool.)
    assert.ok(
      answer.status < 500 || answer.status === 503,
      `request ${i}: no 5xx for a client's mistake: ${JSON.stringify(request.slice(0, 200))} -> ${answer.body}`,
    );
    assertProblem(text, answer.status, CODE, `request ${i} ${JSON.stringify(request.slice(0, 120))}`);
  }
  // The table is not all one kind of answer: parser, router and handler refusals all occur.
  for (const status of [400, 404, 405]) assert.ok((seen.get(status) ?? 0) > 0, `some ${status} among ${JSON.stringify([...seen])}`);
});

test('headers that arrive too slowly get 408 PH5_ERR_REQUEST_TIMEOUT', async () => {
  const slow = await listen(redis, { headersTimeout: 400, requestTimeout: 800, connectionsCheckingInterval: 100 });
  try {
    const t0 = Date.now();
    const text = await raw(slow.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 5000); // never ends its headers
    assertProblem(text, 408, 'PH5_ERR_REQUEST_TIMEOUT', 'slow headers');
    assert.ok(Date.now() - t0 < 4000, 'answered when the timeout passed, not when the client gave up');
  } finally {
    await slow.close();
  }
});

test('a request that arrives while the API shuts down gets 503 PH5_ERR_UNAVAILABLE with Retry-After', async () => {
  const closing = await listen(redis);
  try {
    // Headers begun before the close and ended after it: the request arrives while closing.
    const socket = await new Promise<net.Socket>((resolve) => {
      const s = net.connect(closing.port, '127.0.0.1', () => resolve(s));
    });
    let text = '';
    socket.on('data', (b) => (text += b.toString('latin1')));
    socket.write('GET /v1/files HTTP/1.1\r\nHost: x\r\n');
    await new Promise((r) => setTimeout(r, 200));
    const closed = closing.close();
    await new Promise((r) => setTimeout(r, 200));
    socket.write('Connection: close\r\n\r\n');
    await new Promise((r) => socket.once('close', r));
    await closed;
    assertProblem(text, 503, 'PH5_ERR_UNAVAILABLE', 'while closing');
  } finally {
    await closing.close().catch(() => {});
  }
});

test('clientErrorProblem: which status and code each parser error gets', () => {
  const cases: { err: Error & { code?: string; rawPacket?: Buffer; bytesParsed?: number }; want: [number, string] | null }[] = [
    { err: Object.assign(new Error('x'), { code: 'ECONNRESET' }), want: null },
    { err: Object.assign(new Error('x'), { code: 'EPIPE' }), want: null },
    { err: Object.assign(new Error('x'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), want: [408, 'PH5_ERR_REQUEST_TIMEOUT'] },
    { err: Object.assign(new Error('x'), { code: 'HPE_HEADER_OVERFLOW' }), want: [431, 'PH5_ERR_HEADERS_TOO_LARGE'] },
    {
      err: Object.assign(new Error('x'), { code: 'HPE_HEADER_OVERFLOW', rawPacket: Buffer.from(`GET /${'a'.repeat(100)}`), bytesParsed: 50 }),
      want: [414, 'PH5_ERR_URI_TOO_LONG'],
    },
    {
      err: Object.assign(new Error('x'), { code: 'HPE_HEADER_OVERFLOW', rawPacket: Buffer.from(`GET / HTTP/1.1\r\nA: ${'a'.repeat(100)}`), bytesParsed: 80 }),
      want: [431, 'PH5_ERR_HEADERS_TOO_LARGE'],
    },
    // The request line ends after where the parser stopped: still in it.
    {
      err: Object.assign(new Error('x'), { code: 'HPE_HEADER_OVERFLOW', rawPacket: Buffer.from(`GET /${'a'.repeat(100)} HTTP/1.1\r\n\r\n`), bytesParsed: 90 }),
      want: [414, 'PH5_ERR_URI_TOO_LONG'],
    },
    // A later chunk of a long head (no request line in it): headers.
    {
      err: Object.assign(new Error('x'), { code: 'HPE_HEADER_OVERFLOW', rawPacket: Buffer.from('a'.repeat(100)), bytesParsed: 50 }),
      want: [431, 'PH5_ERR_HEADERS_TOO_LARGE'],
    },
    { err: Object.assign(new Error('x'), { code: 'HPE_INVALID_METHOD' }), want: [400, 'PH5_ERR_HTTP'] },
    { err: Object.assign(new Error('x'), { code: 'HPE_INVALID_CONTENT_LENGTH' }), want: [400, 'PH5_ERR_BODY_LENGTH'] },
    { err: Object.assign(new Error('x'), { code: 'HPE_UNEXPECTED_CONTENT_LENGTH' }), want: [400, 'PH5_ERR_BODY_LENGTH'] },
    { err: Object.assign(new Error('x'), { code: 'HPE_INVALID_VERSION' }), want: [400, 'PH5_ERR_HTTP'] },
    { err: new Error('no code at all'), want: [400, 'PH5_ERR_HTTP'] },
  ];
  for (const c of cases) {
    const p = clientErrorProblem(c.err);
    assert.deepEqual(p && [p.status, p.code], c.want, `${c.err.code}`);
  }
});

test('allowedMethods: which methods a path has, matched like the router', () => {
  const routes: RouteEntry[] = [
    { method: 'GET', url: '/v1/files' },
    { method: 'HEAD', url: '/v1/files' },
    { method: 'GET', url: '/v1/files/:file' },
    { method: 'PUT', url: '/v1/files/:file' },
    { method: 'DELETE', url: '/v1/files/:file' },
    { method: 'PUT', url: '/v1/files/:file/datasets/:path/value' },
    { method: 'GET', url: '/docs/static/*' },
  ];
  const cases: [string, string[]][] = [
    ['/v1/files', ['GET', 'HEAD']],
    ['/v1/files/a.h5', ['GET', 'PUT', 'DELETE']],
    ['/v1/files/', []], // an empty parameter is no match
    ['/v1/files/a.h5/datasets/d/value', ['PUT']],
    ['/v1/files/a.h5/datasets//value', []],
    ['/v1/files/a.h5/extra', []],
    ['/docs/static/a/b.css', ['GET']],
    ['/docs', []],
    ['/v2/files', []],
  ];
  for (const [pathname, want] of cases) assert.deepEqual(allowedMethods(routes, pathname), want, pathname);
});
