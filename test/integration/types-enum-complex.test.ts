/**
 * Enums (user enums and h5py's bool) and complex numbers (complex64/128, as h5py stores
 * them: a compound {r, i}) with Debian's h5py, both directions, through the real API and
 * a 2-rank pool. ph5 writes them (JSON names or integers and [re, im] pairs, binary bodies
 * of the base integers or complex pairs in either byte order, .npy) as datasets and
 * attributes, and h5py reads the same values and numpy dtypes; h5py writes them and ph5
 * answers the same as JSON, binary, .npy, attributes and in the listing.
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

const COLOR = { enum: { RED: 0, GREEN: 1, BLUE: 2 } };

test('ph5 writes enums and complex numbers (JSON, binary, .npy; datasets and attributes); h5py reads the same', { timeout: 120_000 }, async () => {
  const api = client(stack.url);
  for (const body of [
    { path: '/color', dtype: COLOR, shape: [6], fillValue: 'BLUE' },
    { path: '/z', dtype: 'complex64', shape: [5] },
    { path: '/zz', dtype: '>c16', shape: [2, 2], fillValue: [0.5, -0.5] },
  ]) {
    const job = await api.accepted('POST', '/v1/files/ec.h5/datasets', body);
    assert.equal(job.state, 'completed', `${body.path}: ${JSON.stringify(job.error)}`);
  }
  const info = await api.call('GET', '/v1/files/ec.h5/datasets/color');
  assert.deepEqual(info.json.dtype, { enum: { RED: 0, GREEN: 1, BLUE: 2 }, base: 'uint8' });
  assert.equal(info.json.fillValue, 'BLUE');
  assert.equal((await api.call('GET', '/v1/files/ec.h5/datasets/zz')).json.dtype, '>c16');

  // Enum: names and integers in JSON; the base integers in binary and .npy.
  assert.equal((await api.accepted('PUT', '/v1/files/ec.h5/datasets/color/value?select=[0:3]', ['RED', 1, 'GREEN'])).state, 'completed');
  const enumRaw = await putBytes(`${stack.url}/v1/files/ec.h5/datasets/color/value?select=[3]&dtype=uint8`, Buffer.from([2]), 'application/octet-stream');
  assert.equal(enumRaw.status, 202, JSON.stringify(enumRaw.json));
  const enumNpy = await putBytes(
    `${stack.url}/v1/files/ec.h5/datasets/color/value?select=[4:5]`,
    await npySave("np.array([1], dtype='u1')"),
    'application/x-npy',
  );
  assert.equal(enumNpy.status, 202, JSON.stringify(enumNpy.json));
  // Complex: pairs and plain numbers in JSON, big-endian pairs in binary, a complex64 .npy.
  assert.equal((await api.accepted('PUT', '/v1/files/ec.h5/datasets/z/value?select=[0:3]', [[1, 2], 3, ['NaN', '-Infinity']])).state, 'completed');
  const zRaw = await putBytes(
    `${stack.url}/v1/files/ec.h5/datasets/z/value?select=[3]&dtype=%3Ec8`,
    await numpyBytes("np.array([4.5-1j], dtype='>c8')"),
    'application/octet-stream',
  );
  assert.equal(zRaw.status, 202, JSON.stringify(zRaw.json));
  const zNpy = await putBytes(
    `${stack.url}/v1/files/ec.h5/datasets/z/value?select=[4:5]`,
    await npySave("np.array([-2+0.25j], dtype='<c8')"),
    'application/x-npy',
  );
  assert.equal(zNpy.status, 202, JSON.stringify(zNpy.json));
  assert.equal(
    (
      await api.accepted('PUT', '/v1/files/ec.h5/datasets/zz/value?select=[0,:]', [
        [1e300, -1e-300],
        [0, 1],
      ])
    ).state,
    'completed',
  );
  for (const r of [enumRaw, enumNpy, zRaw, zNpy]) assert.equal((await api.waitJob(r.location!)).state, 'completed');

  // Attributes.
  for (const [name, body] of [
    ['state', { dtype: { enum: { OFF: 0, ON: 1 }, base: 'int16' }, value: ['ON', 'OFF', 1] }],
    ['gain', { dtype: 'complex128', value: [1.5, -2] }],
    [
      'gains',
      {
        dtype: 'complex64',
        value: [
          [1, 1],
          [2, -2],
        ],
      },
    ],
  ] as const) {
    const job = await api.accepted('PUT', `/v1/files/ec.h5/attributes/${name}`, body);
    assert.equal(job.state, 'completed', `${name}: ${JSON.stringify(job.error)}`);
  }

  const seen = await h5py<any>(
    stack.filePath('ec.h5'),
    [
      "f = h5py.File(path, 'r'); a = f.attrs",
      'pairs = lambda z: [[float(v.real), float(v.imag)] for v in np.ravel(z)]',
      "out = {'color': f['color'][()].tolist(), 'color_dtype': [f['color'].dtype.str, h5py.check_enum_dtype(f['color'].dtype)],",
      "       'z': [str(v) for v in pairs(f['z'][()])], 'z_dtype': f['z'].dtype.str, 'zz': pairs(f['zz'][()]), 'zz_dtype': f['zz'].dtype.str,",
      "       'state': [a['state'].tolist(), a['state'].dtype.str, h5py.check_enum_dtype(a['state'].dtype)], 'gain': [pairs(a['gain']), a['gain'].dtype.str], 'gains': [pairs(a['gains']), a['gains'].dtype.str]}",
    ].join('\n'),
  );
  assert.deepEqual(seen.color, [0, 1, 1, 2, 1, 2]);
  assert.deepEqual(seen.color_dtype, ['|u1', { RED: 0, GREEN: 1, BLUE: 2 }]);
  assert.deepEqual(seen.z, ['[1.0, 2.0]', '[3.0, 0.0]', '[nan, -inf]', '[4.5, -1.0]', '[-2.0, 0.25]']);
  assert.equal(seen.z_dtype, '<c8');
  assert.deepEqual(seen.zz, [
    [1e300, -1e-300],
    [0, 1],
    [0.5, -0.5],
    [0.5, -0.5],
  ]);
  assert.equal(seen.zz_dtype, '>c16');
  assert.deepEqual(seen.state, [[1, 0, 1], '<i2', { OFF: 0, ON: 1 }]);
  assert.deepEqual(seen.gain, [[[1.5, -2]], '<c16']);
  assert.deepEqual(seen.gains, [
    [
      [1, 1],
      [2, -2],
    ],
    '<c8',
  ]);

  // Refused: a name that is no member, an integer payload of another size.
  const bad = await api.call('PUT', '/v1/files/ec.h5/datasets/color/value?select=[0]', 'PURPLE');
  assert.equal(bad.status, 400, JSON.stringify(bad.json));
  assert.equal(bad.json.code, 'PH5_ERR_VALUE');
  const wide = await putBytes(
    `${stack.url}/v1/files/ec.h5/datasets/color/value?select=[0:2]`,
    await npySave("np.array([1, 2], dtype='<u2')"),
    'application/x-npy',
  );
  assert.equal(wide.status, 400, JSON.stringify(wide.json));
  assert.equal(wide.json.code, 'PH5_ERR_DTYPE');
});

test(
  'h5py writes enums (user and bool) and complex numbers; ph5 reads the same as JSON, binary, .npy, attributes and in the listing',
  { timeout: 120_000 },
  async () => {
    const api = client(stack.url);
    await makeWithH5py(
      stack.filePath('hec.h5'),
      [
        "f.create_dataset('level', data=np.array([0, 5, -1, 5], dtype='<i2'), dtype=h5py.enum_dtype({'LOW': -1, 'ZERO': 0, 'HIGH': 5}, basetype='i2'))",
        "f.create_dataset('flags', data=np.array([True, False, True]))",
        "f.create_dataset('c64', data=np.array([1+2j, -0.5j, 3], dtype='<c8'))",
        "f.create_dataset('c128be', data=np.array([[1e-300+1e300j, 2]], dtype='>c16'))",
        "f.attrs['mode'] = np.array(2, dtype=h5py.enum_dtype({'A': 1, 'B': 2}, basetype='u1'))",
        "f.attrs['z'] = np.complex64(0.5 - 4j)",
      ].join('\n'),
    );
    const level = await api.call('GET', '/v1/files/hec.h5/datasets/level/value');
    assert.equal(level.status, 200, JSON.stringify(level.json));
    assert.deepEqual(level.json.data, ['ZERO', 'HIGH', 'LOW', 'HIGH']);
    assert.deepEqual(level.json.dtype.enum, { LOW: -1, ZERO: 0, HIGH: 5 });
    assert.equal(level.json.dtype.base, 'int16');
    // Binary: the base integers; X-Ph5-Dtype the enum as JSON; .npy numpy's base integer dtype.
    const levelRaw = await getBytes(`${stack.url}/v1/files/hec.h5/datasets/level/value`, 'application/octet-stream');
    assert.equal(levelRaw.status, 200);
    assert.deepEqual(JSON.parse(levelRaw.headers.get('x-ph5-dtype')!), level.json.dtype);
    assert.deepEqual(await withNumpy(levelRaw.body, 'out = a.tolist()', "'<i2'"), [0, 5, -1, 5]);
    const levelNpy = await getBytes(`${stack.url}/v1/files/hec.h5/datasets/level/value`, 'application/x-npy');
    assert.deepEqual(await withNumpy(levelNpy.body, 'out = [a.dtype.str, a.tolist()]'), ['<i2', [0, 5, -1, 5]]);

    const flags = await api.call('GET', '/v1/files/hec.h5/datasets/flags/value');
    assert.deepEqual(flags.json, { dtype: 'bool', shape: [3], data: [true, false, true] });

    const c64 = await api.call('GET', '/v1/files/hec.h5/datasets/c64/value');
    assert.deepEqual(c64.json, {
      dtype: 'complex64',
      shape: [3],
      data: [
        [1, 2],
        [0, -0.5],
        [3, 0],
      ],
    });
    const c64Raw = await getBytes(`${stack.url}/v1/files/hec.h5/datasets/c64/value`, 'application/octet-stream');
    assert.equal(c64Raw.headers.get('x-ph5-dtype'), 'complex64');
    assert.deepEqual(c64Raw.body, await numpyBytes("np.array([1+2j, -0.5j, 3], dtype='<c8')"));
    const be = await api.call('GET', '/v1/files/hec.h5/datasets/c128be/value');
    assert.deepEqual(be.json, {
      dtype: '>c16',
      shape: [1, 2],
      data: [
        [
          [1e-300, 1e300],
          [2, 0],
        ],
      ],
    });
    const beNpy = await getBytes(`${stack.url}/v1/files/hec.h5/datasets/c128be/value`, 'application/x-npy');
    assert.deepEqual(await withNumpy(beNpy.body, 'out = [a.dtype.str, [[v.real, v.imag] for v in a.ravel()]]'), [
      '>c16',
      [
        [1e-300, 1e300],
        [2, 0],
      ],
    ]);

    const attrs = await api.call('GET', '/v1/files/hec.h5/attributes');
    assert.equal(attrs.status, 200, JSON.stringify(attrs.json));
    assert.deepEqual(Object.fromEntries(attrs.json.attributes.map((a: any) => [a.name, [a.dtype, a.shape, a.value]])), {
      mode: [{ enum: { A: 1, B: 2 }, base: 'uint8' }, [], 'B'],
      z: ['complex64', [], [0.5, -4]],
    });
    const listing = await api.call('GET', '/v1/files/hec.h5');
    assert.equal(listing.status, 200, JSON.stringify(listing.json));
    const dtypes = Object.fromEntries(listing.json.tree.children.map((c: any) => [c.path, c.dtype]));
    assert.deepEqual(dtypes, { '/c128be': '>c16', '/c64': 'complex64', '/flags': 'bool', '/level': level.json.dtype });

    // Written back through ph5, read by h5py.
    assert.equal((await api.accepted('PUT', '/v1/files/hec.h5/datasets/level/value?select=[0:2]', ['LOW', 0])).state, 'completed');
    assert.equal((await api.accepted('PUT', '/v1/files/hec.h5/datasets/c128be/value?select=[0,1]', [[[7, 8]]])).state, 'completed');
    const back = await h5py<any>(
      stack.filePath('hec.h5'),
      "f = h5py.File(path, 'r')\nv = f['c128be'][0, 1]\nout = [f['level'][()].tolist(), [float(v.real), float(v.imag)]]",
    );
    assert.deepEqual(back, [
      [-1, 0, -1, 5],
      [7, 8],
    ]);
  },
);
