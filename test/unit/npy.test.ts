/**
 * .npy headers: what we write, numpy reads; what numpy writes, we parse; malformed
 * headers are refused with PH5_ERR_NPY; a header split across stream chunks is found and
 * the stream is left at the first data byte.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parseDtype } from '../../services/shared/dtype.js';
import { encodeNpyHeader, parseNpyHeader, readNpyHeader } from '../../services/shared/npy.js';

const python = (code: string, ...args: string[]) => promisify(execFile)('/usr/bin/python3', ['-c', code, ...args]);

test('numpy loads the files we write, for every dtype ph5 stores', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ph5-npy-'));
  try {
    const cases: [string, number[], Buffer][] = [
      ['int32', [2, 3], Buffer.from(new Int32Array([1, 2, 3, 4, 5, -6]).buffer)],
      ['>f8', [2], Buffer.from([0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0])],
      ['uint8', [4], Buffer.from([0, 1, 254, 255])],
      ['bool', [3], Buffer.from([1, 0, 1])],
      ['S3', [2], Buffer.from('abcxyz')],
      ['float16', [], Buffer.from([0x00, 0x3c])],
    ];
    for (const [i, [dtype, shape, data]] of cases.entries()) {
      await writeFile(path.join(dir, `${i}.npy`), Buffer.concat([encodeNpyHeader(parseDtype(dtype), shape), data]));
    }
    const { stdout } = await python(
      'import json, sys, numpy as np\nout=[]\nfor i in range(int(sys.argv[2])):\n a=np.load(f"{sys.argv[1]}/{i}.npy")\n out.append([a.dtype.str, list(a.shape), a.tolist() if a.dtype.kind!="S" else [x.decode() for x in a.tolist()]])\nprint(json.dumps(out))',
      dir,
      String(cases.length),
    );
    assert.deepEqual(JSON.parse(stdout), [
      [
        '<i4',
        [2, 3],
        [
          [1, 2, 3],
          [4, 5, -6],
        ],
      ],
      ['>f8', [2], [1.5, -2]],
      ['|u1', [4], [0, 1, 254, 255]],
      ['|b1', [3], [true, false, true]],
      ['|S3', [2], ['abc', 'xyz']],
      ['<f2', [], 1],
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('we parse what numpy writes (v1 and v2 headers, C and Fortran order)', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ph5-npy-'));
  try {
    await python(
      'import sys, numpy as np\nfrom numpy.lib import format as f\nd=sys.argv[1]\nnp.save(d+"/a.npy", np.arange(6, dtype=">i2").reshape(2,3))\nnp.save(d+"/b.npy", np.asfortranarray(np.zeros((2,2))))\nwith open(d+"/c.npy","wb") as fh: f.write_array(fh, np.ones(3, dtype="u8"), version=(2,0))',
      dir,
    );
    const a = parseNpyHeader(await readFile(path.join(dir, 'a.npy')))!;
    assert.deepEqual([a.dtype, a.shape, a.fortranOrder, a.dataOffset % 64], [{ kind: 'int', size: 2, order: 'be' }, [2, 3], false, 0]);
    assert.equal(parseNpyHeader(await readFile(path.join(dir, 'b.npy')))!.fortranOrder, true);
    const c = parseNpyHeader(await readFile(path.join(dir, 'c.npy')))!;
    assert.deepEqual([c.dtype, c.shape], [{ kind: 'uint', size: 8, order: 'le' }, [3]]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('malformed headers are refused with PH5_ERR_NPY; short ones wait for more bytes', () => {
  const good = encodeNpyHeader(parseDtype('float32'), [5]);
  assert.equal(parseNpyHeader(good.subarray(0, 20)), null);
  assert.equal(parseNpyHeader(good.subarray(0, 4)), null);
  const bad: Buffer[] = [
    Buffer.from('PK\x03\x04 a zip file, not npy'),
    Buffer.from(good).fill(0x39, 6, 7), // version 9
    Buffer.from(good.toString('latin1').replace("'<f4'", "'<U4'"), 'latin1'),
    Buffer.from(good.toString('latin1').replace('(5,)', '(a,)'), 'latin1'),
    Buffer.from(good.toString('latin1').replace("'descr'", "'dtype'"), 'latin1'),
  ];
  for (const b of bad)
    assert.throws(
      () => parseNpyHeader(b),
      (err: any) => err.code === 'PH5_ERR_NPY',
      b.toString('latin1').slice(0, 40),
    );
});

test('readNpyHeader finds a header split over chunks and leaves the stream at the data', async () => {
  const header = encodeNpyHeader(parseDtype('int16'), [3]);
  const data = Buffer.from([1, 0, 2, 0, 3, 0]);
  const whole = Buffer.concat([header, data]);
  const stream = new PassThrough();
  const parsed = readNpyHeader(stream);
  for (let i = 0; i < whole.length; i += 7) stream.write(whole.subarray(i, i + 7));
  stream.end();
  assert.deepEqual((await parsed).shape, [3]);
  const rest: Buffer[] = [];
  for await (const chunk of stream) rest.push(chunk as Buffer);
  assert.deepEqual(Buffer.concat(rest), data);

  const truncated = new PassThrough();
  truncated.end(header.subarray(0, 30));
  await assert.rejects(readNpyHeader(truncated), (err: any) => err.code === 'PH5_ERR_NPY');
});
