/**
 * .npy in and out on a live stack (2 real ranks): numpy.save output PUT as
 * application/x-npy (either byte order) lands where it should; GET with
 * Accept: application/x-npy gives what numpy.load reads back; a Fortran-order or
 * wrong-sized array is refused and leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';

const numpyBytes = async (expr: string): Promise<Buffer> => {
  const { stdout } = await promisify(execFile)(
    '/usr/bin/python3',
    ['-c', `import io, sys, numpy as np\nb = io.BytesIO()\nnp.save(b, ${expr})\nsys.stdout.buffer.write(b.getvalue())`],
    { encoding: 'buffer', maxBuffer: 1 << 26 },
  );
  return stdout;
};

let stack: Stack;
before(async () => {
  stack = await startStack({ ranks: 2 });
});
after(async () => {
  await stack?.stop();
});

test('a numpy array PUT as .npy is written; a .npy GET is what numpy.load reads', { timeout: 120_000 }, async () => {
  const api = client(stack.url);
  assert.equal((await api.accepted('POST', '/v1/files/n.h5/datasets', { path: '/m', dtype: 'float64', shape: [4, 5] })).state, 'completed');

  const put = async (select: string, body: Buffer) =>
    fetch(`${stack.url}/v1/files/n.h5/datasets/m/value?select=${encodeURIComponent(select)}`, {
      method: 'PUT',
      body,
      headers: { 'content-type': 'application/x-npy' },
    });
  const little = await put('[0:2,:]', await numpyBytes("np.arange(10, dtype='<f8').reshape(2, 5)"));
  assert.equal(little.status, 202, await little.clone().text());
  const big = await put('[2:4,:]', await numpyBytes("-np.arange(10, dtype='>f8')"));
  assert.equal(big.status, 202, await big.clone().text());
  for (const r of [little, big]) {
    const job = await api.waitJob(r.headers.get('location')!);
    assert.equal(job.state, 'completed', JSON.stringify(job.error));
  }

  const seen = await h5py<number[][]>(path.join(stack.dataDir, 'default', 'n.h5'), "out = h5py.File(path, 'r')['/m'][...].tolist()");
  assert.deepEqual(seen, [
    [0, 1, 2, 3, 4],
    [5, 6, 7, 8, 9],
    [-0, -1, -2, -3, -4],
    [-5, -6, -7, -8, -9],
  ]);

  const res = await fetch(`${stack.url}/v1/files/n.h5/datasets/m/value?select=${encodeURIComponent('[1:3,1:4]')}`, {
    headers: { accept: 'application/x-npy' },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/x-npy');
  const npy = Buffer.from(await res.arrayBuffer());
  const loaded = await new Promise<string>((resolve, reject) => {
    const child = execFile(
      '/usr/bin/python3',
      ['-c', 'import io, sys, json, numpy as np\na = np.load(io.BytesIO(sys.stdin.buffer.read()))\nprint(json.dumps([a.dtype.str, a.tolist()]))'],
      (err, out) =>
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an Error (@types/node's ExecFileException is built with Omit<>, which hides that)
        err ? reject(err) : resolve(out),
    );
    child.stdin!.end(npy);
  });
  assert.deepEqual(JSON.parse(loaded), [
    '<f8',
    [
      [6, 7, 8],
      [-1, -2, -3],
    ],
  ]);
});

test('a Fortran-order, wrongly sized or wrongly typed .npy is refused and leaves nothing behind', { timeout: 60_000 }, async () => {
  const api = client(stack.url);
  assert.equal((await api.accepted('POST', '/v1/files/n2.h5/datasets', { path: '/m', dtype: 'int32', shape: [3, 3] })).state, 'completed');
  const cases: [string, string, string][] = [
    ["np.asfortranarray(np.zeros((3, 3), dtype='<i4'))", '', 'PH5_ERR_NPY'],
    ["np.zeros(8, dtype='<i4')", '', 'PH5_ERR_SELECTION'],
    ["np.zeros(9, dtype='<f4')", '', 'PH5_ERR_DTYPE'],
    ["np.zeros(9, dtype='<i4')", '?dtype=%3Ei4', 'PH5_ERR_DTYPE'],
  ];
  for (const [expr, query, code] of cases) {
    const res = await fetch(`${stack.url}/v1/files/n2.h5/datasets/m/value${query}`, {
      method: 'PUT',
      body: await numpyBytes(expr),
      headers: { 'content-type': 'application/x-npy' },
    });
    assert.equal(res.status, 400, expr);
    assert.equal(((await res.json()) as { code: string }).code, code, expr);
  }
  const garbage = await fetch(`${stack.url}/v1/files/n2.h5/datasets/m/value`, {
    method: 'PUT',
    body: Buffer.from('not an npy file at all'),
    headers: { 'content-type': 'application/x-npy' },
  });
  assert.equal(garbage.status, 400);
  assert.deepEqual(await readdir(path.join(stack.dataDir, '.staging')), []);
});
