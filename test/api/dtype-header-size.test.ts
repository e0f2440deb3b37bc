/**
 * A compound dtype whose JSON text is large (hundreds of fields, as tables exported from
 * pandas or instruments have) must not break ordinary HTTP clients: Node's http client
 * refuses an answer whose headers exceed 16 KiB (HPE_HEADER_OVERFLOW), so such a read
 * answered nothing at all. The API leaves X-Ph5-Dtype out when its text is over 8 KiB;
 * the dtype is in the dataset's info, the JSON body and the .npy header. A small
 * compound still carries it.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { startApi, writeWithH5py, type TestApi } from '../helpers/api.js';

let api: TestApi;
let base: string;

before(async () => {
  api = await startApi();
  const program = `
import sys, h5py, numpy as np
wide = np.dtype([('field_with_a_rather_long_name_%04d' % i, '<f4') for i in range(600)])
small = np.dtype([('x', '<i4'), ('y', '<f8')])
with h5py.File(sys.argv[1], 'w') as f:
    a = np.zeros(3, wide); a['field_with_a_rather_long_name_0001'] = [1, 2, 3]
    f['wide'] = a
    f['small'] = np.array([(1, 2.5)], small)
`;
  await writeWithH5py(api, 'w.h5', program);
  base = await api.app.listen({ port: 0, host: '127.0.0.1' });
});
after(async () => {
  await api?.stop();
});

/** A GET with Node's own http client and its default limits, as most Node users have. */
function nodeGet(url: string, accept: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { accept } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
      })
      .on('error', reject);
  });
}

test('reads of a compound with a large dtype text answer Node clients, without X-Ph5-Dtype', async () => {
  const url = `${base}/v1/files/w.h5/datasets/wide/value`;
  const raw = await nodeGet(url, 'application/octet-stream');
  assert.equal(raw.status, 200);
  assert.equal(raw.headers['x-ph5-dtype'], undefined);
  assert.equal(raw.headers['x-ph5-shape'], '3');
  assert.equal(raw.body.length, 3 * 600 * 4);
  assert.equal(raw.body.readFloatLE(600 * 4 + 4), 2, 'record 1, field 1');
  const json = await nodeGet(`${url}?select=[1:2]`, 'application/json');
  assert.equal(json.status, 200);
  const answer = JSON.parse(json.body.toString());
  assert.equal(answer.dtype.fields.length, 600, 'the dtype is in the body');
  assert.equal(answer.data[0].field_with_a_rather_long_name_0001, 2);
  const npy = await nodeGet(url, 'application/x-npy');
  assert.equal(npy.status, 200);
  assert.equal(npy.body.subarray(1, 6).toString(), 'NUMPY');
  const points = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      `${url}/points`,
      { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/octet-stream' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ points: [0, 2] }));
  });
  assert.equal(points, 200, 'point reads too');
  // The dataset's info still names the whole dtype.
  const info = await nodeGet(`${base}/v1/files/w.h5/datasets/wide`, 'application/json');
  assert.equal(JSON.parse(info.body.toString()).dtype.fields.length, 600);
});

test('a small compound still carries X-Ph5-Dtype', async () => {
  const raw = await nodeGet(`${base}/v1/files/w.h5/datasets/small/value`, 'application/octet-stream');
  assert.equal(raw.status, 200);
  assert.equal(JSON.parse(String(raw.headers['x-ph5-dtype'])).fields.length, 2);
});
