/**
 * The append idiom end to end (API + a 2-rank pool + h5py): a dataset created empty with an
 * unlimited maxshape, then grown a block at a time (resize, write the new rows), with empty
 * writes along the way; datasets made empty by h5py (maxshape=(None,), its default chunks
 * allocated incrementally) read empty and appended to by ph5; and the CLI putting an empty
 * .npy and getting empty answers. h5py reads every result.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { runPh5 } from '../helpers/cli.js';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';

const run = promisify(execFile);
let stack: Stack;
let tmp: string;

before(async () => {
  stack = await startStack({ ranks: 2 });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ph5-append-'));
});
after(async () => {
  await stack?.stop();
  await rm(tmp, { recursive: true, force: true });
});

test('create empty, then resize and write block after block: h5py reads the appended rows', { timeout: 180_000 }, async () => {
  const api = client(stack.url);
  const log = await api.accepted('POST', '/v1/files/app.h5/datasets', { path: '/log', dtype: 'float64', shape: [0], maxshape: [null] });
  assert.equal(log.state, 'completed', JSON.stringify(log.error));
  const table = await api.accepted('POST', '/v1/files/app.h5/datasets', {
    path: '/table',
    dtype: '>i4',
    shape: [0, 3],
    maxshape: [null, 3],
    chunks: [4, 3],
    compression: 'gzip',
  });
  assert.equal(table.state, 'completed', JSON.stringify(table.error));
  const flat = await api.accepted('POST', '/v1/files/app.h5/datasets', { path: '/flat', dtype: 'int8', shape: [0] });
  assert.equal(flat.state, 'completed', JSON.stringify(flat.error));

  // Empty, as written: metadata and values.
  const meta = await api.call('GET', '/v1/files/app.h5/datasets/log');
  assert.deepEqual([meta.json.shape, meta.json.maxshape, meta.json.state], [[0], [null], 'ready']);
  assert.deepEqual((await api.call('GET', '/v1/files/app.h5/datasets/log/value')).json.data, []);
  assert.deepEqual((await api.call('GET', '/v1/files/app.h5/datasets/table/value')).json, { dtype: '>i4', shape: [0, 3], data: [] });
  assert.deepEqual((await api.call('GET', '/v1/files/app.h5/datasets/flat/value')).json.data, []);

  let n = 0;
  for (const k of [3, 5, 1]) {
    const grown = await api.accepted('PUT', '/v1/files/app.h5/datasets/log/shape', { shape: [n + k] });
    assert.equal(grown.state, 'completed', JSON.stringify(grown.error));
    const wrote = await api.accepted(
      'PUT',
      `/v1/files/app.h5/datasets/log/value?select=[${n}:${n + k}]`,
      Array.from({ length: k }, (_, i) => (n + i) / 2),
    );
    assert.equal(wrote.state, 'completed', JSON.stringify(wrote.error));
    // an empty write at the end (nothing new yet): a job that completes and changes nothing
    const nothing = await api.accepted('PUT', `/v1/files/app.h5/datasets/log/value?select=[${n + k}:${n + k}]`, []);
    assert.equal(nothing.state, 'completed', JSON.stringify(nothing.error));
    // rows of the table as raw big-endian bytes, accepted before the resize job has run
    const resize = await api.call('PUT', '/v1/files/app.h5/datasets/table/shape', { shape: [n + k, 3] });
    assert.equal(resize.status, 202, JSON.stringify(resize.json));
    const bytes = Buffer.alloc(k * 3 * 4);
    for (let i = 0; i < k * 3; i++) bytes.writeInt32BE(n * 3 + i, i * 4);
    const rows = await api.accepted('PUT', `/v1/files/app.h5/datasets/table/value?select=[${n}:${n + k},:]`, new Uint8Array(bytes));
    assert.equal(rows.state, 'completed', JSON.stringify(rows.error));
    n += k;
  }
  // zero raw bytes into an empty selection of a non-empty dataset
  const zero = await api.accepted('PUT', '/v1/files/app.h5/datasets/table/value?select=[2:2,:]', new Uint8Array(0));
  assert.equal(zero.state, 'completed', JSON.stringify(zero.error));
  assert.equal(zero.result.ops[0].bytes, 0);

  assert.deepEqual(
    (await api.call('GET', '/v1/files/app.h5/datasets/log/value')).json.data,
    Array.from({ length: 9 }, (_, i) => i / 2),
  );
  const out = await h5py<Record<string, unknown>>(
    stack.filePath('app.h5'),
    [
      "f = h5py.File(path, 'r')",
      "l, t, fl = f['log'], f['table'], f['flat']",
      'out = {',
      "  'log': [list(l.shape), list(l.maxshape), bool(np.array_equal(l[()], np.arange(9) / 2))],",
      "  'table': [list(t.shape), list(t.maxshape), t.dtype.str, t.compression, bool(np.array_equal(t[()], np.arange(27).reshape(9, 3)))],",
      "  'flat': [list(fl.shape), fl.chunks],",
      '}',
    ].join('\n'),
  );
  assert.deepEqual(out, { log: [[9], [null], true], table: [[9, 3], [null, 3], '>i4', 'gzip', true], flat: [[0], null] });
});

test('datasets h5py made empty (maxshape=(None,), default chunks) read empty and are appended to by ph5', { timeout: 180_000 }, async () => {
  const api = client(stack.url);
  const file = stack.filePath('h5py-empty.h5');
  await mkdir(path.dirname(file), { recursive: true });
  const program = `
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], 'w') as f:
    f.create_dataset('ids', shape=(0,), maxshape=(None,), dtype='<i8')
    f.create_dataset('xy', shape=(0, 2), maxshape=(None, 2), dtype='<f4', compression='gzip')
`;
  await run('/usr/bin/python3', ['-c', program, file], { env: { PATH: process.env.PATH } });
  assert.deepEqual((await api.call('GET', '/v1/files/h5py-empty.h5/datasets/ids/value')).json, { dtype: 'int64', shape: [0], data: [] });
  const raw = await fetch(`${stack.url}/v1/files/h5py-empty.h5/datasets/xy/value`, { headers: { accept: 'application/octet-stream' } });
  assert.equal(raw.status, 200);
  assert.equal(raw.headers.get('x-ph5-shape'), '0,2');
  assert.equal((await raw.arrayBuffer()).byteLength, 0);

  for (const [dset, shape, select, value] of [
    ['ids', [4], '[0:4]', [10, 11, 12, 13]],
    ['ids', [6], '[4:6]', [14, 15]],
    [
      'xy',
      [3, 2],
      '[0:3,:]',
      [
        [0, 0.5],
        [1, 1.5],
        [2, 2.5],
      ],
    ],
  ] as const) {
    const grown = await api.accepted('PUT', `/v1/files/h5py-empty.h5/datasets/${dset}/shape`, { shape });
    assert.equal(grown.state, 'completed', JSON.stringify(grown.error));
    const wrote = await api.accepted('PUT', `/v1/files/h5py-empty.h5/datasets/${dset}/value?select=${select}`, value);
    assert.equal(wrote.state, 'completed', JSON.stringify(wrote.error));
  }
  const out = await h5py<unknown>(file, "f = h5py.File(path, 'r'); out = [f['ids'][()].tolist(), list(f['ids'].maxshape), f['xy'][()].tolist()]");
  assert.deepEqual(out, [
    [10, 11, 12, 13, 14, 15],
    [null],
    [
      [0, 0.5],
      [1, 1.5],
      [2, 2.5],
    ],
  ]);
});

test('the CLI puts an empty .npy (creating an empty dataset) and gets empty answers as JSON, .npy and raw', { timeout: 120_000 }, async () => {
  const src = path.join(tmp, 'empty.npy');
  await run('/usr/bin/python3', ['-c', 'import sys, numpy as np; np.save(sys.argv[1], np.zeros((0, 4), dtype="<u2"))', src]);
  const put = await runPh5(stack.url, '', ['put', 'cli-empty.h5:/e', src]);
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stdout, /^job \S+ completed$/m);
  const json = await runPh5(stack.url, '', ['get', 'cli-empty.h5:/e']);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), []);
  const npy = path.join(tmp, 'back.npy');
  assert.equal((await runPh5(stack.url, '', ['get', 'cli-empty.h5:/e', '-o', npy, '--quiet'])).code, 0);
  const { stdout } = await run('/usr/bin/python3', [
    '-c',
    'import sys, json, numpy as np; a = np.load(sys.argv[1]); print(json.dumps([list(a.shape), a.dtype.str]))',
    npy,
  ]);
  assert.deepEqual(JSON.parse(stdout), [[0, 4], '<u2']);
  const bin = path.join(tmp, 'back.bin');
  const got = await runPh5(stack.url, '', ['get', 'cli-empty.h5:/e', '-o', bin, '--json']);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(JSON.parse(got.stdout).shape, '0,4');
  assert.equal((await readFile(bin)).length, 0);
});
