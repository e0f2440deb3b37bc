/**
 * The HDF5 object model through the API on a live stack (2 real ranks), each result checked
 * by h5py: groups (with parents) and their listing, attributes of every kind on the file,
 * a group and a dataset, compressed datasets, resizing, deleting datasets and groups, the
 * file tree and the file list.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { client } from '../helpers/client.js';
import { h5dump, h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
let api: ReturnType<typeof client>;
before(async () => {
  stack = await startStack({ ranks: 2 });
  api = client(stack.url);
});
after(async () => {
  await stack?.stop();
});

const file = () => path.join(stack.dataDir, 'default', 'model.h5');
const ok = async (method: string, url: string, body?: unknown) => {
  const job = await api.accepted(method, url, body);
  assert.equal(job.state, 'completed', `${method} ${url}: ${JSON.stringify(job.error)}`);
  return job;
};

test('groups with parents, and attributes of every kind on the file, a group and a dataset', { timeout: 120_000 }, async () => {
  await ok('POST', '/v1/files/model.h5/groups', { path: '/run1/raw' });
  await ok('POST', '/v1/files/model.h5/datasets', { path: '/run1/raw/t', dtype: 'float32', shape: [6] });
  const again = await api.call('POST', '/v1/files/model.h5/groups', { path: '/run1' });
  assert.equal(again.status, 409);

  await ok('PUT', '/v1/files/model.h5/attributes/title', { value: 'Run 1 — ünïcode' });
  await ok('PUT', '/v1/files/model.h5/groups/run1/attributes/temperature', { value: 273.15 });
  await ok('PUT', '/v1/files/model.h5/groups/run1/attributes/counts', {
    value: [
      [1, 2],
      [3, 4],
    ],
    dtype: 'uint16',
  });
  await ok('PUT', `/v1/files/model.h5/datasets/${encodeURIComponent('run1/raw/t')}/attributes/units`, { value: ['K', 'kelvin'] });
  await ok('PUT', `/v1/files/model.h5/datasets/${encodeURIComponent('run1/raw/t')}/attributes/valid`, { value: true });
  await ok('PUT', '/v1/files/model.h5/groups/run1/attributes/temperature', { value: 44, dtype: 'int8' }); // replaced, with another dtype

  const seen = await h5py<Record<string, unknown>>(
    file(),
    `f = h5py.File(path, 'r')
g = f['run1']; d = f['run1/raw/t']
out = {
  'title': [f.attrs['title'], str(h5py.check_string_dtype(f.attrs.get_id('title').dtype))],
  'temperature': [int(g.attrs['temperature']), g.attrs['temperature'].dtype.str],
  'counts': [g.attrs['counts'].tolist(), g.attrs['counts'].dtype.str],
  'units': [list(d.attrs['units']), str(h5py.check_string_dtype(d.attrs.get_id('units').dtype))],
  'valid': [bool(d.attrs['valid']), d.attrs['valid'].dtype.str],
  'members': sorted(f['run1'].keys()),
}`,
  );
  assert.deepEqual(seen.title, ['Run 1 — ünïcode', "string_info(encoding='utf-8', length=None)"]);
  assert.deepEqual(seen.temperature, [44, '|i1']);
  assert.deepEqual(seen.counts, [
    [
      [1, 2],
      [3, 4],
    ],
    '<u2',
  ]);
  assert.deepEqual(seen.units, [['K', 'kelvin'], "string_info(encoding='utf-8', length=None)"]);
  assert.deepEqual(seen.valid, [true, '|b1']);
  assert.deepEqual(seen.members, ['raw']);

  // Reading them back through the API.
  const attrs = await api.call('GET', '/v1/files/model.h5/groups/run1/attributes');
  assert.equal(attrs.status, 200);
  assert.deepEqual(attrs.json.attributes.map((a: any) => [a.name, a.dtype, a.shape, a.value]).sort(), [
    [
      'counts',
      'uint16',
      [2, 2],
      [
        [1, 2],
        [3, 4],
      ],
    ],
    ['temperature', 'int8', [], 44],
  ]);
  const title = await api.call('GET', '/v1/files/model.h5/attributes/title');
  assert.deepEqual(title.json, { name: 'title', dtype: 'str', shape: [], value: 'Run 1 — ünïcode' });
  const group = await api.call('GET', '/v1/files/model.h5/groups/run1');
  assert.deepEqual(group.json, { path: '/run1', state: 'ready', members: [{ name: 'raw', kind: 'group' }], attributes: ['counts', 'temperature'] });

  await ok('DELETE', '/v1/files/model.h5/groups/run1/attributes/counts');
  assert.equal((await api.call('GET', '/v1/files/model.h5/groups/run1/attributes/counts')).status, 404);
  assert.deepEqual(await h5py(file(), "out = sorted(h5py.File(path, 'r')['run1'].attrs.keys())"), ['temperature']);

  // Too large, bad names, unknown objects: refused up front.
  const big = await api.call('PUT', '/v1/files/model.h5/attributes/big', { value: Array(20000).fill(1.5) });
  assert.equal(big.status, 413);
  assert.equal(big.json.code, 'PH5_ERR_ATTRIBUTE_TOO_LARGE');
  assert.equal((await api.call('PUT', '/v1/files/model.h5/groups/nope/attributes/a', { value: 1 })).status, 404);
  assert.equal((await api.call('PUT', '/v1/files/model.h5/datasets/run1/attributes/a', { value: 1 })).status, 404, 'run1 is a group, not a dataset');
});

test('compressed datasets, resize, delete; the tree and the file list show the result', { timeout: 120_000 }, async () => {
  await ok('POST', '/v1/files/model.h5/datasets', {
    path: '/z',
    dtype: 'int32',
    shape: [1000],
    maxshape: [null],
    compression: 'gzip',
    compressionLevel: 6,
    shuffle: true,
  });
  const values = Array.from({ length: 1000 }, (_, i) => i % 7);
  await ok('PUT', '/v1/files/model.h5/datasets/z/value', values);
  const info = await api.call('GET', '/v1/files/model.h5/datasets/z');
  assert.equal(info.json.compression, 'gzip');
  assert.equal(info.json.compressionLevel, 6);
  assert.equal(info.json.shuffle, true);
  assert.equal(info.json.layout, 'chunked');

  // Grow, and write the new rows right after (accepted against the new shape at once).
  const grow = await api.call('PUT', '/v1/files/model.h5/datasets/z/shape', { shape: [1500] });
  assert.equal(grow.status, 202);
  await ok('PUT', '/v1/files/model.h5/datasets/z/value?select=[1000:1500]', Array(500).fill(-1));
  const z = await h5py<any>(
    file(),
    "d = h5py.File(path, 'r')['z']\nout = [d.shape, d.maxshape, d.compression, d.compression_opts, d.shuffle, int(d[999]), int(d[1000]), int(d[:].sum())]",
  );
  assert.deepEqual(z, [[1500], [null], 'gzip', 6, true, 999 % 7, -1, values.reduce((a, b) => a + b, 0) - 500]);
  const tooBig = await api.call('PUT', '/v1/files/model.h5/datasets/z/shape', { shape: [10, 10] });
  assert.equal(tooBig.status, 400);

  // Delete a dataset: gone at once for the API, and from the file when the job ran.
  const del = await api.call('DELETE', '/v1/files/model.h5/datasets/z');
  assert.equal(del.status, 202);
  assert.equal((await api.call('GET', '/v1/files/model.h5/datasets/z')).status, 404);
  assert.equal((await api.waitJob(del.headers.get('location')!)).state, 'completed');
  assert.deepEqual(await h5py(file(), "out = 'z' in h5py.File(path, 'r')"), false);
  // ...and the name can be used again.
  await ok('POST', '/v1/files/model.h5/datasets', { path: '/z', dtype: 'int8', shape: [2] });

  const tree = await api.call('GET', '/v1/files/model.h5');
  assert.equal(tree.status, 200);
  assert.equal(tree.json.truncated, false);
  const paths: string[] = [];
  const walk = (n: any) => {
    paths.push(`${n.kind}:${n.path}${n.dtype ? `:${n.dtype}${JSON.stringify(n.shape)}` : ''}`);
    (n.children ?? []).forEach(walk);
  };
  walk(tree.json.tree);
  assert.deepEqual(paths, ['group:/', 'group:/run1', 'group:/run1/raw', 'dataset:/run1/raw/t:float32[6]', 'dataset:/z:int8[2]']);
  assert.deepEqual(tree.json.tree.attributes, ['title']);

  await ok('DELETE', '/v1/files/model.h5/groups/run1');
  assert.equal((await api.call('GET', `/v1/files/model.h5/datasets/${encodeURIComponent('run1/raw/t')}`)).status, 404);
  assert.match(await h5dump(file(), ['-n']), /dataset\s+\/z/);
  assert.doesNotMatch(await h5dump(file(), ['-n']), /run1/);

  await ok('PUT', '/v1/files/empty.h5');
  const list = await api.call('GET', '/v1/files');
  assert.deepEqual(
    list.json.files.map((f: any) => f.name),
    ['empty.h5', 'model.h5'],
  );
  assert.ok(list.json.files.every((f: any) => f.size > 0 && !Number.isNaN(Date.parse(f.modified))));
  assert.equal((await api.call('PUT', '/v1/files/empty.h5')).status, 409);
});
