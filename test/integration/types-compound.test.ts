/**
 * Compound types (numpy structured dtypes) with Debian's h5py, both directions, through the
 * real API and a 2-rank pool: ph5 writes a compound dataset (JSON objects and rows, packed
 * binary records in either byte order, a structured .npy) and a compound attribute, and
 * h5py reads the same records and the same numpy dtype; h5py writes structured arrays
 * (padded, nested, with array fields) and ph5 answers them as JSON objects, as the same
 * bytes, as a .npy numpy loads, and in the file listing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { getBytes, makeWithH5py, npySave, numpyBytes, putBytes, withNumpy } from '../helpers/numpy.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
before(async () => {
  stack = await startStack({ ranks: 2 });
});
after(async () => {
  await stack?.stop();
});

/** numpy's spelling of the compound the tests create through the API. */
const NUMPY_REC = "np.dtype([('x', '<f8'), ('v', '<f4', (3,)), ('n', '<i2')])";
const REC = {
  fields: [
    { name: 'x', dtype: 'float64' },
    { name: 'v', dtype: 'float32', shape: [3] },
    { name: 'n', dtype: 'int16' },
  ],
};

test(
  'ph5 writes compound records (JSON objects and rows, binary LE and BE, .npy) and a compound attribute; h5py reads the same',
  { timeout: 120_000 },
  async () => {
    const api = client(stack.url);
    const created = await api.accepted('POST', '/v1/files/c.h5/datasets', { path: '/rec', dtype: REC, shape: [6], fillValue: { x: -1, v: [0, 0, 0], n: 7 } });
    assert.equal(created.state, 'completed', JSON.stringify(created.error));
    // Canonical spec: every offset and the itemsize.
    const info = await api.call('GET', '/v1/files/c.h5/datasets/rec');
    assert.equal(info.status, 200, JSON.stringify(info.json));
    assert.deepEqual(info.json.dtype, {
      fields: [
        { name: 'x', dtype: 'float64', offset: 0 },
        { name: 'v', dtype: 'float32', shape: [3], offset: 8 },
        { name: 'n', dtype: 'int16', offset: 20 },
      ],
      itemsize: 22,
    });
    assert.deepEqual(info.json.fillValue, { x: -1, v: [0, 0, 0], n: 7 });

    // JSON: an object and a row in field order.
    const json = await api.accepted('PUT', '/v1/files/c.h5/datasets/rec/value?select=[0:2]', [{ x: 1.5, v: [1, 2, 3], n: 1 }, [2.5, [4, 5, 6], 2]]);
    assert.equal(json.state, 'completed', JSON.stringify(json.error));
    // Binary, little-endian records as numpy packs them.
    const le = await putBytes(
      `${stack.url}/v1/files/c.h5/datasets/rec/value?select=[2:3]`,
      await numpyBytes(`np.array([(3.5, [7, 8, 9], -3)], dtype=${NUMPY_REC})`),
      'application/octet-stream',
    );
    assert.equal(le.status, 202, JSON.stringify(le.json));
    // Binary, big-endian records, described by ?dtype= (numpy's list form, as text).
    const beSpec = JSON.stringify([
      ['x', '>f8'],
      ['v', '>f4', [3]],
      ['n', '>i2'],
    ]);
    const be = await putBytes(
      `${stack.url}/v1/files/c.h5/datasets/rec/value?select=[3:4]&dtype=${encodeURIComponent(beSpec)}`,
      await numpyBytes("np.array([(4.5, [10, 11, 12], 300)], dtype=[('x', '>f8'), ('v', '>f4', (3,)), ('n', '>i2')])"),
      'application/octet-stream',
    );
    assert.equal(be.status, 202, JSON.stringify(be.json));
    // A structured .npy.
    const npy = await putBytes(
      `${stack.url}/v1/files/c.h5/datasets/rec/value?select=[4:5]`,
      await npySave(`np.array([(5.5, [13, 14, 15], 5)], dtype=${NUMPY_REC})`),
      'application/x-npy',
    );
    assert.equal(npy.status, 202, JSON.stringify(npy.json));
    for (const r of [le, be, npy]) assert.equal((await api.waitJob(r.location!)).state, 'completed');

    // An attribute of a nested compound with an enum and a complex field.
    const attrDtype = {
      fields: [
        { name: 'id', dtype: 'uint32' },
        {
          name: 'pos',
          dtype: {
            fields: [
              { name: 'a', dtype: 'int8' },
              { name: 'b', dtype: 'float32' },
            ],
          },
        },
        { name: 'z', dtype: 'complex64' },
      ],
    };
    const attr = await api.accepted('PUT', '/v1/files/c.h5/datasets/rec/attributes/meta', {
      dtype: attrDtype,
      value: [
        { id: 7, pos: { a: -2, b: 0.5 }, z: [1, -1] },
        { id: 8, pos: { a: 3, b: 1.5 }, z: [0, 2] },
      ],
    });
    assert.equal(attr.state, 'completed', JSON.stringify(attr.error));

    const seen = await h5py<any>(
      stack.filePath('c.h5'),
      [
        "f = h5py.File(path, 'r'); d = f['rec']; a = d.attrs['meta']",
        `same_dtype = d.dtype == ${NUMPY_REC}`,
        "rows = [[float(r['x']), r['v'].tolist(), int(r['n'])] for r in d[()]]",
        "out = {'same_dtype': bool(same_dtype), 'rows': rows, 'attr_dtype': str(a.dtype), 'attr': [[int(r['id']), int(r['pos']['a']), float(r['pos']['b']), [float(r['z'].real), float(r['z'].imag)]] for r in a]}",
      ].join('\n'),
    );
    assert.equal(seen.same_dtype, true, 'h5py sees the numpy dtype that was asked for');
    assert.deepEqual(seen.rows, [
      [1.5, [1, 2, 3], 1],
      [2.5, [4, 5, 6], 2],
      [3.5, [7, 8, 9], -3],
      [4.5, [10, 11, 12], 300],
      [5.5, [13, 14, 15], 5],
      [-1, [0, 0, 0], 7],
    ]);
    assert.equal(seen.attr_dtype, "[('id', '<u4'), ('pos', [('a', 'i1'), ('b', '<f4')]), ('z', '<c8')]");
    assert.deepEqual(seen.attr, [
      [7, -2, 0.5, [1, -1]],
      [8, 3, 1.5, [0, 2]],
    ]);

    // Refused: a record with a missing field, a body of another layout, and nothing is queued.
    const missing = await api.call('PUT', '/v1/files/c.h5/datasets/rec/value?select=[5]', { x: 1, v: [1, 2, 3] });
    assert.equal(missing.status, 400, JSON.stringify(missing.json));
    assert.equal(missing.json.code, 'PH5_ERR_VALUE');
    const other = await putBytes(
      `${stack.url}/v1/files/c.h5/datasets/rec/value?select=[5]`,
      await npySave("np.zeros(1, dtype=[('x', '<f8'), ('n', '<i2')])"),
      'application/x-npy',
    );
    assert.equal(other.status, 400, JSON.stringify(other.json));
    assert.equal(other.json.code, 'PH5_ERR_DTYPE');
  },
);

test(
  'h5py writes structured arrays (padded, nested, array fields) and a compound attribute; ph5 reads the same as JSON, binary, .npy and in the listing',
  { timeout: 120_000 },
  async () => {
    const api = client(stack.url);
    const padded = "np.dtype({'names': ['a', 'b'], 'formats': ['u1', '<f8'], 'offsets': [0, 8], 'itemsize': 16})";
    const nested = "np.dtype([('id', '<i4'), ('p', [('x', '<f4'), ('y', '>f8')]), ('m', '<u2', (2, 2)), ('s', 'S3')])";
    await makeWithH5py(
      stack.filePath('hc.h5'),
      [
        `f.create_dataset('padded', data=np.array([(1, 0.5), (2, -1.5), (3, 1e300)], dtype=${padded}))`,
        `f.create_dataset('g/nested', data=np.array([(1, (0.5, 2.0), [[1, 2], [3, 4]], b'ab'), (-2, (1.5, -3.0), [[5, 6], [7, 8]], b'xyz')], dtype=${nested}))`,
        "f.attrs['origin'] = np.array((3, 4.5), dtype=[('i', '<i8'), ('f', '<f8')])",
      ].join('\n'),
    );

    const padInfo = await api.call('GET', '/v1/files/hc.h5/datasets/padded');
    assert.equal(padInfo.status, 200, JSON.stringify(padInfo.json));
    assert.deepEqual(padInfo.json.dtype, {
      fields: [
        { name: 'a', dtype: 'uint8', offset: 0 },
        { name: 'b', dtype: 'float64', offset: 8 },
      ],
      itemsize: 16,
    });
    const padJson = await api.call('GET', '/v1/files/hc.h5/datasets/padded/value?select=[1:3]');
    assert.equal(padJson.status, 200, JSON.stringify(padJson.json));
    assert.deepEqual(padJson.json.data, [
      { a: 2, b: -1.5 },
      { a: 3, b: 1e300 },
    ]);
    assert.deepEqual(padJson.json.dtype, padInfo.json.dtype);

    // Binary: the records as numpy lays them out (padding bytes are not compared: HDF5 leaves them unset).
    const raw = await getBytes(`${stack.url}/v1/files/hc.h5/datasets/padded/value`, 'application/octet-stream');
    assert.equal(raw.status, 200);
    assert.equal(raw.body.length, 3 * 16);
    assert.deepEqual(JSON.parse(raw.headers.get('x-ph5-dtype')!), padInfo.json.dtype);
    assert.deepEqual(await withNumpy(raw.body, "out = [[int(r['a']), float(r['b'])] for r in a]", padded), [
      [1, 0.5],
      [2, -1.5],
      [3, 1e300],
    ]);
    // .npy: numpy loads the same structured dtype (padding as numpy's own '|V' entries).
    const npy = await getBytes(`${stack.url}/v1/files/hc.h5/datasets/padded/value`, 'application/x-npy');
    assert.equal(npy.status, 200);
    assert.deepEqual(await withNumpy(npy.body, `out = [bool(a.dtype == ${padded}), [[int(r['a']), float(r['b'])] for r in a]]`), [
      true,
      [
        [1, 0.5],
        [2, -1.5],
        [3, 1e300],
      ],
    ]);

    // A packed .npy (itemsize 9, fields reordered) into the padded dataset: HDF5 converts by field name.
    const packed = await putBytes(
      `${stack.url}/v1/files/hc.h5/datasets/padded/value?select=[0:1]`,
      await npySave("np.array([(9.5, 9)], dtype=[('b', '<f8'), ('a', 'u1')])"),
      'application/x-npy',
    );
    assert.equal(packed.status, 202, JSON.stringify(packed.json));
    assert.equal((await api.waitJob(packed.location!)).state, 'completed');
    assert.deepEqual(await h5py(stack.filePath('hc.h5'), "r = h5py.File(path, 'r')['padded'][0]\nout = [int(r['a']), float(r['b'])]"), [9, 9.5]);

    const nestedJson = await api.call('GET', `/v1/files/hc.h5/datasets/${encodeURIComponent('g/nested')}/value`);
    assert.equal(nestedJson.status, 200, JSON.stringify(nestedJson.json));
    assert.deepEqual(nestedJson.json.data, [
      {
        id: 1,
        p: { x: 0.5, y: 2 },
        m: [
          [1, 2],
          [3, 4],
        ],
        s: 'ab',
      },
      {
        id: -2,
        p: { x: 1.5, y: -3 },
        m: [
          [5, 6],
          [7, 8],
        ],
        s: 'xyz',
      },
    ]);
    assert.deepEqual(nestedJson.json.dtype, {
      fields: [
        { name: 'id', dtype: 'int32', offset: 0 },
        {
          name: 'p',
          dtype: {
            fields: [
              { name: 'x', dtype: 'float32', offset: 0 },
              { name: 'y', dtype: '>f8', offset: 4 },
            ],
            itemsize: 12,
          },
          offset: 4,
        },
        { name: 'm', dtype: 'uint16', shape: [2, 2], offset: 16 },
        { name: 's', dtype: 'S3', offset: 24 },
      ],
      itemsize: 27,
    });
    const nestedNpy = await getBytes(`${stack.url}/v1/files/hc.h5/datasets/${encodeURIComponent('g/nested')}/value`, 'application/x-npy');
    assert.equal(nestedNpy.status, 200);
    assert.deepEqual(await withNumpy(nestedNpy.body, `out = [bool(a.dtype == ${nested}), a['m'].tolist(), float(a['p']['y'][1])]`), [
      true,
      [
        [
          [1, 2],
          [3, 4],
        ],
        [
          [5, 6],
          [7, 8],
        ],
      ],
      -3,
    ]);

    // Written back through ph5 (a row with a nested object), read by h5py.
    const back = await api.accepted('PUT', `/v1/files/hc.h5/datasets/${encodeURIComponent('g/nested')}/value?select=[1]`, [
      { id: 9, p: { x: 9.5, y: 10 }, m: [11, 12, 13, 14], s: 'q' },
    ]);
    assert.equal(back.state, 'completed', JSON.stringify(back.error));
    assert.deepEqual(
      await h5py(
        stack.filePath('hc.h5'),
        "r = h5py.File(path, 'r')['g/nested'][1]\nout = [int(r['id']), float(r['p']['y']), r['m'].tolist(), r['s'].decode()]",
      ),
      [
        9,
        10,
        [
          [11, 12],
          [13, 14],
        ],
        'q',
      ],
    );

    const attr = await api.call('GET', '/v1/files/hc.h5/attributes/origin');
    assert.equal(attr.status, 200, JSON.stringify(attr.json));
    assert.deepEqual(attr.json, {
      name: 'origin',
      dtype: {
        fields: [
          { name: 'i', dtype: 'int64', offset: 0 },
          { name: 'f', dtype: 'float64', offset: 8 },
        ],
        itemsize: 16,
      },
      shape: [],
      value: { i: 3, f: 4.5 },
    });

    const listing = await api.call('GET', '/v1/files/hc.h5');
    assert.equal(listing.status, 200, JSON.stringify(listing.json));
    const padNode = listing.json.tree.children.find((c: any) => c.path === '/padded');
    assert.deepEqual(padNode.dtype, padInfo.json.dtype);
    assert.deepEqual(listing.json.tree.attributes, ['origin']);
  },
);

test('a compound with a variable-length string field (h5py) is refused clearly, and ph5 cannot create one', { timeout: 60_000 }, async () => {
  const api = client(stack.url);
  await makeWithH5py(stack.filePath('hvl.h5'), "f.create_dataset('people', data=np.array([(1, 'ann')], dtype=[('id', '<i4'), ('name', h5py.string_dtype())]))");
  const read = await api.call('GET', '/v1/files/hvl.h5/datasets/people/value');
  assert.equal(read.status, 400, JSON.stringify(read.json));
  assert.equal(read.json.code, 'PH5_ERR_TYPE');
  assert.match(read.json.detail, /variable-length/);
  const create = await api.call('POST', '/v1/files/hvl.h5/datasets', {
    path: '/more',
    dtype: {
      fields: [
        { name: 'id', dtype: 'int32' },
        { name: 'name', dtype: 'str' },
      ],
    },
    shape: [1],
  });
  assert.equal(create.status, 400, JSON.stringify(create.json));
  assert.equal(create.json.code, 'PH5_ERR_TYPE');
});
