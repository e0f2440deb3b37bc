/**
 * The contract check itself (helpers/contract.ts), which every API test's answers go
 * through: it must catch an answer the document does not allow — a status not declared, a
 * Content-Type not declared, a body that breaks the schema, a required header missing —
 * both given an answer directly and on a live app, over inject and over a socket.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { buildApp } from '../../services/api/app.js';
import { loadConfig } from '../../services/shared/config.js';
import { ContractChecker, assertContractKept, listedCodes, watchContract, type Exchange } from '../helpers/contract.js';

const checker = ContractChecker.fromFile();
const JOB = {
  id: 'j1',
  state: 'queued',
  file: 'f.h5',
  ops: [{ op: 'createFile', path: '/' }],
  opCount: 1,
  ranks: null,
  progress: 0,
  attempts: 0,
  result: null,
  error: null,
  timings: { acceptedAt: 1, startedAt: null, finishedAt: null },
};
const json = { 'content-type': 'application/json; charset=utf-8' };
const problem = (status: number, code: string) => JSON.stringify({ type: `https://ph5.dev/problems/${code}`, title: 'x', status, detail: 'x', code });

const cases: { name: string; x: Exchange; violation: RegExp | null }[] = [
  { name: 'a job as declared', x: { method: 'GET', url: '/v1/jobs/j1', status: 200, headers: json, body: JSON.stringify(JOB) }, violation: null },
  {
    name: 'a status the operation does not declare',
    x: { method: 'GET', url: '/v1/jobs/j1', status: 201, headers: json, body: JSON.stringify(JOB) },
    violation: /status 201 is not declared/,
  },
  {
    name: 'a Content-Type not declared for the status',
    x: { method: 'GET', url: '/v1/jobs/j1', status: 200, headers: { 'content-type': 'text/html' }, body: '<p>' },
    violation: /Content-Type 'text\/html' is not declared/,
  },
  {
    name: 'a body that breaks the schema',
    x: { method: 'GET', url: '/v1/jobs/j1', status: 200, headers: json, body: JSON.stringify({ ...JOB, state: 'sleeping' }) },
    violation: /breaks the getJob 200 schema/,
  },
  { name: 'a body that is not JSON', x: { method: 'GET', url: '/v1/jobs/j1', status: 200, headers: json, body: '{"id":' }, violation: /is not JSON/ },
  {
    name: 'a 202 without its required Location',
    x: { method: 'PUT', url: '/v1/files/f.h5', status: 202, headers: json, body: JSON.stringify({ job: JOB }) },
    violation: /required header Location is missing/,
  },
  {
    name: 'a 202 with its Location',
    x: { method: 'PUT', url: '/v1/files/f.h5', status: 202, headers: { ...json, location: '/v1/jobs/j1' }, body: JSON.stringify({ job: JOB }) },
    violation: null,
  },
  {
    name: 'a raw read without X-Ph5-Shape',
    x: { method: 'GET', url: '/v1/files/f.h5/datasets/d/value', status: 200, headers: { 'content-type': 'application/octet-stream', 'x-ph5-dtype': 'int32' } },
    violation: /required header X-Ph5-Shape is missing/,
  },
  {
    name: 'a 503 without Retry-After',
    x: { method: 'GET', url: '/v1/files', status: 503, headers: { 'content-type': 'application/problem+json' }, body: problem(503, 'PH5_ERR_UNAVAILABLE') },
    violation: /Retry-After is missing/,
  },
  {
    name: 'a problem whose code its status does not list',
    x: { method: 'GET', url: '/v1/files/f.h5', status: 404, headers: { 'content-type': 'application/problem+json' }, body: problem(404, 'PH5_ERR_SELECTION') },
    violation: /code PH5_ERR_SELECTION is not among the codes getFile 404 lists/,
  },
  {
    name: 'a problem that is not a Problem',
    x: { method: 'GET', url: '/v1/files/f.h5', status: 404, headers: { 'content-type': 'application/problem+json' }, body: '{"code":"PH5_ERR_NOT_FOUND"}' },
    violation: /breaks the getFile 404 schema/,
  },
  {
    name: 'an error as plain JSON',
    x: { method: 'GET', url: '/v1/files/f.h5', status: 404, headers: json, body: problem(404, 'PH5_ERR_NOT_FOUND') },
    violation: /Content-Type .* is not declared/,
  },
  {
    name: 'a refusal before any route (declared globally)',
    x: { method: 'GET', url: '/nope', status: 404, headers: { 'content-type': 'application/problem+json' }, body: problem(404, 'PH5_ERR_ROUTE') },
    violation: null,
  },
  {
    name: 'a path the document does not have, answered 200',
    x: { method: 'GET', url: '/nope', status: 200, headers: json, body: '{}' },
    violation: /status 200 is not declared \(no operation has this path\)/,
  },
  {
    name: 'a 405 without Allow',
    x: { method: 'PATCH', url: '/v1/files', status: 405, headers: { 'content-type': 'application/problem+json' }, body: problem(405, 'PH5_ERR_METHOD') },
    violation: /405 without Allow/,
  },
];

for (const c of cases) {
  test(`contract check: ${c.name} -> ${c.violation ? 'caught' : 'accepted'}`, () => {
    const found = checker.check(c.x);
    if (c.violation === null) assert.deepEqual(found, []);
    else
      assert.ok(
        found.some((v) => c.violation!.test(v.what)),
        `expected ${c.violation} among ${JSON.stringify(found)}`,
      );
  });
}

test('listedCodes reads the codes a problem response lists', () => {
  assert.deepEqual(listedCodes('No such file. Codes: PH5_ERR_NOT_FOUND, PH5_ERR_JOB_NOT_FOUND.'), ['PH5_ERR_NOT_FOUND', 'PH5_ERR_JOB_NOT_FOUND']);
  assert.equal(listedCodes('The job.'), null);
});

test('on a live app, answers of inject and of the socket are checked, and a broken one fails the check', async () => {
  const app = await buildApp({ config: loadConfig({ PH5_DATA_DIR: '/nonexistent' }), connect: false, logger: false });
  watchContract(app);
  // Break real answers on purpose: /healthz becomes text/html, /v1/workers says 201.
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.url === '/healthz') reply.header('content-type', 'text/html');
    if (request.url === '/v1/workers') reply.code(201);
    return payload;
  });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.statusCode, 200);
    assert.throws(() => assertContractKept(app), /GET \/healthz -> 200: Content-Type 'text\/html' is not declared/);
    const port = (app.server.address() as AddressInfo).port;
    await (await fetch(`http://127.0.0.1:${port}/v1/workers`)).arrayBuffer();
    assert.throws(() => assertContractKept(app), /GET \/v1\/workers -> 201: status 201 is not declared/);
  } finally {
    await app.close();
  }
});

test('on a live app that keeps the contract, the check passes', async () => {
  const app = await buildApp({ config: loadConfig({ PH5_DATA_DIR: '/nonexistent' }), connect: false, logger: false });
  const ledger = watchContract(app);
  try {
    for (const url of ['/healthz', '/nope', '/v1/files/%zz']) await app.inject({ method: 'GET', url });
    await app.inject({ method: 'PATCH', url: '/v1/files', headers: { 'content-type': 'text/plain' }, payload: 'x' });
    assert.equal(ledger.exchanges, 4);
    assertContractKept(app);
  } finally {
    await app.close();
  }
});
