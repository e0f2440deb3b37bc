/**
 * Path traversal, on every route that names a file (taken from the OpenAPI document, so
 * new routes are covered): `..`, encoded `%2e%2e` and `%2F`, NUL, hidden names, and
 * symlinks planted in the project directory (to a file and to a directory outside the
 * data root) are all refused with a 4xx — never a success — and nothing outside the
 * project changes. HDF5 paths with `..` are refused too.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { liveDocument } from '../../services/api/scripts/write-openapi.js';
import { startApi, type TestApi } from '../helpers/api.js';

const TOKEN = 'traversal-admin-token-0123456789';
let api: TestApi;
let outside: string;

before(async () => {
  api = await startApi({ PH5_TOKENS: JSON.stringify([{ project: 'tp', role: 'admin', token: TOKEN }]) });
  const root = api.config.dataDir;
  outside = `${root}-outside.h5`;
  await writeFile(outside, 'outside the data root\n');
  await mkdir(path.join(root, 'tp'), { recursive: true });
  await symlink(outside, path.join(root, 'tp', 'link.h5'));
  await symlink(path.dirname(root), path.join(root, 'tp', 'dirlink'));
  await mkdir(path.join(root, 'other'), { recursive: true });
  await writeFile(path.join(root, 'other', 'theirs.h5'), 'another project');
});
after(async () => {
  await api?.stop();
});

const BAD_FILES = [
  '..',
  '%2e%2e',
  '%2E%2E',
  '..%2F..%2Fetc%2Fpasswd',
  '%2e%2e%2fother%2ftheirs.h5',
  '..%5C..%5Cx',
  '.staging',
  '.hidden.h5',
  'a%00b.h5',
  'link.h5',
  'dirlink',
  '%2Ftmp%2Fx.h5',
  'other%2Ftheirs.h5',
];

test('every route that names a file refuses traversal and symlinks with a 4xx', async () => {
  const doc = JSON.parse(await liveDocument());
  let probes = 0;
  for (const [route, methods] of Object.entries<Record<string, any>>(doc.paths)) {
    if (!route.includes('{file}')) continue;
    for (const method of Object.keys(methods)) {
      for (const bad of BAD_FILES) {
        const url = route.replace('{file}', bad).replace('{path}', 'd').replace('{name}', 'a');
        const res = await api.app.inject({
          method: method.toUpperCase() as 'GET',
          url,
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          ...(method === 'get' || method === 'delete'
            ? {}
            : { payload: JSON.stringify(method === 'post' ? { path: '/d', dtype: 'int8', shape: [2] } : { value: 1, shape: [3] }) }),
        });
        probes++;
        assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${method.toUpperCase()} ${url} → ${res.statusCode} ${res.body.slice(0, 200)}`);
      }
    }
  }
  assert.ok(probes > 200, `${probes} probes`);
  const batch = await api.app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: { authorization: `Bearer ${TOKEN}` },
    payload: { file: '../other/theirs.h5', ops: [{ op: 'createGroup', path: '/g' }] },
  });
  assert.equal(batch.statusCode, 400);
  assert.equal(await readFile(outside, 'utf8'), 'outside the data root\n');
  assert.equal(await readFile(path.join(api.config.dataDir, 'other', 'theirs.h5'), 'utf8'), 'another project');
  assert.equal(await api.jobCount(), 0, 'nothing was queued');
  assert.deepEqual(await api.staged(), []);
});

test('HDF5 paths with .. or empty segments are refused', async () => {
  for (const p of ['..%2F..%2Fx', 'a%2F..%2Fb', '%2E%2E', 'a%2F%2Fb', 'a%00b']) {
    const res = await api.app.inject({ method: 'GET', url: `/v1/files/f.h5/datasets/${p}`, headers: { authorization: `Bearer ${TOKEN}` } });
    // Refused as a bad HDF5 path, or (a bare '..' segment) never routed at all.
    assert.ok([400, 404].includes(res.statusCode), `${p}: ${res.statusCode}`);
    assert.ok(['PH5_ERR_H5_PATH', 'PH5_ERR_ROUTE'].includes(res.json().code), `${p}: ${res.body}`);
  }
});
