/**
 * JSON numbers beyond ±(2^53−1) for 64-bit integers. JSON.parse rounds them to the nearest
 * double before ph5 sees them (Python's json.dumps(a.tolist()) of an int64 array writes them
 * exactly, as numbers), so -9007199254740993 was stored as …992 without a word. They are
 * refused (400 PH5_ERR_VALUE, nothing queued) with a hint to send a decimal string, which is
 * exact: in values, compound fields, attributes and fill values. Safe integers, and big ones
 * as strings, are accepted as before.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApi, writeWithH5py, type TestApi } from '../helpers/api.js';

let api: TestApi;

before(async () => {
  api = await startApi();
  const program = `
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], 'w') as f:
    f['i'] = np.zeros(2, '<i8')
    f['u'] = np.zeros(1, '<u8')
    f['c'] = np.zeros(1, [('t', '<i8'), ('x', '<f8')])
`;
  await writeWithH5py(api, 'n.h5', program);
});
after(async () => {
  await api?.stop();
});

const send = (method: string, url: string, payload: unknown) => api.app.inject({ method: method as 'PUT', url, payload: payload as object });

test('JSON numbers outside ±(2^53−1) for 64-bit integers are refused, nothing queued', async () => {
  const before = await api.jobCount();
  for (const [method, url, body] of [
    ['PUT', '/v1/files/n.h5/datasets/i/value', '[0, -9007199254740993]'],
    ['PUT', '/v1/files/n.h5/datasets/i/value', '[9007199254740992, 1]'],
    ['PUT', '/v1/files/n.h5/datasets/u/value', '[18446744073709551615]'],
    ['PUT', '/v1/files/n.h5/datasets/c/value', '[{"t": 4611686018427387905, "x": 1}]'],
    ['PUT', '/v1/files/n.h5/attributes/big', '{"value": -9007199254740993}'],
    ['PUT', '/v1/files/n.h5/attributes/big', '{"value": [1, 9007199254740993], "dtype": "int64"}'],
    ['POST', '/v1/files/n.h5/datasets', '{"path": "/f", "dtype": "int64", "shape": [1], "fillValue": 9007199254740993}'],
  ] as const) {
    const res = await api.app.inject({ method, url, payload: body, headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 400, `${url} ${body}: ${res.body}`);
    assert.equal(res.json().code, 'PH5_ERR_VALUE', res.body);
    assert.match(res.json().detail, /decimal string/, res.body);
  }
  assert.equal(await api.jobCount(), before);
});

test('safe integers as numbers and big ones as decimal strings are accepted', async () => {
  for (const [url, payload] of [
    ['/v1/files/n.h5/datasets/i/value', [9007199254740991, '-9007199254740993']],
    ['/v1/files/n.h5/datasets/u/value', ['18446744073709551615']],
    ['/v1/files/n.h5/datasets/c/value', [{ t: '4611686018427387905', x: 1 }]],
    ['/v1/files/n.h5/attributes/big', { value: ['-9007199254740993', -9007199254740991], dtype: 'int64' }],
  ] as const) {
    const res = await send('PUT', url, payload);
    assert.equal(res.statusCode, 202, `${url}: ${res.body}`);
  }
});
