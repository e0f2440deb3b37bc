/**
 * Property-based fuzzing of every route (fast-check): thousands of random and malformed
 * requests — traversal attempts (`..`, `%2e%2e`, encoded slashes, a symlink planted in
 * the project directory, a non-HDF5 file), odd methods, random queries, bodies and media
 * types, good, bad and missing tokens — never get a 5xx, always get a problem+json error
 * when refused, and change nothing: the files outside the data root, the planted files and
 * the staging area (beyond payloads of jobs that were accepted) stay as they were.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { startApi, type TestApi } from '../helpers/api.js';

const TOKEN = 'fuzz-token-of-project-fz-0123456789';
const READER = 'fuzz-reader-of-project-fz-0123456789';
const OTHER = 'fuzz-token-of-project-other-0123456789';
let api: TestApi;
let outside: string;
const OUTSIDE_TEXT = 'precious data outside the data root\n';

before(async () => {
  api = await startApi({
    PH5_MAX_WAIT_SECONDS: '0', // no long-polls: every request answers at once
    PH5_RATE_LIMIT_PER_MINUTE: '0',
    PH5_TOKENS: JSON.stringify([
      { project: 'fz', role: 'write', token: TOKEN },
      { project: 'fz', role: 'read', token: READER },
      { project: 'other', role: 'admin', token: OTHER },
    ]),
  });
  const root = api.config.dataDir;
  outside = path.join(path.dirname(root), `${path.basename(root)}-outside.h5`);
  await writeFile(outside, OUTSIDE_TEXT);
  await mkdir(path.join(root, 'fz'), { recursive: true });
  await symlink(outside, path.join(root, 'fz', 'link.h5'));
  await symlink(path.dirname(root), path.join(root, 'fz', 'dirlink'));
  await writeFile(path.join(root, 'fz', 'junk.h5'), 'this is not HDF5');
  const res = await api.app.inject({
    method: 'POST',
    url: '/v1/files/real.h5/datasets',
    headers: { authorization: `Bearer ${TOKEN}` },
    payload: { path: '/d', dtype: 'int16', shape: [6, 4] },
  });
  assert.equal(res.statusCode, 202);
});
after(async () => {
  await api?.stop();
});

const segment = fc.oneof(
  fc.constantFrom(
    'real.h5',
    'junk.h5',
    'link.h5',
    'dirlink',
    'missing.h5',
    'd',
    'grp%2Fd',
    '..',
    '.',
    '%2e%2e',
    '%2E%2E%2F',
    '..%2F..%2Fetc%2Fpasswd',
    '%00',
    'a%00b',
    '~',
    '%2F',
    '%252e%252e',
    'con',
    'x'.repeat(300),
  ),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', maxLength: 8 }).map(encodeURIComponent),
);
const route = fc.oneof(
  fc.tuple(segment).map(([f]) => `/v1/files/${f}/datasets`),
  fc.tuple(segment, segment).map(([f, p]) => `/v1/files/${f}/datasets/${p}`),
  fc.tuple(segment, segment).map(([f, p]) => `/v1/files/${f}/datasets/${p}/value`),
  fc.tuple(segment, segment).map(([f, p]) => `/v1/files/${f}/datasets/${p}/shape`),
  fc.tuple(segment, segment, segment).map(([f, p, a]) => `/v1/files/${f}/datasets/${p}/attributes/${a}`),
  fc.tuple(segment).map(([f]) => `/v1/files/${f}`),
  fc.tuple(segment).map(([f]) => `/v1/files/${f}/groups`),
  fc.tuple(segment, segment).map(([f, p]) => `/v1/files/${f}/groups/${p}`),
  fc.tuple(segment, segment, segment).map(([f, p, a]) => `/v1/files/${f}/groups/${p}/attributes/${a}`),
  fc.tuple(segment, segment).map(([f, a]) => `/v1/files/${f}/attributes/${a}`),
  fc.tuple(segment).map(([f]) => `/v1/files/${f}/attributes`),
  fc.tuple(segment).map(([id]) => `/v1/jobs/${id}`),
  fc.constant('/v1/jobs'),
  fc.constant('/v1/files'),
  fc.constant('/v1/workers'),
  fc.constantFrom('/healthz', '/readyz', '/metrics', '/openapi.json', '/', '/v1', '/v1/files', '/v1/files/real.h5', '/../../etc/passwd', '/v1/files/../../x'),
);
const queryValue = fc.oneof(
  fc.constantFrom(
    '[0:3]',
    '[0:6,1:3]',
    '[::2]',
    '[5:1]',
    '[0:99]',
    '[-1]',
    '[a]',
    '[0:3',
    '[]',
    '[0:6:0]',
    '1e999',
    '-1',
    'NaN',
    '>i2',
    '<i2',
    'int16',
    'U8',
    'queued',
    'done',
    '100000',
  ),
  fc.string({ maxLength: 16 }),
);
const query = fc
  .array(fc.tuple(fc.constantFrom('select', 'dtype', 'wait', 'state', 'file', 'limit', 'before', 'x'), queryValue), { maxLength: 3 })
  .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}` : ''));
const jsonBody = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record({
    path: fc.oneof(fc.constantFrom('/n', '/d', '../x', '/a/../b', '', '/', 'a\u0000b'), fc.string({ maxLength: 10 })),
    dtype: fc.oneof(fc.constantFrom('int8', 'float64', '>f8', 'S4', 'bool', 'U4', 'object', 'i3'), fc.string({ maxLength: 6 })),
    shape: fc.oneof(fc.array(fc.integer({ min: -2, max: 2 ** 20 }), { maxLength: 4 }), fc.constant([2 ** 40, 2 ** 40])),
    maxshape: fc.option(fc.array(fc.option(fc.integer({ min: 0, max: 100 })), { maxLength: 4 }), { nil: undefined }),
    chunks: fc.option(fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 4 }), { nil: undefined }),
    fillValue: fc.option(fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 4 }), fc.boolean()), { nil: undefined }),
  }),
  fc.array(fc.array(fc.integer({ min: -40000, max: 40000 }), { maxLength: 5 }), { maxLength: 7 }),
  fc.record({ value: fc.jsonValue({ maxDepth: 2 }), dtype: fc.option(fc.constantFrom('int8', 'float32', 'str', 'S4', 'bool', 'x'), { nil: undefined }) }),
  fc.record({ shape: fc.array(fc.integer({ min: -1, max: 12 }), { maxLength: 3 }) }),
  fc.record({
    file: fc.constantFrom('real.h5', 'junk.h5', 'link.h5', '../x.h5', 'new.h5'),
    ops: fc.array(
      fc.record({
        op: fc.constantFrom('createGroup', 'createDataset', 'write', 'setAttribute', 'deleteAttribute', 'resize', 'delete', 'nope'),
        path: fc.constantFrom('/d', '/g', '/g/x', '/', '../a', 'd'),
        name: fc.option(fc.constantFrom('a', 'b/c', ''), { nil: undefined }),
        value: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
        dtype: fc.option(fc.constantFrom('int16', 'float64', 'q'), { nil: undefined }),
        shape: fc.option(fc.array(fc.integer({ min: 0, max: 8 }), { maxLength: 2 }), { nil: undefined }),
      }),
      { maxLength: 5 },
    ),
  }),
);
const body = fc.oneof(
  fc.constant(undefined),
  jsonBody.map((v) => ({ type: 'application/json', payload: JSON.stringify(v) })),
  fc.uint8Array({ maxLength: 64 }).map((b) => ({ type: 'application/octet-stream', payload: Buffer.from(b) })),
  fc
    .uint8Array({ maxLength: 64 })
    .map((b) => ({ type: 'application/x-npy', payload: Buffer.concat([Buffer.from('\x93NUMPY\x01\x00', 'latin1'), Buffer.from(b)]) })),
  fc
    .tuple(
      fc.constantFrom('text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', ''),
      fc.string({ maxLength: 20 }),
    )
    .map(([type, payload]) => ({ type, payload })),
);
const auth = fc.oneof(
  fc.constant(`Bearer ${TOKEN}`),
  fc.constant(`Bearer ${READER}`),
  fc.constant(`Bearer ${OTHER}`),
  fc.constant(undefined),
  fc.string({ maxLength: 30 }).map((s) => `Bearer ${s}`),
  fc.constantFrom('Basic Zm9vOmJhcg==', 'Bearer', `bearer  ${TOKEN}`, `Bearer ${TOKEN}x`),
);
const randomRequest = fc.record({
  method: fc.constantFrom('GET', 'GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
  url: fc.tuple(route, query).map(([r, q]) => r + q),
  body,
  auth,
});
/** Near-valid writes into real.h5:/d (int16, 6×4), so that some are accepted and staged. */
const nearValidWrite = fc
  .record({ rows: fc.integer({ min: 0, max: 7 }), extra: fc.integer({ min: -2, max: 2 }), binary: fc.boolean(), auth })
  .map(({ rows, extra, binary, auth }) => ({
    method: 'PUT',
    url: `/v1/files/real.h5/datasets/d/value?select=${encodeURIComponent(`[0:${rows},:]`)}`,
    body: binary
      ? { type: 'application/octet-stream', payload: Buffer.alloc(Math.max(0, rows * 4 * 2 + extra)) }
      : { type: 'application/json', payload: JSON.stringify(Array.from({ length: Math.max(0, rows + extra) }, () => [1, 2, 3, 4])) },
    auth,
  }));
const request = fc.oneof({ arbitrary: randomRequest, weight: 4 }, { arbitrary: nearValidWrite, weight: 1 });

async function snapshot(): Promise<string> {
  const root = api.config.dataDir;
  const rows: string[] = [`outside:${await readFile(outside, 'utf8')}`];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (path.relative(root, full) === '.staging') continue; // checked against accepted jobs instead
      if (entry.isDirectory()) await walk(full);
      else rows.push(`${path.relative(root, full)}:${entry.isSymbolicLink() ? 'link' : (await stat(full)).size}`);
    }
  };
  await walk(root);
  return rows.join('\n');
}

test('thousands of random requests: no 5xx, problems for every refusal, nothing changed', { timeout: 600_000 }, async () => {
  const before = await snapshot();
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const res = await api.app.inject({
        method: r.method as 'GET',
        url: r.url,
        headers: { ...(r.auth !== undefined ? { authorization: r.auth } : {}), ...(r.body ? { 'content-type': r.body.type } : {}) },
        ...(r.body && r.method !== 'GET' && r.method !== 'HEAD' ? { payload: r.body.payload } : {}),
      });
      // The one legitimate 503 here: readiness without a worker pool (this test runs none).
      const notReady = r.url.startsWith('/readyz') && res.statusCode === 503;
      assert.ok(res.statusCode < 500 || notReady, `${r.method} ${r.url} → ${res.statusCode} ${res.body.slice(0, 300)}`);
      if (res.statusCode >= 400 && r.method !== 'HEAD') {
        assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8', `${r.method} ${r.url}`);
        const problem = res.json();
        assert.match(problem.code, /^PH5_ERR_[A-Z0-9_]+$/);
        assert.equal(problem.status, res.statusCode);
      }
      if (res.statusCode === 202) accepted++;
    }),
    { numRuns: 3000, seed: Number(process.env.PH5_FUZZ_SEED ?? Date.now() % 2 ** 31), verbose: 1 },
  );
  assert.equal(await snapshot(), before, 'no file in the data root (or outside it) changed');
  // Every staged payload belongs to an accepted job.
  const staged = new Set(await api.staged());
  const jobs = (await Promise.all(api.app.jobs.queues.map((q) => q.getJobs(['waiting', 'delayed', 'prioritized', 'paused'])))).flat();
  for (const job of jobs) for (const op of job.data.ops) if (op.op === 'write') staged.delete(op.staged);
  assert.deepEqual([...staged], [], 'no staged payload without a job');
  console.log(`fuzz: 3000 requests, ${accepted} accepted (202), ${jobs.length} jobs queued`);
});
