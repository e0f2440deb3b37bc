/**
 * Writes no pool can perform are refused at acceptance: a dataset with a compact layout
 * (made here by serial h5py's low-level API) takes no write, whatever the body (JSON,
 * raw bytes, .npy, a batch), with 409 application/problem+json PH5_ERR_LAYOUT; nothing is
 * staged, no job is queued, the file's bytes are unchanged. Before, such a write was
 * accepted and the pool failed it late with PH5_ERR_LAYOUT.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { layoutRefusal } from '../../services/api/domain/datasets.js';
import { startApi, type TestApi } from '../helpers/api.js';

const run = promisify(execFile);
let api: TestApi;
let file: string;

before(async () => {
  api = await startApi();
  file = path.join(api.config.dataDir, 'default', 'compact.h5');
  await mkdir(path.dirname(file), { recursive: true });
  const program = [
    'import sys, h5py, numpy as np',
    "f = h5py.File(sys.argv[1], 'w')",
    'sp = h5py.h5s.create_simple((12, 10))',
    'pl = h5py.h5p.create(h5py.h5p.DATASET_CREATE); pl.set_layout(h5py.h5d.COMPACT)',
    "h5py.h5d.create(f.id, b'k', h5py.h5t.IEEE_F32LE, sp, pl).write(h5py.h5s.ALL, h5py.h5s.ALL, np.ones((12, 10), 'f4'))",
    "f.create_dataset('c', (12, 10), 'f4')",
    'f.close()',
  ].join('\n');
  // A plain environment: Debian's h5py loads its serial build.
  await run('/usr/bin/python3', ['-c', program, file], { env: { PATH: process.env.PATH } });
});
after(async () => {
  await api?.stop();
});

const digest = async () =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
const npy = (count: number) => {
  const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + count + ',), }';
  const padded = header.padEnd(118, ' ') + '\n';
  const head = Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0]), Buffer.from([padded.length, 0]), Buffer.from(padded)]);
  return Buffer.concat([head, Buffer.alloc(count * 4)]);
};

test('layoutRefusal: compact and virtual are refused with 409 PH5_ERR_LAYOUT, contiguous and chunked pass', () => {
  const table: Array<[string, number | null]> = [
    ['contiguous', null],
    ['chunked', null],
    ['compact', 409],
    ['virtual', 409],
  ];
  for (const [layout, status] of table) {
    const err = layoutRefusal({ layout } as never, '/k', 'f.h5');
    assert.equal(err?.statusCode ?? null, status, layout);
    if (err) assert.equal(err.code, 'PH5_ERR_LAYOUT', layout);
  }
});

test('every kind of write into a compact dataset is refused before it is queued, and changes nothing', async () => {
  const before = await digest();
  const jobsBefore = await api.jobCount();
  const info = await api.app.inject({ method: 'GET', url: '/v1/files/compact.h5/datasets/k' });
  assert.equal(info.json().layout, 'compact', info.body);

  const rows = Array.from({ length: 4 }, () => Array(10).fill(2));
  const requests = [
    { name: 'JSON', method: 'PUT' as const, url: '/v1/files/compact.h5/datasets/k/value?select=[8:12,:]', payload: rows },
    {
      name: 'raw bytes',
      method: 'PUT' as const,
      url: '/v1/files/compact.h5/datasets/k/value',
      payload: Buffer.alloc(480),
      headers: { 'content-type': 'application/octet-stream' },
    },
    { name: '.npy', method: 'PUT' as const, url: '/v1/files/compact.h5/datasets/k/value', payload: npy(120), headers: { 'content-type': 'application/x-npy' } },
    {
      name: 'batch',
      method: 'POST' as const,
      url: '/v1/jobs',
      payload: {
        file: 'compact.h5',
        ops: [
          { op: 'createGroup', path: '/g' },
          { op: 'write', path: '/k', select: '[0,:]', value: Array(10).fill(3) },
        ],
      },
    },
  ];
  for (const r of requests) {
    const res = await api.app.inject(r);
    assert.equal(res.statusCode, 409, `${r.name}: ${res.body}`);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/, r.name);
    const problem = res.json();
    assert.equal(problem.code, 'PH5_ERR_LAYOUT', r.name);
    assert.match(problem.detail, /compact layout/, r.name);
    if (r.name === 'batch') assert.match(problem.detail, /^ops\[1\]: /);
  }
  assert.equal(await api.jobCount(), jobsBefore, 'no job queued');
  assert.deepEqual(
    (await api.staged()).filter((n) => !n.startsWith('.')),
    [],
    'nothing staged',
  );
  assert.equal(await digest(), before, 'the file is unchanged');
  // The batch's group was not claimed either: creating it now is accepted.
  const group = await api.app.inject({ method: 'POST', url: '/v1/files/compact.h5/groups', payload: { path: '/g' } });
  assert.equal(group.statusCode, 202, group.body);

  // The contiguous dataset beside it takes the same write.
  const ok = await api.app.inject({ method: 'PUT', url: '/v1/files/compact.h5/datasets/c/value?select=[8:12,:]', payload: rows });
  assert.equal(ok.statusCode, 202, ok.body);
});
