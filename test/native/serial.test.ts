/**
 * The addon in a plain process, without MPI ever being initialised (how the API process
 * uses it): serial (sec2) reads of files written by h5py, serial writes read back by
 * h5py, dtype round-trips, argument and handle errors, and no leaked HDF5 ids.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { H5File, mpi, openObjectCount, Ph5NativeError, versions, type DatasetInfo } from '../../native/lib/index.js';
import { CASES, encode, PY_EXPECTED, range } from './fixtures/values.js';
import { h5py } from '../helpers/mpirun.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-native-serial-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const L = 24;

function python(program: string, ...args: string[]): string {
  const env = { ...process.env };
  delete env.OMPI_COMM_WORLD_SIZE;
  delete env.H5PY_ALWAYS_USE_MPI;
  return execFileSync('/usr/bin/python3', ['-c', program, ...args], { env, encoding: 'utf8' });
}

async function rejects(p: Promise<unknown>, code: string): Promise<Ph5NativeError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Ph5NativeError, `expected a Ph5NativeError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

function throwsSync(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof Ph5NativeError && e.code === code);
}

const wantDtype = (c: (typeof CASES)[number]) => ({
  ...c.dtype,
  order: c.dtype.size > 1 && ['int', 'uint', 'float'].includes(c.dtype.kind) ? c.dtype.order : 'le',
});

// h5py's defaults: no filters, no user-defined fill value, fill time IFSET.
const H5PY_FILL = { filters: [], fillValue: null, fillTime: 'ifset' } as const;

describe('files written by h5py, read without MPI', () => {
  const file = path.join(dir, 'from-h5py.h5');
  let raw: Record<string, string> = {};

  before(() => {
    const program = `
import json, sys, h5py, numpy as np
${PY_EXPECTED}
cases = json.loads(sys.argv[2])
raw = {}
with h5py.File(sys.argv[1], 'w') as f:
    for c in cases:
        d = c['dtype']
        a = np.array(expected(d['kind'], d['size'], ${L}), dtype=np.dtype(c['np']))
        f.create_dataset(c['name'], data=a)
        raw[c['name']] = a.tobytes().hex()
    f.create_dataset('g/chunked', data=np.arange(12, dtype='<i8'), maxshape=(None,), chunks=(5,))
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    sid = h5py.h5s.create_simple((4,))
    dsid = h5py.h5d.create(f.id, b'compact', h5py.h5t.STD_I16BE, sid, dcpl=dcpl)
    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, np.array([1, -2, 3, -4], dtype='>i2'))
    f.create_dataset('vlen', data=['a', 'bc'], dtype=h5py.string_dtype())
    f.create_dataset('compound', data=np.zeros(2, dtype=[('x', '<i4'), ('y', '<f8')]))
    f.create_dataset('grid', data=np.arange(30, dtype='<u2').reshape(5, 6))
print(json.dumps(raw))
`;
    raw = JSON.parse(python(program, file, JSON.stringify(CASES)));
  });

  test('MPI is not initialised by loading the addon or using files', () => {
    assert.equal(mpi.initialized(), false);
  });

  test("datasetInfo maps every h5py dtype back, and reads return h5py's raw bytes", async () => {
    const f = await H5File.open(file, { mode: 'r', parallel: false });
    try {
      for (const c of CASES) {
        assert.deepEqual(
          await f.datasetInfo(c.name),
          { dtype: wantDtype(c), shape: [L], maxshape: [L], layout: 'contiguous', chunks: null, ...H5PY_FILL },
          c.name,
        );
        const bytes = await f.read(c.name);
        assert.equal(bytes.toString('hex'), raw[c.name], `${c.name} bytes`);
        assert.ok(bytes.equals(encode(c.dtype, range(0, L))), `${c.name} matches the ph5 encoder`);
        // a strided selection: elements 3, 8, 13
        const some = await f.read(c.name, { start: [3], stride: [5], count: [3] });
        assert.ok(some.equals(encode(c.dtype, [3, 8, 13])), `${c.name} strided read`);
      }
      assert.equal(openObjectCount(), 1, 'only the file is open between calls');
    } finally {
      await f.close();
    }
    assert.equal(openObjectCount(), 0);
  });

  test('layouts: chunked with unlimited maxshape, compact; 2-D selections', async () => {
    const f = await H5File.open(file, { mode: 'r', parallel: false });
    const chunked: DatasetInfo = await f.datasetInfo('g/chunked');
    assert.deepEqual(chunked, {
      dtype: { kind: 'int', size: 8, order: 'le' },
      shape: [12],
      maxshape: [-1],
      layout: 'chunked',
      chunks: [5],
      ...H5PY_FILL,
      fillTime: 'alloc',
    }); // h5py: ALLOC for chunked
    assert.deepEqual(await f.datasetInfo('compact'), {
      dtype: { kind: 'int', size: 2, order: 'be' },
      shape: [4],
      maxshape: [4],
      layout: 'compact',
      chunks: null,
      ...H5PY_FILL,
    });
    assert.deepEqual([...(await f.read('compact')).values()], [0, 1, 0xff, 0xfe, 0, 3, 0xff, 0xfc]);
    const block = await f.read('grid', { start: [1, 2], stride: [2, 3], count: [2, 2] }); // rows 1,3 cols 2,5
    assert.deepEqual(
      [0, 1, 2, 3].map((k) => block.readUInt16LE(k * 2)),
      [8, 11, 20, 23],
    );
    const empty = await f.read('grid', { start: [0, 0], stride: [1, 1], count: [0, 6] });
    assert.equal(empty.length, 0);
    await f.close();
    assert.equal(openObjectCount(), 0);
  });

  test('types ph5 has no dtype for are PH5_ERR_TYPE, missing things PH5_ERR_NOT_FOUND', async () => {
    const f = await H5File.open(file, { mode: 'r', parallel: false });
    // Variable-length strings have a dtype now, but raw reads point to readStrings.
    await rejects(f.read('vlen'), 'PH5_ERR_TYPE');
    assert.deepEqual(await f.readStrings('vlen'), ['a', 'bc']);
    assert.equal((await f.datasetInfo('compound')).dtype.kind, 'compound');
    await rejects(f.datasetInfo('g/nothing'), 'PH5_ERR_NOT_FOUND');
    await rejects(f.read('no/such/path'), 'PH5_ERR_NOT_FOUND');
    await rejects(f.datasetInfo('g'), 'PH5_ERR_TYPE');
    await rejects(f.read('grid', { start: [0, 4], stride: [1, 1], count: [1, 3] }), 'PH5_ERR_SELECTION');
    await rejects(f.write('grid', null, Buffer.alloc(0)), 'PH5_ERR_READ_ONLY');
    await f.close();
    await rejects(H5File.open(path.join(dir, 'absent.h5'), { mode: 'r', parallel: false }), 'PH5_ERR_NOT_FOUND');
    await rejects(H5File.open(file, { mode: 'create', parallel: false }), 'PH5_ERR_EXISTS');
    // a parallel open needs MPI, which this process never initialised
    await rejects(H5File.open(file, { mode: 'r', parallel: true }), 'PH5_ERR_MPI');
    assert.equal(openObjectCount(), 0);
    assert.equal(mpi.initialized(), false);
  });
});

describe('serial writes read by h5py', () => {
  test('create, write (also un-awaited, in call order), reopen rw, overwrite', async () => {
    const file = path.join(dir, 'serial.h5');
    const f = await H5File.open(file, { mode: 'create', parallel: false });
    const i4 = CASES.find((c) => c.name === 'i4be')!;
    // fired without awaiting: create must run before the writes, the read after them
    const created = f.createDataset('a/b/c', { dtype: i4.dtype, shape: [L], chunks: [8] });
    const w1 = f.write('a/b/c', { start: [0], stride: [1], count: [12] }, encode(i4.dtype, range(0, 12)));
    const w2 = f.write('a/b/c', { start: [12], stride: [1], count: [12] }, encode(i4.dtype, range(12, 12)));
    const read = f.read('a/b/c');
    await created;
    assert.deepEqual(await w1, { collective: false, noCollectiveCause: [] }, 'serial files report no collective I/O');
    await w2;
    assert.ok((await read).equals(encode(i4.dtype, range(0, L))));
    await f.createDataset('flags', { dtype: { kind: 'bool', size: 1, order: 'le' }, shape: [L], fillValue: Buffer.from([1]) });
    await f.write('flags', { start: [0], stride: [2], count: [L / 2] }, Buffer.alloc(L / 2, 0));
    await f.close();

    const g = await H5File.open(file, { mode: 'rw', parallel: false });
    await g.write('a/b/c', { start: [1], stride: [1], count: [1] }, encode(i4.dtype, [100]));
    await g.close();
    assert.equal(openObjectCount(), 0);

    const out = await h5py<{ c: number[]; cdt: string; chunks: number[]; flags: boolean[] }>(
      file,
      "out = {'c': f['a/b/c'][()].tolist(), 'cdt': f['a/b/c'].dtype.str, 'chunks': list(f['a/b/c'].chunks), 'flags': f['flags'][()].tolist()}",
      "f = h5py.File(path, 'r')",
    );
    const want = range(0, L).map((i) => Number(BigInt.asIntN(32, (BigInt((i * 37) % 251) - 125n) * 16777259n)));
    want[1] = Number((BigInt((100 * 37) % 251) - 125n) * 16777259n);
    assert.deepEqual(out.c, want);
    assert.equal(out.cdt, '>i4');
    assert.deepEqual(out.chunks, [8]);
    assert.deepEqual(
      out.flags,
      range(0, L).map((i) => i % 2 === 1),
      'bool fill value TRUE where not written',
    );
  });
});

describe('the raw addon', () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const require = createRequire(import.meta.url);
  // dist/test/native -> repository root
  const raw = require(path.resolve(here, '..', '..', '..', 'native', 'build', 'Release', 'ph5_native.node')) as Record<string, (...a: unknown[]) => unknown>;

  test('bad arguments throw synchronously; unknown handles reject with PH5_ERR_CLOSED', async () => {
    throwsSync(() => raw.fileOpen!(123, 'r', false), 'PH5_ERR_ARGUMENT');
    throwsSync(() => raw.fileOpen!('/tmp/x.h5', 'w', false), 'PH5_ERR_ARGUMENT');
    throwsSync(() => raw.fileOpen!('/tmp/x.h5', 'r', 'yes'), 'PH5_ERR_ARGUMENT');
    throwsSync(() => raw.datasetRead!(0, 'x', null), 'PH5_ERR_ARGUMENT');
    throwsSync(() => raw.datasetRead!(1.5, 'x', null), 'PH5_ERR_ARGUMENT');
    throwsSync(() => raw.datasetRead!(1, 'x', { start: [0], count: [1, 2] }), 'PH5_ERR_ARGUMENT');
    throwsSync(() => raw.datasetWrite!(1, 'x', null, Buffer.alloc(0), true, { kind: 'int', size: 3, order: 'le' }), 'PH5_ERR_ARGUMENT');
    throwsSync(() => raw.datasetCreate!(1, 'x', { dtype: { kind: 'int', size: 4, order: 'middle' }, shape: [1] }), 'PH5_ERR_ARGUMENT');
    throwsSync(() => raw.datasetCreate!(1, 'x', { dtype: { kind: 'int', size: 4, order: 'le' }, shape: [4], chunks: [8] }), 'PH5_ERR_ARGUMENT');
    throwsSync(() => raw.datasetCreate!(1, 'x', { dtype: { kind: 'int', size: 4, order: 'le' }, shape: [1], fillValue: Buffer.alloc(2) }), 'PH5_ERR_ARGUMENT');
    throwsSync(() => raw.mpiGather!('not a buffer'), 'PH5_ERR_ARGUMENT');
    await rejects(raw.fileClose!(99999) as Promise<void>, 'PH5_ERR_CLOSED');
    await rejects(raw.datasetInfo!(99999, 'x') as Promise<void>, 'PH5_ERR_CLOSED');
    // collectives without MPI: a clear error, not a crash
    await rejects(raw.mpiBarrier!() as Promise<void>, 'PH5_ERR_MPI');
    assert.equal(openObjectCount(), 0);
    assert.equal(mpi.initialized(), false);
  });

  test('versions: runtime HDF5 and MPI, and the build matches them', () => {
    const v = versions();
    console.log(JSON.stringify(v));
    assert.match(v.hdf5, /^\d+\.\d+\.\d+$/);
    assert.equal(v.hdf5, v.hdf5Build);
    assert.match(v.mpi, /^\d+\.\d+$/);
    assert.ok(v.mpiLibrary.length > 0 && !v.mpiLibrary.includes('\n'));
    assert.ok(v.mpiLibrary.startsWith(v.mpiBuild), `${v.mpiLibrary} vs ${v.mpiBuild}`);
    assert.equal(v.mpiMismatch, null);
    assert.equal(mpi.initialized(), false);
  });
});
