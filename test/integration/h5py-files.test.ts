/**
 * Files users bring: datasets made by h5py with its defaults (chunks allocated
 * incrementally, contiguous storage allocated late, filters, fill values) are written
 * through the API by a 4-rank pool, and the result read back with h5py must equal numpy's.
 * Before ph5 allocated missing chunks itself, these writes failed late (MPI_File_set_view:
 * invalid datatype) or hung every rank inside H5Dwrite.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { client } from '../helpers/client.js';
import { h5dump, h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';

const run = promisify(execFile);

let stack: Stack;
before(async () => {
  stack = await startStack({ ranks: 4 });
});
after(async () => {
  await stack?.stop();
});

/** Makes a file with serial h5py (as a user would, outside ph5): `f` is the open file. */
async function makeWithH5py(name: string, snippet: string): Promise<string> {
  const file = stack.filePath(name);
  await mkdir(path.dirname(file), { recursive: true });
  const program = ['import sys, h5py, numpy as np', "f = h5py.File(sys.argv[1], 'w')", snippet, 'f.close()'].join('\n');
  // A plain environment: Debian's h5py must load its serial build here.
  await run('/usr/bin/python3', ['-c', program, file], { env: { PATH: process.env.PATH } });
  return file;
}

const rows = (n: number, from: number) => Array.from({ length: n }, (_, i) => Array.from({ length: 10 }, (_, j) => from + i * 10 + j));

test('writes into chunks h5py has not allocated yet (incremental allocation, fill value)', { timeout: 180_000 }, async () => {
  const api = client(stack.url);
  const file = await makeWithH5py(
    'incr.h5',
    "d = f.create_dataset('a', (12, 10), 'f4', chunks=(4, 5), maxshape=(None, 10), fillvalue=-1)\nd[0:4] = np.arange(40, dtype='f4').reshape(4, 10)",
  );
  // Four ranks, one row each; then a single row (three ranks with nothing to write).
  const four = await api.accepted('PUT', '/v1/files/incr.h5/datasets/a/value?select=[8:12,:]', rows(4, 1000));
  assert.equal(four.state, 'completed', JSON.stringify(four.error));
  const one = await api.accepted('PUT', '/v1/files/incr.h5/datasets/a/value?select=[9,:]', rows(1, 5000)[0]);
  assert.equal(one.state, 'completed', JSON.stringify(one.error));
  // Row 4's chunks were never written: a write into [5:7] of one chunk column only.
  const half = await api.accepted(
    'PUT',
    '/v1/files/incr.h5/datasets/a/value?select=[5:7,0:5]',
    rows(2, 7000).map((r) => r.slice(0, 5)),
  );
  assert.equal(half.state, 'completed', JSON.stringify(half.error));

  const expected = await h5py<boolean>(
    file,
    [
      "a = h5py.File(path, 'r')['a'][()]",
      "e = np.full((12, 10), -1, 'f4'); e[0:4] = np.arange(40).reshape(4, 10)",
      'e[8:12] = 1000 + np.arange(40).reshape(4, 10); e[9] = 5000 + np.arange(10)',
      'e[5:7, 0:5] = (7000 + np.arange(20).reshape(2, 10))[:, 0:5]',
      'out = bool((a == e).all())',
    ].join('\n'),
  );
  assert.equal(expected, true, 'the file equals the same writes applied with numpy');
});

test('a gzip+shuffle dataset made by h5py, extended through the API, then written one row at a time', { timeout: 180_000 }, async () => {
  const api = client(stack.url);
  const file = await makeWithH5py(
    'gz.h5',
    "d = f.create_dataset('a', (12, 10), 'f4', chunks=(4, 5), maxshape=(None, 10), fillvalue=-1, compression='gzip', shuffle=True)\nd[:] = np.arange(120, dtype='f4').reshape(12, 10)",
  );
  const resized = await api.accepted('PUT', '/v1/files/gz.h5/datasets/a/shape', { shape: [14, 10] });
  assert.equal(resized.state, 'completed', JSON.stringify(resized.error));
  const last = await api.accepted('PUT', '/v1/files/gz.h5/datasets/a/value?select=[13,:]', rows(1, 900)[0]);
  assert.equal(last.state, 'completed', JSON.stringify(last.error));
  const same = await h5py<boolean>(
    file,
    [
      "a = h5py.File(path, 'r')['a'][()]",
      "e = np.full((14, 10), -1, 'f4'); e[0:12] = np.arange(120).reshape(12, 10); e[13] = 900 + np.arange(10)",
      'out = bool((a == e).all())',
    ].join('\n'),
  );
  assert.equal(same, true);
  await h5dump(file, ['-d', '/a']); // every chunk inflates
});

test('a large binary write across many missing gzip chunks, on every rank', { timeout: 180_000 }, async () => {
  const api = client(stack.url);
  const file = await makeWithH5py(
    'big.h5',
    "d = f.create_dataset('d2', (4096, 64), 'f8', chunks=(256, 16), compression='gzip', compression_opts=1, maxshape=(None, 64))\nd[0:256] = 1.5",
  );
  const values = new Float64Array(4096 * 64).map((_, i) => i * 0.25);
  const job = await api.accepted('PUT', '/v1/files/big.h5/datasets/d2/value', new Uint8Array(values.buffer));
  assert.equal(job.state, 'completed', JSON.stringify(job.error));
  const same = await h5py<boolean>(file, "out = bool((h5py.File(path, 'r')['d2'][()] == np.arange(4096 * 64).reshape(4096, 64) * 0.25).all())");
  assert.equal(same, true);
});

test('contiguous storage h5py allocates late, and a chunked dataset with no chunk at all', { timeout: 180_000 }, async () => {
  const api = client(stack.url);
  const file = await makeWithH5py('late.h5', "f.create_dataset('c', (12, 10), 'f4')\nf.create_dataset('e', (12, 10), 'i2', chunks=(5, 5), fillvalue=7)");
  assert.equal((await api.accepted('PUT', '/v1/files/late.h5/datasets/c/value?select=[8:12,:]', rows(4, 0))).state, 'completed');
  assert.equal((await api.accepted('PUT', '/v1/files/late.h5/datasets/e/value?select=[11,:]', rows(1, 0)[0])).state, 'completed');
  const same = await h5py<boolean>(
    file,
    [
      "f = h5py.File(path, 'r')",
      "c = np.zeros((12, 10), 'f4'); c[8:12] = np.arange(40).reshape(4, 10)",
      "e = np.full((12, 10), 7, 'i2'); e[11] = np.arange(10)",
      "out = bool((f['c'][()] == c).all() and (f['e'][()] == e).all())",
    ].join('\n'),
  );
  assert.equal(same, true);
});

test('a write into a compact dataset is refused at acceptance (409 PH5_ERR_LAYOUT), and the file is unchanged', { timeout: 180_000 }, async () => {
  const api = client(stack.url);
  const file = await makeWithH5py(
    'compact.h5',
    [
      'sp = h5py.h5s.create_simple((12, 10))',
      'pl = h5py.h5p.create(h5py.h5p.DATASET_CREATE); pl.set_layout(h5py.h5d.COMPACT)',
      "h5py.h5d.create(f.id, b'k', h5py.h5t.IEEE_F32LE, sp, pl).write(h5py.h5s.ALL, h5py.h5s.ALL, np.ones((12, 10), 'f4'))",
    ].join('\n'),
  );
  // Refused at acceptance (it used to be accepted, then failed late by the pool).
  const r = await api.call('PUT', '/v1/files/compact.h5/datasets/k/value?select=[8:12,:]', rows(4, 0));
  assert.equal(r.status, 409, JSON.stringify(r.json));
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(r.json.code, 'PH5_ERR_LAYOUT');
  const batch = await api.call('POST', '/v1/jobs', { file: 'compact.h5', ops: [{ op: 'write', path: '/k', select: '[0,:]', value: rows(1, 0)[0] }] });
  assert.equal(batch.status, 409, JSON.stringify(batch.json));
  assert.equal(batch.json.code, 'PH5_ERR_LAYOUT');
  const ones = await h5py<boolean>(file, "out = bool((h5py.File(path, 'r')['k'][()] == 1).all())");
  assert.equal(ones, true);
});

test('a write into a virtual dataset is refused at acceptance (409 PH5_ERR_LAYOUT), and its source is unchanged', { timeout: 180_000 }, async () => {
  const api = client(stack.url);
  const file = await makeWithH5py(
    'virtual.h5',
    [
      "src = f.create_dataset('src', data=np.ones((12, 10), 'f4'))",
      "layout = h5py.VirtualLayout(shape=(12, 10), dtype='f4'); layout[:] = h5py.VirtualSource(src)",
      "f.create_virtual_dataset('v', layout)",
    ].join('\n'),
  );
  const r = await api.call('PUT', '/v1/files/virtual.h5/datasets/v/value?select=[0,:]', rows(1, 0)[0]);
  assert.equal(r.status, 409, JSON.stringify(r.json));
  assert.equal(r.json.code, 'PH5_ERR_LAYOUT');
  const info = await api.call('GET', '/v1/files/virtual.h5/datasets/v');
  assert.equal(info.json.layout, 'virtual', JSON.stringify(info.json));
  assert.equal(await h5py<boolean>(file, "out = bool((h5py.File(path, 'r')['src'][()] == 1).all())"), true);
});
