/**
 * The size limits of a request as a real HTTP client meets them (supertest over a socket):
 * Node's parser, not a route, refuses a request line or headers beyond 16 KiB (the http
 * server's default maxHeaderSize; services/api/errors.ts clientErrorProblem), and the
 * router refuses a path parameter beyond MAX_PARAM_LENGTH. `inject` skips the parser, so
 * only a socket shows these. The parser's answers are written on the socket by
 * clientErrorHandler, not by fastify, so the contract ledger of startApi does not see them:
 * each is checked against openapi/openapi.json here.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { MAX_PARAM_LENGTH } from '../../services/api/errors.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { ContractChecker } from '../helpers/contract.js';

let api: TestApi;
let base: string;
const checker = ContractChecker.fromFile();

before(async () => {
  api = await startApi();
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
});
after(async () => {
  await api?.stop();
});

/** Asserts a problem+json answer with `status` and `code`, allowed by the document. */
function assertProblem(res: request.Response, method: string, url: string, status: number, code: string): void {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
  assert.equal(res.body.code, code);
  assert.equal(res.body.status, status);
  const violations = checker.check({ method, url, status: res.status, headers: res.headers, body: res.text });
  assert.deepEqual(violations, [], `${method} ${url.slice(0, 40)}… keeps the contract`);
}

test('a request line beyond 16 KiB is 414 PH5_ERR_URI_TOO_LONG from the parser, and the connection is closed', async () => {
  const url = `/v1/files/${'u'.repeat(20_000)}`;
  const res = await request(base).get(url);
  assertProblem(res, 'GET', url, 414, 'PH5_ERR_URI_TOO_LONG');
  assert.equal(res.headers.connection, 'close');
});

test('a path parameter beyond the router limit (but a request line within 16 KiB) is 414 from the router', async () => {
  const url = `/v1/files/${'p'.repeat(MAX_PARAM_LENGTH + 1)}`;
  const res = await request(base).get(url);
  assertProblem(res, 'GET', url, 414, 'PH5_ERR_URI_TOO_LONG');
});

test('headers beyond 16 KiB in all are 431 PH5_ERR_HEADERS_TOO_LARGE, whether one header or many', async () => {
  const one = await request(base)
    .get('/v1/files')
    .set('authorization', `Bearer ${'t'.repeat(20_000)}`);
  assertProblem(one, 'GET', '/v1/files', 431, 'PH5_ERR_HEADERS_TOO_LARGE');
  assert.equal(one.headers.connection, 'close');
  let many = request(base).get('/v1/files');
  for (let i = 0; i < 40; i++) many = many.set(`x-filler-${i}`, 'f'.repeat(500));
  assertProblem(await many, 'GET', '/v1/files', 431, 'PH5_ERR_HEADERS_TOO_LARGE');
});

test('headers just within the limit are parsed and reach the route', async () => {
  const res = await request(base).get('/healthz').set('x-filler', 'f'.repeat(12_000));
  assert.equal(res.status, 200, res.text);
});
