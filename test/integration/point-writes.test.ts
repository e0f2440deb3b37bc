/**
 * Point selections end to end (API + a 2-rank pool + h5py): point writes as a JSON body
 * {points, value} and as raw bytes with ?points=, shared among the ranks and written
 * collectively, into a contiguous dataset and into a gzip dataset h5py made whose chunks
 * are allocated incrementally (the chunk check covers the chunks the points touch); h5py
 * finds exactly the listed elements changed and nothing else; point reads give them back.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { runPh5 } from '../helpers/cli.js';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { workerEvents } from '../helpers/worker-events.js';

const run = promisify(execFile);
let stack: Stack;
let file: string;

before(async () => {
  // info: the worker logs the chunks it allocates for a write
  stack = await startStack({ ranks: 2, env: { PH5_LOG_LEVEL: 'info' } });
  file = stack.filePath('pts.h5');
  await mkdir(path.dirname(file), { recursive: true });
  const program = `
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], 'w') as f:
    f['grid'] = np.arange(42, dtype='<f8').reshape(6, 7)
    d = f.create_dataset('cz', shape=(20, 20), chunks=(5, 5), dtype='<i2', compression='gzip', fillvalue=-1)
    d[0:5, 0:5] = 7
    f['line'] = np.zeros(1000, dtype='<u4')
    f.create_dataset('names', data=['a', 'b', 'c', 'd', 'e'], dtype=h5py.string_dtype())
    f['pairs'] = np.zeros(4, dtype=[('x', '<i4'), ('y', '<f8')])
`;
  await run('/usr/bin/python3', ['-c', program, file], { env: { PATH: process.env.PATH } });
});
after(async () => {
  await stack?.stop();
});

test('point writes change exactly the listed elements, and point reads give them back', { timeout: 180_000 }, async () => {
  const api = client(stack.url);
  // JSON body, points in no particular order
  const gridPoints = [
    [5, 6],
    [0, 0],
    [3, 2],
    [1, 4],
    [2, 2],
  ];
  const grid = await api.accepted('PUT', '/v1/files/pts.h5/datasets/grid/value', { points: gridPoints, value: [-1, -2, -3, -4, -5] });
  assert.equal(grid.state, 'completed', JSON.stringify(grid.error));
  const op = grid.result.ops[0];
  assert.equal(op.collective, true, 'one collective write');
  assert.deepEqual(
    op.decomposition.map((d: { select: string }) => d.select),
    ['points[0:3]', 'points[3:5]'],
    'the list is shared among the ranks',
  );

  // into chunks h5py has not allocated (only chunk (0,0) exists): allocated, then written
  const czPoints = [
    [19, 19],
    [0, 1],
    [12, 7],
    [7, 12],
  ];
  const cz = await api.accepted('PUT', '/v1/files/pts.h5/datasets/cz/value', { points: czPoints, value: [100, 101, 102, 103] });
  assert.equal(cz.state, 'completed', JSON.stringify(cz.error));
  const allocated = workerEvents(stack.logs(), 'chunks-allocated').filter((e) => e.file.endsWith('/pts.h5') && e.path === '/cz');
  assert.ok(
    allocated.some((e) => e.count === 3),
    `the three chunks the points touch, found missing before the parallel write: ${JSON.stringify(allocated)}`,
  );

  // raw bytes with ?points= (1-D: plain indices)
  const lineIdx = [999, 0, 500, 3, 250];
  const bytes = Buffer.alloc(lineIdx.length * 4);
  lineIdx.forEach((_, i) => bytes.writeUInt32LE(1000 + i, i * 4));
  const line = await api.accepted('PUT', `/v1/files/pts.h5/datasets/line/value?points=${encodeURIComponent(JSON.stringify(lineIdx))}`, new Uint8Array(bytes));
  assert.equal(line.state, 'completed', JSON.stringify(line.error));

  const same = await h5py<Record<string, boolean | number>>(
    file,
    [
      "f = h5py.File(path, 'r')",
      "g = np.arange(42, dtype='f8').reshape(6, 7)",
      `for (i, j), v in zip(${JSON.stringify(gridPoints)}, [-1, -2, -3, -4, -5]): g[i, j] = v`,
      "c = np.full((20, 20), -1, 'i2'); c[0:5, 0:5] = 7",
      `for (i, j), v in zip(${JSON.stringify(czPoints)}, [100, 101, 102, 103]): c[i, j] = v`,
      "l = np.zeros(1000, 'u4')",
      `for i, v in zip(${JSON.stringify(lineIdx)}, range(1000, 1005)): l[i] = v`,
      "out = {'grid': bool(np.array_equal(f['grid'][()], g)), 'cz': bool(np.array_equal(f['cz'][()], c)), 'line': bool(np.array_equal(f['line'][()], l)), 'czChunks': f['cz'].id.get_num_chunks()}",
    ].join('\n'),
  );
  assert.deepEqual(same, { grid: true, cz: true, line: true, czChunks: 4 }, 'chunk (0,0) and the three the other points touch');

  const back = await api.call('POST', '/v1/files/pts.h5/datasets/grid/value/points', { points: [...gridPoints].reverse() });
  assert.equal(back.status, 200, JSON.stringify(back.json));
  assert.deepEqual(back.json.data, [-5, -4, -3, -2, -1]);
  const czBack = await api.call(
    'GET',
    `/v1/files/pts.h5/datasets/cz/value?points=${encodeURIComponent(
      JSON.stringify([
        [0, 1],
        [4, 4],
        [5, 5],
      ]),
    )}`,
  );
  assert.deepEqual(czBack.json.data, [101, 7, -1]);
});

test('point writes of variable-length strings (rank 0, serially) and of compounds; point reads of strings answer JSON', { timeout: 180_000 }, async () => {
  const api = client(stack.url);
  const names = await api.accepted('PUT', '/v1/files/pts.h5/datasets/names/value', { points: [[4], [1]], value: ['épée', 'xyz'] });
  assert.equal(names.state, 'completed', JSON.stringify(names.error));
  const pairs = await api.accepted('PUT', '/v1/files/pts.h5/datasets/pairs/value', {
    points: [[3], [0]],
    value: [
      { x: 3, y: 0.5 },
      { x: -1, y: 2.5 },
    ],
  });
  assert.equal(pairs.state, 'completed', JSON.stringify(pairs.error));
  const out = await h5py<unknown>(
    file,
    "f = h5py.File(path, 'r'); out = [[s.decode() for s in f['names'][()]], [[int(r['x']), float(r['y'])] for r in f['pairs'][()]]]",
  );
  assert.deepEqual(out, [
    ['a', 'xyz', 'c', 'd', 'épée'],
    [
      [-1, 2.5],
      [0, 0],
      [0, 0],
      [3, 0.5],
    ],
  ]);
  const back = await api.call('POST', '/v1/files/pts.h5/datasets/names/value/points', { points: [4, 0, 4] });
  assert.equal(back.status, 200, JSON.stringify(back.json));
  assert.deepEqual(back.json.data, ['épée', 'a', 'épée']);
  const raw = await fetch(`${stack.url}/v1/files/pts.h5/datasets/names/value?points=[1]`, { headers: { accept: 'application/octet-stream' } });
  assert.equal(raw.status, 406);
  assert.deepEqual((await api.call('GET', `/v1/files/pts.h5/datasets/pairs/value?points=${encodeURIComponent('[[3]]')}`)).json.data, [{ x: 3, y: 0.5 }]);
});

test('the CLI writes raw bytes and reads JSON at --points', { timeout: 120_000 }, async () => {
  const values = Buffer.alloc(8);
  values.writeUInt32LE(77, 0);
  values.writeUInt32LE(88, 4);
  const put = await runPh5(stack.url, '', ['put', 'pts.h5:/line', '-', '--dtype', '<u4', '--points', '[[10],[20]]'], { stdin: values });
  assert.equal(put.code, 0, put.stderr);
  const got = await runPh5(stack.url, '', ['get', 'pts.h5:/line', '--points', '[20, 10, 11]']);
  assert.equal(got.code, 0, got.stderr);
  assert.deepEqual(JSON.parse(got.stdout), [88, 77, 0]);
  const missing = await runPh5(stack.url, '', ['put', 'pts.h5:/nope', '-', '--dtype', '<u4', '--shape', '2', '--points', '[[0]]'], { stdin: values });
  assert.equal(missing.code, 2, 'usage: --points needs an existing dataset');
});
