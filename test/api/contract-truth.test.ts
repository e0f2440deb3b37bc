/**
 * The contract is what the server does (issue 16): media types refused with 415 on every
 * route with a body, JSON bodies never coerced (64-bit fill values exact), scalar
 * attributes of a numeric dtype taking the same strings as arrays, listings that mark what
 * ph5 cannot read instead of failing, `?dtype=` on reads, X-Ph5-Dtype/X-Ph5-Shape on every
 * read, the 2^53−1 boundary of JSON integers, and root attributes that never create a
 * file. Files with odd types are written by Debian's h5py. (Every answer here also goes
 * through the document check of helpers/contract.ts.)
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startApi, type TestApi } from '../helpers/api.js';

const run = promisify(execFile);
let api: TestApi;
let dir: string;

async function py<T = unknown>(file: string, snippet: string): Promise<T> {
  const program = ['import json, sys, h5py, numpy as np', 'path = sys.argv[1]', 'out = None', snippet, 'print(json.dumps(out))'].join('\n');
  const { stdout } = await run('/usr/bin/python3', ['-c', program, file], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as T;
}

before(async () => {
  api = await startApi();
  dir = path.join(api.config.dataDir, 'default');
  await mkdir(dir, { recursive: true });
  await py(
    path.join(dir, 'odd.h5'),
    `
with h5py.File(path, 'w') as f:
    f['ints'] = np.arange(6, dtype='<i4').reshape(2, 3)
    f['bigf'] = np.array([0.5, -2.0], dtype='>f8')
    f['u8'] = np.arange(3, dtype='u1')
    f['s8'] = np.array([b'abc', b'de'], dtype='S8')
    f['edge'] = np.array([2**53 - 1, 2**53, -(2**53 - 1), -(2**53)], dtype='<i8')
    f['uedge'] = np.array([2**53 - 1, 2**53, 2**64 - 1], dtype='<u8')
    f.attrs['ok'] = 1.5
    f.attrs['ref'] = f['ints'].ref
    f.attrs['opaque'] = np.void(b'\\x01\\x02\\x03')
    f.attrs['z'] = 'last'
    f.create_dataset('refs', data=np.array([f['ints'].ref], dtype=h5py.ref_dtype))
    f.create_dataset('blob', data=np.array([np.void(b'ab'), np.void(b'cd')]))
    f['ints'].attrs['ref'] = f.ref
`,
  );
});
after(async () => {
  await api?.stop();
});

const inject = (method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) =>
  api.app.inject({ method: method as 'GET', url, headers, ...(payload !== undefined ? { payload: payload as string } : {}) });

async function assertRefusedCleanly(send: () => ReturnType<typeof inject>, status: number, code: string, what: string): Promise<void> {
  const jobs = await api.jobCount();
  const res = await send();
  assert.equal(res.statusCode, status, `${what}: ${res.body}`);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/, what);
  assert.equal(res.json().code, code, what);
  assert.equal(await api.jobCount(), jobs, `${what}: no job`);
  assert.deepEqual(await api.staged(), [], `${what}: nothing staged`);
}

test('an unsupported Content-Type is 415 PH5_ERR_MEDIA_TYPE on every route that takes a body, and changes nothing', async () => {
  const routes: [string, string][] = [
    ['PUT', '/v1/files/odd.h5/datasets/s8/value'],
    ['PUT', '/v1/files/odd.h5/datasets/ints/value'],
    ['POST', '/v1/files/odd.h5/datasets'],
    ['POST', '/v1/files/odd.h5/groups'],
    ['PUT', '/v1/files/odd.h5/datasets/ints/shape'],
    ['PUT', '/v1/files/odd.h5/attributes/a'],
    ['PUT', '/v1/files/odd.h5/groups/g/attributes/a'],
    ['PUT', '/v1/files/odd.h5/datasets/ints/attributes/a'],
    ['POST', '/v1/jobs'],
    ['PUT', '/v1/files/new.h5'],
    ['DELETE', '/v1/files/odd.h5/datasets/ints'],
  ];
  for (const [method, url] of routes) {
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/xml', 'application/x-www-form-urlencoded', 'text/csv']) {
      // A text body that would be a valid S8 value (or JSON) if it were taken as one.
      await assertRefusedCleanly(() => inject(method, url, '"abc"', { 'content-type': type }), 415, 'PH5_ERR_MEDIA_TYPE', `${method} ${url} as ${type}`);
    }
  }
  // The S8 dataset still holds what h5py wrote (nothing was written, nothing queued).
  assert.deepEqual(await py(path.join(dir, 'odd.h5'), "out = [x.decode() for x in h5py.File(path, 'r')['s8'][()]]"), ['abc', 'de']);
});

test('JSON bodies are not coerced: 64-bit fill values given as strings are exact, and a string is no number', async () => {
  const cases: [string, string][] = [
    ['int64', '9007199254740993'],
    ['int64', '-9223372036854775808'],
    ['uint64', '18446744073709551615'],
    ['uint64', '9007199254740993'],
  ];
  for (const [i, [dtype, fill]] of cases.entries()) {
    const res = await inject('POST', '/v1/files/fill.h5/datasets', { path: `/f${i}`, dtype, shape: [2], fillValue: fill });
    assert.equal(res.statusCode, 202, `${dtype} ${fill}: ${res.body}`);
    const info = await inject('GET', `/v1/files/fill.h5/datasets/f${i}`);
    assert.equal(info.json().fillValue, fill, `${dtype} fill ${fill} recorded exactly`);
  }
  // The schema's types are the body's: no "4" for 4, no 4 for [4].
  for (const body of [
    { path: '/x', dtype: 'int8', shape: ['4'] },
    { path: '/x', dtype: 'int8', shape: 4 },
    { path: '/x', dtype: 'int8', shape: [4], shuffle: 'true' },
  ]) {
    const res = await inject('POST', '/v1/files/fill.h5/datasets', body);
    assert.equal(res.statusCode, 400, JSON.stringify(body));
    assert.equal(res.json().code, 'PH5_ERR_VALIDATION');
  }
  // Query strings are text and still coerced to their types.
  assert.equal((await inject('GET', '/v1/jobs?limit=2')).statusCode, 200);
});

test('a scalar attribute of a numeric dtype takes the strings an array takes ("NaN", 64-bit decimal strings)', async () => {
  await inject('PUT', '/v1/files/attrs.h5');
  const ok: [unknown, string][] = [
    ['NaN', 'float64'],
    ['-Infinity', 'float32'],
    ['9007199254740993', 'int64'],
    ['18446744073709551615', 'uint64'],
    [['NaN', 1.5], 'float64'],
    [['9007199254740993'], 'int64'],
  ];
  for (const [value, dtype] of ok) {
    const res = await inject('PUT', '/v1/files/attrs.h5/attributes/a', { value, dtype });
    assert.equal(res.statusCode, 202, `${JSON.stringify(value)} as ${dtype}: ${res.body}`);
  }
  for (const [value, dtype, code] of [
    ['kelvin', 'float64', 'PH5_ERR_VALUE'],
    ['18446744073709551616', 'uint64', 'PH5_ERR_VALUE'],
    ['1.5', 'int64', 'PH5_ERR_VALUE'],
  ] as const) {
    const res = await inject('PUT', '/v1/files/attrs.h5/attributes/a', { value, dtype });
    assert.equal(res.statusCode, 400, `${value} as ${dtype}: ${res.body}`);
    assert.equal(res.json().code, code, `${value} as ${dtype}`);
  }
  // Strings without a dtype (or with 'str') stay text.
  assert.equal((await inject('PUT', '/v1/files/attrs.h5/attributes/t', { value: 'NaN' })).statusCode, 202);
  assert.equal((await inject('PUT', '/v1/files/attrs.h5/attributes/t', { value: 'NaN', dtype: 'str' })).statusCode, 202);
});

test('a file with attributes and datasets ph5 cannot read is listed whole, each unreadable one marked', async () => {
  const file = await inject('GET', '/v1/files/odd.h5');
  assert.equal(file.statusCode, 200, file.body);
  const tree = file.json().tree;
  assert.deepEqual(tree.attributes.sort(), ['ok', 'opaque', 'ref', 'z']);
  const byPath = Object.fromEntries(tree.children.map((c: { path: string }) => [c.path, c]));
  assert.deepEqual(byPath['/refs'], {
    path: '/refs',
    kind: 'dataset',
    attributes: [],
    error: { code: 'PH5_ERR_TYPE', detail: 'the HDF5 type (reference) has no ph5 dtype' },
  });
  assert.equal(byPath['/blob'].error.code, 'PH5_ERR_TYPE');
  assert.equal(byPath['/blob'].dtype, undefined);
  assert.deepEqual(byPath['/ints'], { path: '/ints', kind: 'dataset', attributes: ['ref'], dtype: 'int32', shape: [2, 3], maxshape: [2, 3] });

  const list = await inject('GET', '/v1/files/odd.h5/attributes');
  assert.equal(list.statusCode, 200, list.body);
  const attrs = Object.fromEntries(list.json().attributes.map((a: { name: string }) => [a.name, a]));
  assert.deepEqual(attrs.ok, { name: 'ok', dtype: 'float64', shape: [], value: 1.5 });
  assert.deepEqual(attrs.z, { name: 'z', dtype: 'str', shape: [], value: 'last' });
  assert.deepEqual(attrs.ref, { name: 'ref', error: { code: 'PH5_ERR_TYPE', detail: 'the HDF5 type (reference) has no ph5 dtype' } });
  assert.deepEqual(attrs.opaque, { name: 'opaque', error: { code: 'PH5_ERR_TYPE', detail: 'the HDF5 type (opaque) has no ph5 dtype' } });
  const onDataset = await inject('GET', '/v1/files/odd.h5/datasets/ints/attributes');
  assert.deepEqual(onDataset.json().attributes, [{ name: 'ref', error: { code: 'PH5_ERR_TYPE', detail: 'the HDF5 type (reference) has no ph5 dtype' } }]);
  // Asked for alone, an unreadable attribute is a 400 with the same code.
  const one = await inject('GET', '/v1/files/odd.h5/attributes/ref');
  assert.equal(one.statusCode, 400);
  assert.equal(one.json().code, 'PH5_ERR_TYPE');
});

test('?dtype= on reads: raw and .npy answers in the other byte order; another type, or a JSON answer, is 400', async () => {
  const raw = { accept: 'application/octet-stream' };
  const le = await inject('GET', '/v1/files/odd.h5/datasets/ints/value', undefined, raw);
  const be = await inject('GET', '/v1/files/odd.h5/datasets/ints/value?dtype=%3Ei4', undefined, raw);
  assert.equal(be.statusCode, 200, be.body);
  assert.equal(be.headers['x-ph5-dtype'], '>i4');
  assert.equal(be.headers['x-ph5-shape'], '2,3');
  assert.deepEqual([...new Int32Array(le.rawPayload.buffer.slice(le.rawPayload.byteOffset, le.rawPayload.byteOffset + 24))], [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(
    Array.from({ length: 6 }, (_, i) => be.rawPayload.readInt32BE(i * 4)),
    [0, 1, 2, 3, 4, 5],
  );
  // The same order as stored is the same bytes; |u1 is u1.
  assert.deepEqual((await inject('GET', '/v1/files/odd.h5/datasets/ints/value?dtype=%3Ci4', undefined, raw)).rawPayload, le.rawPayload);
  assert.deepEqual((await inject('GET', '/v1/files/odd.h5/datasets/u8/value?dtype=%7Cu1', undefined, raw)).rawPayload, Buffer.from([0, 1, 2]));
  // A big-endian dataset read little-endian, as .npy: numpy reads the same values.
  const npy = await inject('GET', '/v1/files/odd.h5/datasets/bigf/value?dtype=float64', undefined, { accept: 'application/x-npy' });
  assert.equal(npy.statusCode, 200, npy.body);
  assert.equal(npy.headers['x-ph5-dtype'], 'float64');
  const npyFile = path.join(dir, 'read.npy');
  await writeFile(npyFile, npy.rawPayload);
  assert.deepEqual(await py(npyFile, 'a = np.load(path); out = [a.dtype.str, a.tolist()]'), ['<f8', [0.5, -2.0]]);
  for (const [url, headers, why] of [
    ['/v1/files/odd.h5/datasets/ints/value?dtype=int64', raw, 'another size'],
    ['/v1/files/odd.h5/datasets/ints/value?dtype=%3Eu4', raw, 'another kind'],
    ['/v1/files/odd.h5/datasets/ints/value?dtype=%3Ei4', {}, 'a JSON answer'],
    ['/v1/files/odd.h5/datasets/ints/value?dtype=int33', raw, 'no dtype'],
  ] as const) {
    const res = await inject('GET', url, undefined, headers);
    assert.equal(res.statusCode, 400, `${why}: ${res.body}`);
    assert.equal(res.json().code, 'PH5_ERR_DTYPE', why);
  }
});

test('every read answer carries X-Ph5-Dtype and X-Ph5-Shape; JSON integers are numbers up to ±(2^53−1) and strings beyond', async () => {
  for (const accept of ['application/json', 'application/octet-stream', 'application/x-npy']) {
    const res = await inject('GET', '/v1/files/odd.h5/datasets/edge/value?select=%5B1:3%5D', undefined, { accept });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-ph5-dtype'], 'int64', accept);
    assert.equal(res.headers['x-ph5-shape'], '2', accept);
    const head = await api.app.inject({ method: 'HEAD', url: '/v1/files/odd.h5/datasets/edge/value', headers: { accept } });
    assert.equal(head.headers['x-ph5-shape'], '4', `HEAD ${accept}`);
  }
  const edge = await inject('GET', '/v1/files/odd.h5/datasets/edge/value');
  assert.deepEqual(edge.json().data, [9007199254740991, '9007199254740992', -9007199254740991, '-9007199254740992']);
  assert.match(edge.body, /\[9007199254740991,"9007199254740992",-9007199254740991,"-9007199254740992"\]/);
  const uedge = await inject('GET', '/v1/files/odd.h5/datasets/uedge/value');
  assert.deepEqual(uedge.json().data, [9007199254740991, '9007199254740992', '18446744073709551615']);
});

test('a root attribute of a file that does not exist is 404 and creates nothing; one created by an accepted job takes it', async () => {
  const before = await readdir(dir);
  await assertRefusedCleanly(() => inject('PUT', '/v1/files/typo.h5/attributes/a', { value: 1 }), 404, 'PH5_ERR_NOT_FOUND', 'root attribute of no file');
  await assertRefusedCleanly(
    () => inject('POST', '/v1/jobs', { file: 'typo.h5', ops: [{ op: 'setAttribute', path: '/', name: 'a', value: 1 }] }),
    404,
    'PH5_ERR_NOT_FOUND',
    'batch: root attribute of no file',
  );
  assert.deepEqual(await readdir(dir), before, 'no file appeared');

  // A file that exists, whose creation is queued, or that a queued dataset or group creates.
  assert.equal((await inject('PUT', '/v1/files/odd.h5/attributes/a', { value: 1 })).statusCode, 202);
  assert.equal((await inject('PUT', '/v1/files/made.h5')).statusCode, 202);
  assert.equal((await inject('PUT', '/v1/files/made.h5/attributes/a', { value: 1 })).statusCode, 202);
  assert.equal((await inject('PUT', '/v1/files/made.h5')).statusCode, 409, 'its creation is already queued');
  assert.equal((await inject('POST', '/v1/files/viads.h5/datasets', { path: '/d', dtype: 'int8', shape: [2] })).statusCode, 202);
  assert.equal((await inject('PUT', '/v1/files/viads.h5/attributes/a', { value: 1 })).statusCode, 202);
  const both = await inject('POST', '/v1/jobs', {
    file: 'inbatch.h5',
    ops: [
      { op: 'createGroup', path: '/g' },
      { op: 'setAttribute', path: '/', name: 'a', value: 1 },
    ],
  });
  assert.equal(both.statusCode, 202, both.body);
  // A file deleted by an accepted job takes no root attribute either.
  assert.equal((await inject('DELETE', '/v1/files/odd.h5')).statusCode, 202);
  const gone = await inject('PUT', '/v1/files/odd.h5/attributes/b', { value: 1 });
  assert.equal(gone.statusCode, 404, gone.body);
});
