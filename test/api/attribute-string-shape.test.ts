/**
 * String attributes of more than one dimension, as h5py writes them
 * (`f.attrs['names'] = [['a', 'b'], ['c', 'd']]`): their value is nested to their shape,
 * as every other attribute's is (a 2-D string attribute was answered flat, its shape [2, 2]
 * beside a list of 4). Variable-length UTF-8 and ASCII, and fixed-length S<n>.
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
    f.attrs['utf8'] = [['a', 'b', 'c'], ['d', 'é', '']]
    f.attrs['ascii'] = np.array([[b'a', b'b'], [b'c', b'd']], dtype=h5py.string_dtype('ascii'))
    f.attrs['fixed'] = np.array([[[b'ab'], [b'c']]], dtype='S2')
    f.attrs['flat'] = ['x', 'yy']
    f.attrs['one'] = 'z'
`;
  await writeWithH5py(api, 'a.h5', program);
});
after(async () => {
  await api?.stop();
});

const get = async (url: string) => {
  const res = await api.app.inject({ method: 'GET', url });
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
};

test('string attributes of 2 and 3 dimensions are nested to their shape', async () => {
  assert.deepEqual(await get('/v1/files/a.h5/attributes/utf8'), {
    name: 'utf8',
    dtype: 'str',
    shape: [2, 3],
    value: [
      ['a', 'b', 'c'],
      ['d', 'é', ''],
    ],
  });
  assert.deepEqual(await get('/v1/files/a.h5/attributes/ascii'), {
    name: 'ascii',
    dtype: 'str:ascii',
    shape: [2, 2],
    value: [
      ['a', 'b'],
      ['c', 'd'],
    ],
  });
  assert.deepEqual(await get('/v1/files/a.h5/attributes/fixed'), { name: 'fixed', dtype: 'S2', shape: [1, 2, 1], value: [[['ab'], ['c']]] });
  // 1-D and scalar ones as before.
  assert.deepEqual((await get('/v1/files/a.h5/attributes/flat')).value, ['x', 'yy']);
  assert.equal((await get('/v1/files/a.h5/attributes/one')).value, 'z');
  // The list of attributes answers the same.
  const list = (await get('/v1/files/a.h5/attributes')).attributes;
  assert.deepEqual(list.find((a: { name: string }) => a.name === 'utf8').value, [
    ['a', 'b', 'c'],
    ['d', 'é', ''],
  ]);
});

test('writing a string attribute of 2+ dimensions is refused plainly (string attributes are written 1-D), nothing queued', async () => {
  const before = await api.jobCount();
  for (const payload of [
    {
      value: [
        ['a', 'b'],
        ['c', 'd'],
      ],
    },
    {
      value: [
        ['a', 'b'],
        ['c', 'd'],
      ],
      dtype: 'str',
    },
    { value: [['ab']], dtype: 'S2' },
  ]) {
    const res = await api.app.inject({ method: 'PUT', url: '/v1/files/a.h5/attributes/w', payload });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().code, 'PH5_ERR_VALUE');
    assert.match(res.json().detail, /1-D|flat/, 'says what is accepted, not "is not an integer"');
  }
  assert.equal(await api.jobCount(), before);
});
