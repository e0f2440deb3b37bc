/**
 * Fixed-length strings whose bytes are not UTF-8 (Latin-1 text in older files, binary tags):
 * JSON answers can only carry text, so such bytes read as U+FFFD there (as documented in
 * docs/api.md, Types); the raw and .npy answers give the exact bytes, which is how to read
 * them without loss.
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
    f['s'] = np.array([b'\\xe9t', b'ok'], 'S2')
`;
  await writeWithH5py(api, 'b.h5', program);
});
after(async () => {
  await api?.stop();
});

test('S<n> bytes that are not UTF-8: U+FFFD in JSON, exact in raw and .npy answers', async () => {
  const url = '/v1/files/b.h5/datasets/s/value';
  const json = await api.app.inject({ method: 'GET', url });
  assert.equal(json.statusCode, 200, json.body);
  assert.deepEqual(json.json().data, ['\ufffdt', 'ok']);
  const raw = await api.app.inject({ method: 'GET', url, headers: { accept: 'application/octet-stream' } });
  assert.deepEqual([...raw.rawPayload], [0xe9, 0x74, 0x6f, 0x6b]);
  const npy = await api.app.inject({ method: 'GET', url, headers: { accept: 'application/x-npy' } });
  assert.deepEqual([...npy.rawPayload.subarray(npy.rawPayload.length - 4)], [0xe9, 0x74, 0x6f, 0x6b]);
});
