/**
 * Binary and .npy bodies for variable-length string datasets are fixed-width slots. Their
 * bytes are checked as JSON strings are: UTF-8 for a str dataset, ASCII for str:ascii, no
 * NUL inside a value. They used to be written as they came: `\xff\xfe` reached the file
 * (h5py's .asstr() then fails on it), a str:ascii dataset took non-ASCII bytes that JSON
 * refuses, and 'a\0b' was stored as 'a'. Refused: 400 PH5_ERR_VALUE, nothing staged or
 * queued, for small bodies (read whole) and large ones (staged as a stream) alike.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApi, writeWithH5py, type TestApi } from '../helpers/api.js';

let api: TestApi;
const N = 40_000;

before(async () => {
  api = await startApi();
  const program = `
import sys, h5py
with h5py.File(sys.argv[1], 'w') as f:
    f.create_dataset('u', shape=(${N},), dtype=h5py.string_dtype())
    f.create_dataset('a', shape=(4,), dtype=h5py.string_dtype('ascii'))
`;
  await writeWithH5py(api, 's.h5', program);
});
after(async () => {
  await api?.stop();
});

const put = (url: string, payload: Buffer, type = 'application/octet-stream') =>
  api.app.inject({ method: 'PUT', url, payload, headers: { 'content-type': type } });

/** A .npy of `count` |S<width> values: `slots`. */
function npy(slots: Buffer, width: number, count: number): Buffer {
  const dict = `{'descr': '|S${width}', 'fortran_order': False, 'shape': (${count},), }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  const head = Buffer.alloc(total, 0x20);
  Buffer.from('\x93NUMPY', 'latin1').copy(head, 0);
  head[6] = 1;
  head.writeUInt16LE(total - 10, 8);
  head.write(dict, 10, 'latin1');
  head[total - 1] = 0x0a;
  return Buffer.concat([head, slots]);
}

test('slots that are not UTF-8, not ASCII for str:ascii, or hold a NUL inside a value are refused', async () => {
  const before = await api.jobCount();
  const cases: [string, Buffer, string?][] = [
    ['/v1/files/s.h5/datasets/u/value?select=[0:2]&dtype=S4', Buffer.from('\xff\xfe\0\0cdef', 'latin1')],
    ['/v1/files/s.h5/datasets/a/value?select=[0:2]&dtype=S4', Buffer.from('\xc3\xa9\0\0cdef', 'latin1')],
    ['/v1/files/s.h5/datasets/u/value?select=[0:2]&dtype=S4', Buffer.from('a\0b\0cdef', 'latin1')],
    ['/v1/files/s.h5/datasets/u/value?select=[0:2]', npy(Buffer.from('ok\0\0\xff\0\0\0', 'latin1'), 4, 2), 'application/x-npy'],
    ['/v1/files/s.h5/datasets/u/value?points=[3,1]&dtype=S4', Buffer.from('ok\0\0\xff\0\0\0', 'latin1')],
  ];
  // A large body (staged as a stream, not read whole) whose last slot is bad.
  const big = Buffer.alloc(N * 8);
  for (let i = 0; i < N; i++) big.write(`v${i}`, i * 8, 'latin1');
  big[(N - 1) * 8] = 0xff;
  cases.push(['/v1/files/s.h5/datasets/u/value?dtype=S8', big]);
  for (const [url, body, type] of cases) {
    const res = await put(url, body, type);
    assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
    assert.equal(res.json().code, 'PH5_ERR_VALUE', res.body);
  }
  assert.match((await put(cases[5]![0], big)).json().detail, new RegExp(`Value #${N - 1} `));
  assert.equal(await api.jobCount(), before, 'nothing queued');
  assert.deepEqual(await api.staged(), [], 'nothing left staged');
});

test('good slots are accepted: UTF-8, padding NULs, a full slot without NUL', async () => {
  const slots = Buffer.concat([Buffer.from('é\0\0', 'utf8'), Buffer.from('abcd'), Buffer.alloc(4)]);
  assert.equal((await put('/v1/files/s.h5/datasets/u/value?select=[0:3]&dtype=S4', slots.subarray(0, 12))).statusCode, 202);
  assert.equal((await put('/v1/files/s.h5/datasets/a/value?select=[0:2]&dtype=S4', Buffer.from('abcdxy\0\0'))).statusCode, 202);
  const big = Buffer.alloc(N * 8);
  for (let i = 0; i < N; i++) big.write(`v${i}`, i * 8, 'latin1');
  assert.equal((await put('/v1/files/s.h5/datasets/u/value?dtype=S8', big)).statusCode, 202);
});
