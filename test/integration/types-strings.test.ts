/**
 * Variable-length strings (UTF-8 and ASCII) and fixed-length string attributes with
 * Debian's h5py, both directions, through the real API and a 2-rank pool. ph5 writes
 * string datasets (JSON strings; binary and .npy bodies as fixed-width S<n> slots) and
 * string attributes (str, str:ascii, S<n>), and h5py reads the same values and string
 * dtypes; h5py writes with its defaults (f.attrs['s'] = 'x', string_dtype()) and ph5
 * answers the same strings as JSON, in pieces for a large selection, refuses binary and
 * .npy answers (406), and lists the dtypes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { getBytes, makeWithH5py, npySave, putBytes } from '../helpers/numpy.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
before(async () => {
  stack = await startStack({ ranks: 2 });
});
after(async () => {
  await stack?.stop();
});

/** Fixed-width, null-padded slots of `width` bytes holding `values` in UTF-8. */
function slots(values: string[], width: number): Buffer {
  const out = Buffer.alloc(values.length * width);
  values.forEach((v, i) => out.write(v, i * width, 'utf8'));
  return out;
}

test('ph5 writes variable-length strings (JSON, binary S<n> slots, .npy |S<n>) and string attributes; h5py reads the same', { timeout: 120_000 }, async () => {
  const api = client(stack.url);
  for (const [path, dtype, shape] of [
    ['/names', 'str', [6]],
    ['/codes', 'str:ascii', [2]],
    ['/grid', 'str', [2, 3]],
  ] as const) {
    const job = await api.accepted('POST', '/v1/files/s.h5/datasets', { path, dtype, shape });
    assert.equal(job.state, 'completed', JSON.stringify(job.error));
  }
  const info = await api.call('GET', '/v1/files/s.h5/datasets/names');
  assert.equal(info.json.dtype, 'str');
  assert.equal((await api.call('GET', '/v1/files/s.h5/datasets/codes')).json.dtype, 'str:ascii');

  // JSON strings of any length, in one request (the slot width is the longest value).
  const json = await api.accepted('PUT', '/v1/files/s.h5/datasets/names/value?select=[0:3]', ['alpha', 'βeta — ünïcode', '']);
  assert.equal(json.state, 'completed', JSON.stringify(json.error));
  // HDF5 1.10 writes no variable-length data through MPI-IO: rank 0 wrote it, the file opened serially.
  assert.deepEqual(
    json.result.ops[0].decomposition.map((d: any) => [d.rank, d.rows]),
    [[0, 3]],
  );
  assert.equal(json.result.ops[0].collective, false);
  // Binary: slots of 8 bytes, the width said by ?dtype=S8.
  const raw = await putBytes(`${stack.url}/v1/files/s.h5/datasets/names/value?select=[3:5]&dtype=S8`, slots(['x', 'yyyyyyyy'], 8), 'application/octet-stream');
  assert.equal(raw.status, 202, JSON.stringify(raw.json));
  // .npy of numpy bytes strings.
  const npy = await putBytes(
    `${stack.url}/v1/files/s.h5/datasets/names/value?select=[5:6]`,
    await npySave("np.array([b'from npy'], dtype='S12')"),
    'application/x-npy',
  );
  assert.equal(npy.status, 202, JSON.stringify(npy.json));
  for (const r of [raw, npy]) assert.equal((await api.waitJob(r.location!)).state, 'completed');
  assert.equal((await api.accepted('PUT', '/v1/files/s.h5/datasets/codes/value', ['AB', 'C'])).state, 'completed');
  assert.equal(
    (
      await api.accepted('PUT', '/v1/files/s.h5/datasets/grid/value', [
        ['a', 'bb', 'ccc'],
        ['', 'é', 'ff'],
      ])
    ).state,
    'completed',
  );

  // Attributes: str (the default for a JSON string), str:ascii, S<n> (fixed-length), arrays of them.
  for (const [name, body] of [
    ['units', { value: 'kelvin' }],
    ['tags', { value: ['α', 'beta'] }],
    ['ascii', { value: 'plain', dtype: 'str:ascii' }],
    ['fixed', { value: 'hello', dtype: 'S5' }],
    ['fixedlist', { value: ['ab', 'cde'], dtype: 'S4' }],
  ] as const) {
    const job = await api.accepted('PUT', `/v1/files/s.h5/datasets/names/attributes/${name}`, body);
    assert.equal(job.state, 'completed', `${name}: ${JSON.stringify(job.error)}`);
  }

  // Small writes arriving together (grouped into one job, coalesced where the slot widths
  // agree), and a batch that creates, writes and labels a string dataset in one job.
  assert.equal((await api.accepted('POST', '/v1/files/s.h5/datasets', { path: '/many', dtype: 'str', shape: [8] })).state, 'completed');
  const many = await Promise.all(
    Array.from({ length: 8 }, (_, i) => api.accepted('PUT', `/v1/files/s.h5/datasets/many/value?select=[${i}]`, ['#'.repeat(i % 3) + String(i)])),
  );
  for (const job of many) assert.equal(job.state, 'completed', JSON.stringify(job.error));
  const batch = await api.call('POST', '/v1/jobs', {
    file: 's.h5',
    ops: [
      { op: 'createDataset', path: '/batch', dtype: 'str', shape: [2] },
      { op: 'write', path: '/batch', value: ['x', 'yz'] },
      // Consecutive string writes (one serial run), then parallel steps, then strings again.
      { op: 'write', path: '/codes', value: ['XY', 'Z'] },
      { op: 'setAttribute', path: '/batch', name: 'label', value: 'B', dtype: { enum: { A: 0, B: 1 } } },
      { op: 'createDataset', path: '/nums', dtype: 'int32', shape: [2] },
      { op: 'write', path: '/nums', value: [7, 8] },
      { op: 'write', path: '/batch', select: '[1:2]', value: ['last'] },
    ],
  });
  assert.equal(batch.status, 202, JSON.stringify(batch.json));
  assert.equal((await api.waitJob(batch.headers.get('location')!)).state, 'completed');

  // A chunked, compressed, growing string dataset (written by rank 0 on the file opened
  // serially, filters and all), and a scalar one.
  assert.equal(
    (await api.accepted('POST', '/v1/files/s.h5/datasets', { path: '/log', dtype: 'str', shape: [2], maxshape: [null], compression: 'gzip', chunks: [2] }))
      .state,
    'completed',
  );
  assert.equal((await api.accepted('PUT', '/v1/files/s.h5/datasets/log/value', ['first line', 'second'])).state, 'completed');
  assert.equal((await api.accepted('PUT', '/v1/files/s.h5/datasets/log/shape', { shape: [3] })).state, 'completed');
  assert.equal((await api.accepted('PUT', '/v1/files/s.h5/datasets/log/value?select=[2:3]', ['third, appended'])).state, 'completed');
  assert.equal((await api.accepted('POST', '/v1/files/s.h5/datasets', { path: '/one', dtype: 'str', shape: [] })).state, 'completed');
  assert.equal((await api.accepted('PUT', '/v1/files/s.h5/datasets/one/value', 'only me')).state, 'completed');
  assert.deepEqual((await api.call('GET', '/v1/files/s.h5/datasets/one/value')).json, { dtype: 'str', shape: [], data: 'only me' });

  const seen = await h5py<any>(
    stack.filePath('s.h5'),
    [
      "f = h5py.File(path, 'r'); d = f['names']; a = d.attrs",
      'def kind(t):',
      '    s = h5py.check_string_dtype(t)',
      '    return None if s is None else [s.encoding, s.length]',
      "out = {'log': f['log'].asstr()[()].tolist(), 'log_filters': [f['log'].compression, f['log'].maxshape], 'one': f['one'].asstr()[()], 'names': d.asstr()[()].tolist(), 'many': f['many'].asstr()[()].tolist(), 'nums': f['nums'][()].tolist(), 'batch': [f['batch'].asstr()[()].tolist(), int(f['batch'].attrs['label']), h5py.check_enum_dtype(f['batch'].attrs.get_id('label').dtype)], 'codes': f['codes'].asstr()[()].tolist(), 'grid': f['grid'].asstr()[()].tolist(),",
      "       'dtypes': [kind(d.dtype), kind(f['codes'].dtype), kind(f['grid'].dtype)],",
      "       'attrs': [a['units'], list(a['tags']), a['ascii'], a['fixed'].decode(), [x.decode() for x in a['fixedlist']]],",
      "       'attr_dtypes': [kind(a.get_id(n).dtype) for n in ['units', 'tags', 'ascii', 'fixed', 'fixedlist']]}",
    ].join('\n'),
  );
  assert.deepEqual(seen.names, ['alpha', 'βeta — ünïcode', '', 'x', 'yyyyyyyy', 'from npy']);
  assert.deepEqual(seen.codes, ['XY', 'Z']);
  assert.deepEqual(seen.nums, [7, 8]);
  assert.deepEqual(seen.log, ['first line', 'second', 'third, appended']);
  assert.deepEqual(seen.log_filters, ['gzip', [null]]);
  assert.equal(seen.one, 'only me');
  assert.deepEqual(seen.many, ['0', '#1', '##2', '3', '#4', '##5', '6', '#7']);
  assert.deepEqual(seen.batch, [['x', 'last'], 1, { A: 0, B: 1 }]);
  assert.deepEqual(seen.grid, [
    ['a', 'bb', 'ccc'],
    ['', 'é', 'ff'],
  ]);
  assert.deepEqual(seen.dtypes, [
    ['utf-8', null],
    ['ascii', null],
    ['utf-8', null],
  ]);
  assert.deepEqual(seen.attrs, ['kelvin', ['α', 'beta'], 'plain', 'hello', ['ab', 'cde']]);
  assert.deepEqual(seen.attr_dtypes, [
    ['utf-8', null],
    ['utf-8', null],
    ['ascii', null],
    ['ascii', 5],
    ['ascii', 4],
  ]);

  // Read back through ph5: JSON only.
  const back = await api.call('GET', '/v1/files/s.h5/datasets/names/value');
  assert.equal(back.status, 200, JSON.stringify(back.json));
  assert.deepEqual(back.json, { dtype: 'str', shape: [6], data: ['alpha', 'βeta — ünïcode', '', 'x', 'yyyyyyyy', 'from npy'] });
  for (const accept of ['application/octet-stream', 'application/x-npy']) {
    const refused = await getBytes(`${stack.url}/v1/files/s.h5/datasets/names/value`, accept);
    assert.equal(refused.status, 406, accept);
    assert.match(refused.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(JSON.parse(refused.body.toString()).code, 'PH5_ERR_NOT_ACCEPTABLE');
  }
  const attrs = await api.call('GET', '/v1/files/s.h5/datasets/names/attributes');
  assert.deepEqual(Object.fromEntries(attrs.json.attributes.map((a: any) => [a.name, [a.dtype, a.shape, a.value]])), {
    units: ['str', [], 'kelvin'],
    tags: ['str', [2], ['α', 'beta']],
    ascii: ['str:ascii', [], 'plain'],
    fixed: ['S5', [], 'hello'],
    fixedlist: ['S4', [2], ['ab', 'cde']],
  });

  // Refused, with nothing queued: a fill value, a binary body without its slot width, a value too long for S<n>, a NUL.
  const refusals: [string, string, unknown, string][] = [
    ['POST', '/v1/files/s.h5/datasets', { path: '/nofill', dtype: 'str', shape: [2], fillValue: '' }, 'PH5_ERR_VALUE'],
    ['PUT', '/v1/files/s.h5/datasets/names/attributes/toolong', { value: 'toolong', dtype: 'S3' }, 'PH5_ERR_VALUE'],
    ['PUT', '/v1/files/s.h5/datasets/names/value?select=[0]', 'a\u0000b', 'PH5_ERR_VALUE'],
    ['PUT', '/v1/files/s.h5/datasets/codes/value?select=[0]', 'é', 'PH5_ERR_VALUE'],
  ];
  for (const [method, url, body, code] of refusals) {
    const r = await api.call(method, url, body);
    assert.equal(r.status, 400, `${url}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.code, code, url);
  }
  const noWidth = await putBytes(`${stack.url}/v1/files/s.h5/datasets/names/value?select=[0:2]`, slots(['a', 'b'], 4), 'application/octet-stream');
  assert.equal(noWidth.status, 400);
  assert.equal(noWidth.json.code, 'PH5_ERR_DTYPE');
});

test(
  'h5py writes vlen strings with its defaults; ph5 reads them (JSON in pieces, attributes, listing) and writes into them',
  { timeout: 120_000 },
  async () => {
    const api = client(stack.url);
    await makeWithH5py(
      stack.filePath('hs.h5'),
      [
        "f.attrs['s'] = 'x'",
        "f.attrs['fixed'] = np.bytes_(b'hello')",
        "f.attrs['many'] = ['a', 'bc', 'déf']",
        "f.create_dataset('words', data=['zero', 'one', 'twö', ''], dtype=h5py.string_dtype())",
        "f['scalar'] = 'just one'",
        "f.create_dataset('fixedutf', data=[s.encode() for s in ['ab', 'çd']], dtype=h5py.string_dtype('utf-8', 6))",
        "f.create_dataset('ascii', data=[b'A', b'BC'], dtype=h5py.string_dtype('ascii'))",
        // 100 x 100 strings: a JSON answer of several pieces.
        "f.create_dataset('big', data=np.array([f'r{i}c{j}' for i in range(100) for j in range(100)], dtype=object).reshape(100, 100), dtype=h5py.string_dtype(), maxshape=(None, 100), chunks=(10, 100))",
      ].join('\n'),
    );
    const words = await api.call('GET', '/v1/files/hs.h5/datasets/words/value');
    assert.equal(words.status, 200, JSON.stringify(words.json));
    assert.deepEqual(words.json, { dtype: 'str', shape: [4], data: ['zero', 'one', 'twö', ''] });
    assert.deepEqual((await api.call('GET', '/v1/files/hs.h5/datasets/scalar/value')).json, { dtype: 'str', shape: [], data: 'just one' });
    // h5py's fixed-length UTF-8 strings are S<n> here (bytes, UTF-8 inside).
    assert.deepEqual((await api.call('GET', '/v1/files/hs.h5/datasets/fixedutf/value')).json, { dtype: 'S6', shape: [2], data: ['ab', 'çd'] });
    const ascii = await api.call('GET', '/v1/files/hs.h5/datasets/ascii/value?select=[1]');
    assert.deepEqual(ascii.json, { dtype: 'str:ascii', shape: [1], data: ['BC'] }); // an index keeps its dimension

    const big = await api.call('GET', '/v1/files/hs.h5/datasets/big/value');
    assert.equal(big.status, 200);
    assert.deepEqual(big.json.shape, [100, 100]);
    assert.deepEqual(
      big.json.data,
      Array.from({ length: 100 }, (_, i) => Array.from({ length: 100 }, (_, j) => `r${i}c${j}`)),
    );
    const part = await api.call('GET', '/v1/files/hs.h5/datasets/big/value?select=[98:100,97:100:2]');
    assert.deepEqual(part.json.data, [
      ['r98c97', 'r98c99'],
      ['r99c97', 'r99c99'],
    ]);

    const attrs = await api.call('GET', '/v1/files/hs.h5/attributes');
    assert.equal(attrs.status, 200, JSON.stringify(attrs.json));
    assert.deepEqual(Object.fromEntries(attrs.json.attributes.map((a: any) => [a.name, [a.dtype, a.shape, a.value]])), {
      s: ['str', [], 'x'],
      fixed: ['S5', [], 'hello'],
      many: ['str', [3], ['a', 'bc', 'déf']],
    });
    const listing = await api.call('GET', '/v1/files/hs.h5');
    assert.equal(listing.status, 200, JSON.stringify(listing.json));
    const dtypes = Object.fromEntries(listing.json.tree.children.map((c: any) => [c.path, c.dtype]));
    assert.deepEqual(dtypes, { '/ascii': 'str:ascii', '/big': 'str', '/fixedutf': 'S6', '/scalar': 'str', '/words': 'str' });

    // ph5 writes into h5py's datasets (extending the chunked one first); h5py reads them.
    assert.equal(
      (await api.accepted('PUT', '/v1/files/hs.h5/datasets/words/value?select=[1:3]', ['ONE', 'a much longer value than before'])).state,
      'completed',
    );
    assert.equal((await api.accepted('PUT', '/v1/files/hs.h5/datasets/fixedutf/value?select=[1:2]', ['éé'])).state, 'completed');
    assert.equal((await api.accepted('PUT', '/v1/files/hs.h5/datasets/big/shape', { shape: [101, 100] })).state, 'completed');
    assert.equal(
      (
        await api.accepted(
          'PUT',
          '/v1/files/hs.h5/datasets/big/value?select=[100,:]',
          Array.from({ length: 100 }, (_, j) => `new${j}`),
        )
      ).state,
      'completed',
    );
    const after = await h5py<any>(
      stack.filePath('hs.h5'),
      "f = h5py.File(path, 'r')\nout = [f['words'].asstr()[()].tolist(), f['big'].asstr()[100, 0:3].tolist(), f['big'].asstr()[99, 99], f['fixedutf'].asstr()[()].tolist()]",
    );
    assert.deepEqual(after, [['zero', 'ONE', 'a much longer value than before', ''], ['new0', 'new1', 'new2'], 'r99c99', ['ab', 'éé']]);
  },
);
