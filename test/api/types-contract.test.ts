/**
 * The new dtypes as the OpenAPI document describes them: every answer about a file h5py
 * wrote with compound, enum, complex and variable-length string datasets and attributes
 * (dataset info, values as JSON and raw, attributes, the file listing, the 406 of a binary
 * string read), and the creations and attribute writes that name them, are checked against
 * openapi/openapi.json by the contract checker (helpers/api.ts) when the API stops; the
 * answers' `dtype` are the specs (objects for enums and compounds).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startApi, type TestApi } from '../helpers/api.js';

const run = promisify(execFile);
let api: TestApi;

before(async () => {
  api = await startApi();
  const dir = path.join(api.config.dataDir, 'default');
  await mkdir(dir, { recursive: true });
  const program = [
    'import sys, h5py, numpy as np',
    "f = h5py.File(sys.argv[1], 'w')",
    "f.create_dataset('rec', data=np.array([(1, [0.5, 1.5])], dtype=[('id', '<u2'), ('v', '<f4', (2,))]))",
    "f.create_dataset('color', data=np.array([0, 2], dtype='u1'), dtype=h5py.enum_dtype({'RED': 0, 'BLUE': 2}, basetype='u1'))",
    "f.create_dataset('z', data=np.array([1 - 1j], dtype='<c16'))",
    "f.create_dataset('names', data=['ä', 'b'], dtype=h5py.string_dtype())",
    "f.attrs['s'] = 'x'",
    "f.attrs['fixed'] = np.bytes_(b'abc')",
    "f.attrs['pair'] = np.array((1, 2.5), dtype=[('a', '<i4'), ('b', '<f8')])",
    'f.close()',
  ].join('\n');
  await run('/usr/bin/python3', ['-c', program, path.join(dir, 't.h5')], { env: { PATH: process.env.PATH } });
});
after(async () => {
  await api?.stop();
});

const get = (url: string, accept = 'application/json') => api.app.inject({ method: 'GET', url, headers: { accept } });

test('answers about compound, enum, complex and string objects carry dtype specs the document describes', async () => {
  const rec = await get('/v1/files/t.h5/datasets/rec');
  assert.equal(rec.statusCode, 200, rec.body);
  assert.deepEqual(rec.json().dtype, {
    fields: [
      { name: 'id', dtype: 'uint16', offset: 0 },
      { name: 'v', dtype: 'float32', shape: [2], offset: 2 },
    ],
    itemsize: 10,
  });
  const recValue = await get('/v1/files/t.h5/datasets/rec/value');
  assert.deepEqual(recValue.json(), { dtype: rec.json().dtype, shape: [1], data: [{ id: 1, v: [0.5, 1.5] }] });
  const recRaw = await get('/v1/files/t.h5/datasets/rec/value', 'application/octet-stream');
  assert.equal(recRaw.statusCode, 200);
  assert.deepEqual(JSON.parse(recRaw.headers['x-ph5-dtype'] as string), rec.json().dtype);

  const color = await get('/v1/files/t.h5/datasets/color/value');
  assert.deepEqual(color.json(), { dtype: { enum: { BLUE: 2, RED: 0 }, base: 'uint8' }, shape: [2], data: ['RED', 'BLUE'] });
  const z = await get('/v1/files/t.h5/datasets/z/value');
  assert.deepEqual(z.json(), { dtype: 'complex128', shape: [1], data: [[1, -1]] });
  const names = await get('/v1/files/t.h5/datasets/names/value');
  assert.deepEqual(names.json(), { dtype: 'str', shape: [2], data: ['ä', 'b'] });
  const refused = await get('/v1/files/t.h5/datasets/names/value', 'application/octet-stream');
  assert.equal(refused.statusCode, 406, refused.body);
  assert.equal(refused.json().code, 'PH5_ERR_NOT_ACCEPTABLE');

  const attrs = await get('/v1/files/t.h5/attributes');
  assert.equal(attrs.statusCode, 200, attrs.body);
  assert.deepEqual(Object.fromEntries(attrs.json().attributes.map((a: { name: string; dtype: unknown; value: unknown }) => [a.name, [a.dtype, a.value]])), {
    s: ['str', 'x'],
    fixed: ['S3', 'abc'],
    pair: [
      {
        fields: [
          { name: 'a', dtype: 'int32', offset: 0 },
          { name: 'b', dtype: 'float64', offset: 4 },
        ],
        itemsize: 12,
      },
      { a: 1, b: 2.5 },
    ],
  });
  const listing = await get('/v1/files/t.h5');
  assert.equal(listing.statusCode, 200, listing.body);
  const dtypes = Object.fromEntries(listing.json().tree.children.map((c: { path: string; dtype: unknown }) => [c.path, c.dtype]));
  assert.deepEqual(dtypes, { '/color': color.json().dtype, '/names': 'str', '/rec': rec.json().dtype, '/z': 'complex128' });
});

test('creations and attribute writes naming the new dtypes are accepted, and a pending dataset answers its spec', async () => {
  const post = (body: unknown) => api.app.inject({ method: 'POST', url: '/v1/files/new.h5/datasets', payload: body as object });
  const compound = await post({
    path: '/c',
    dtype: [
      ['x', '<f8'],
      ['n', '<i2', [2]],
    ],
    shape: [3],
    fillValue: { x: 0, n: [1, 2] },
  });
  assert.equal(compound.statusCode, 202, compound.body);
  assert.equal((await post({ path: '/e', dtype: { enum: { OFF: 0, ON: 1 } }, shape: [2], fillValue: 'ON' })).statusCode, 202);
  assert.equal((await post({ path: '/s', dtype: 'str:ascii', shape: [2] })).statusCode, 202);
  const pending = await get('/v1/files/new.h5/datasets/c');
  assert.equal(pending.statusCode, 200, pending.body);
  assert.equal(pending.json().state, 'pending');
  assert.deepEqual(pending.json().dtype, {
    fields: [
      { name: 'x', dtype: 'float64', offset: 0 },
      { name: 'n', dtype: 'int16', shape: [2], offset: 8 },
    ],
    itemsize: 12,
  });
  assert.deepEqual(pending.json().fillValue, { x: 0, n: [1, 2] });
  const attr = await api.app.inject({
    method: 'PUT',
    url: '/v1/files/new.h5/datasets/e/attributes/z',
    payload: {
      dtype: 'complex64',
      value: [
        [1, 2],
        [3, 4],
      ],
    },
  });
  assert.equal(attr.statusCode, 202, attr.body);
  // numpy's list form with one field is a compound too (the schema's branches do not rewrite it).
  assert.equal((await post({ path: '/one', dtype: [['x', '<f8']], shape: [1] })).statusCode, 202);
  assert.deepEqual((await get('/v1/files/new.h5/datasets/one')).json().dtype, { fields: [{ name: 'x', dtype: 'float64', offset: 0 }], itemsize: 8 });
  // Refused: a dtype of no JSON form the document allows, one the schema admits but the
  // model does not, and a fill value for strings.
  const numeric = await post({ path: '/num', dtype: 5, shape: [1] });
  assert.equal(numeric.statusCode, 400, numeric.body);
  assert.equal(numeric.json().code, 'PH5_ERR_VALIDATION');
  const bad = await post({ path: '/bad', dtype: { fields: [{ name: 'x', dtype: 'float128' }] }, shape: [1] });
  assert.equal(bad.statusCode, 400, bad.body);
  assert.equal(bad.json().code, 'PH5_ERR_DTYPE');
  const fill = await post({ path: '/sf', dtype: 'str', shape: [1], fillValue: 'x' });
  assert.equal(fill.statusCode, 400, fill.body);
  assert.equal(fill.json().code, 'PH5_ERR_VALUE');
});
