/**
 * Auth by project and role, over every route that needs one (taken from the OpenAPI
 * document, so a new route is covered the day it is added): no token, an unknown token, a
 * malformed header → 401; a read-only token on a write route → 403; another project's
 * token → 404 for the first project's datasets and jobs; never a success. The owner's
 * token succeeds, and nothing refused leaves a job or a staged file behind.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { liveDocument } from '../../services/api/scripts/write-openapi.js';
import { TokenTable, roleAllows, type Role } from '../../services/api/tokens.js';
import { startApi, type TestApi } from '../helpers/api.js';

const TOKENS = {
  writerA: 'writer-token-of-project-a-0123456789',
  readerA: 'reader-token-of-project-a-0123456789',
  adminA: 'admin-token-of-project-a-0123456789',
  writerB: 'writer-token-of-project-b-0123456789',
};

let api: TestApi;
let jobId: string;
before(async () => {
  api = await startApi({
    PH5_TOKENS: JSON.stringify([
      { name: 'alice', project: 'proja', role: 'write', token: TOKENS.writerA },
      { name: 'reader', project: 'proja', role: 'read', token: TOKENS.readerA },
      { name: 'root', project: 'proja', role: 'admin', token: TOKENS.adminA },
      // Given by hash: the table need not hold the secret.
      { name: 'bob', project: 'projb', role: 'write', sha256: (await import('node:crypto')).createHash('sha256').update(TOKENS.writerB).digest('hex') },
    ]),
  });
  const res = await api.app.inject({
    method: 'POST',
    url: '/v1/files/a.h5/datasets',
    headers: { authorization: `Bearer ${TOKENS.writerA}` },
    payload: { path: '/d', dtype: 'int32', shape: [4] },
  });
  assert.equal(res.statusCode, 202, res.body);
  jobId = res.json().job.id;
});
after(async () => {
  await api?.stop();
});

interface Operation {
  method: string;
  url: string;
  role: Role;
}

/** Every operation that needs a role, with its path parameters filled in. */
async function securedOperations(): Promise<Operation[]> {
  const doc = JSON.parse(await liveDocument());
  const ops: Operation[] = [];
  for (const [route, methods] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(methods)) {
      if (!op.security?.length) continue; // public
      const role = /Needs the '(\w+)' role/.exec(op.description ?? '')?.[1];
      assert.ok(role, `${method} ${route} says which role it needs`);
      // An event stream of a live job would stay open: streams are probed on a job that does not exist.
      const id = op.responses?.['200']?.content?.['text/event-stream'] ? 'no-such-job' : jobId;
      const url = route
        .replace('{file}', 'a.h5')
        .replace('{path}', 'd')
        .replace('{id}', id)
        .replace(/\{\w+\}/g, 'x');
      ops.push({ method: method.toUpperCase(), url, role: role as Role });
    }
  }
  assert.ok(ops.length >= 5, 'the document lists the secured operations');
  return ops;
}

async function call(op: Operation, authorization?: string) {
  return api.app.inject({
    method: op.method as 'GET',
    url: op.url,
    headers: { ...(authorization !== undefined ? { authorization } : {}), 'content-type': 'application/json' },
    ...(op.method === 'GET' || op.method === 'DELETE' ? {} : { payload: JSON.stringify({ path: '/e', dtype: 'int32', shape: [4] }) }),
  });
}

test('every secured route: no token, unknown token, malformed header → 401 with WWW-Authenticate', async () => {
  const before = await api.jobCount();
  for (const op of await securedOperations()) {
    for (const [label, header, code] of [
      ['no token', undefined, 'PH5_ERR_UNAUTHORIZED'],
      ['unknown token', 'Bearer not-a-token-we-know-0123456789', 'PH5_ERR_TOKEN'],
      ['basic auth', `Basic ${Buffer.from('a:b').toString('base64')}`, 'PH5_ERR_UNAUTHORIZED'],
      ['empty bearer', 'Bearer ', 'PH5_ERR_UNAUTHORIZED'],
      ['token of another case', `Bearer ${TOKENS.writerA.toUpperCase()}`, 'PH5_ERR_TOKEN'],
    ] as const) {
      const res = await call(op, header);
      assert.equal(res.statusCode, 401, `${op.method} ${op.url} with ${label}: ${res.body}`);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(res.json().code, code, `${op.method} ${op.url} with ${label}`);
      assert.match(String(res.headers['www-authenticate']), /^Bearer realm="ph5"/);
    }
  }
  assert.equal(await api.jobCount(), before, 'nothing was queued');
  assert.deepEqual(await api.staged(), []);
});

test('a read-only token gets 403 on every route that needs more, and is let through on read routes', async () => {
  const before = await api.jobCount();
  for (const op of await securedOperations()) {
    const res = await call(op, `Bearer ${TOKENS.readerA}`);
    if (roleAllows('read', op.role)) {
      assert.notEqual(res.statusCode, 401, `${op.method} ${op.url}`);
      assert.notEqual(res.statusCode, 403, `${op.method} ${op.url}`);
    } else {
      assert.equal(res.statusCode, 403, `${op.method} ${op.url}: ${res.body}`);
      assert.equal(res.json().code, 'PH5_ERR_FORBIDDEN');
    }
  }
  assert.equal(await api.jobCount(), before, 'nothing was queued');
  assert.deepEqual(await api.staged(), []);
});

test("another project's token never sees project A's datasets or jobs (404), and its writes land in its own project", async () => {
  const asB = `Bearer ${TOKENS.writerB}`;
  const asA = `Bearer ${TOKENS.writerA}`;
  const probes = [
    { method: 'GET', url: '/v1/files/a.h5/datasets/d' },
    { method: 'GET', url: '/v1/files/a.h5/datasets/d/value' },
    { method: 'GET', url: `/v1/jobs/${jobId}` },
    { method: 'PUT', url: '/v1/files/a.h5/datasets/d/value', payload: [1, 2, 3, 4] },
  ] as const;
  for (const p of probes) {
    const res = await api.app.inject({ method: p.method, url: p.url, headers: { authorization: asB }, ...('payload' in p ? { payload: p.payload } : {}) });
    assert.equal(res.statusCode, 404, `${p.method} ${p.url} as project B: ${res.body}`);
  }
  // The owner sees them (the read of values is 404 too: the creation job has not run).
  assert.equal((await api.app.inject({ method: 'GET', url: '/v1/files/a.h5/datasets/d', headers: { authorization: asA } })).statusCode, 200);
  assert.equal((await api.app.inject({ method: 'GET', url: `/v1/jobs/${jobId}`, headers: { authorization: asA } })).statusCode, 200);
  // B creating the same name makes its own dataset, in its own namespace.
  const mine = await api.app.inject({
    method: 'POST',
    url: '/v1/files/a.h5/datasets',
    headers: { authorization: asB },
    payload: { path: '/d', dtype: 'int8', shape: [2] },
  });
  assert.equal(mine.statusCode, 202, mine.body);
  const job = await api.app.jobs.job(mine.json().job.id);
  assert.equal(job?.data.project, 'projb');
  const aView = await api.app.inject({ method: 'GET', url: '/v1/files/a.h5/datasets/d', headers: { authorization: asA } });
  assert.equal(aView.json().dtype, 'int32', "A's dataset is untouched");
});

test('public routes need no token; the document declares bearer auth', async () => {
  for (const url of ['/healthz', '/openapi.json', '/metrics', '/docs/']) {
    const res = await api.app.inject({ method: 'GET', url });
    assert.notEqual(res.statusCode, 401, url);
  }
  const doc = JSON.parse(await liveDocument());
  assert.equal(doc.components.securitySchemes.bearerAuth.scheme, 'bearer');
});

test('token tables are checked when loaded: bad JSON, unknown role, short token, duplicates, bad project', () => {
  const bad: [string, RegExp][] = [
    ['{', /not valid JSON/],
    ['{"x":1}', /expected a JSON array/],
    ['[{"project":"p","role":"root","token":"0123456789abcdef"}]', /role/],
    ['[{"project":"p","token":"short"}]', /at least 16/],
    ['[{"project":"p"}]', /give "token"/],
    ['[{"project":"../etc","token":"0123456789abcdef"}]', /entry 0/],
    ['[{"project":"p","token":"0123456789abcdef"},{"project":"q","token":"0123456789abcdef"}]', /twice/],
  ];
  for (const [json, message] of bad) assert.throws(() => TokenTable.parse(json, 'test'), message, json);
  const table = TokenTable.parse('[{"project":"p","token":"0123456789abcdef"}]', 'test');
  assert.deepEqual(table.lookup('0123456789abcdef'), { name: 'token-0', project: 'p', role: 'write' });
  assert.equal(table.lookup('0123456789abcdeF'), null);
});
