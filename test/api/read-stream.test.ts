/**
 * Streamed reads over a real socket, with pieces of 4 KiB so that every answer is many
 * pieces: raw, .npy and JSON answers equal what h5py reads (several dtypes, big-endian,
 * int64 beyond 2^53, strided 2-D and 3-D selections, sizes that are not a multiple of the
 * piece, rows bigger than a piece); the read lease is released when the client goes away
 * mid-answer and when it stops reading; an HDF5 failure mid-answer cuts the body short.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { parseDtype } from '../../services/shared/dtype.js';
import { decodeJson } from '../../services/shared/json-codec.js';
import { startApi, type TestApi } from '../helpers/api.js';

const run = promisify(execFile);
let api: TestApi;
let base: string;
let dir: string;

async function py<T = unknown>(snippet: string, ...args: string[]): Promise<T> {
  const program = ['import json, sys, h5py, numpy as np', 'args = sys.argv[1:]', 'out = None', snippet, 'print(json.dumps(out))'].join('\n');
  const { stdout } = await run('/usr/bin/python3', ['-c', program, ...args], { maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(stdout) as T;
}

const STALL_MS = 1500;

before(async () => {
  api = await startApi({ PH5_READ_PIECE_BYTES: '4096', PH5_READ_STALL_MS: String(STALL_MS), PH5_RATE_LIMIT_PER_MINUTE: '0' });
  dir = path.join(api.config.dataDir, 'default');
  await mkdir(dir, { recursive: true });
  await py(
    `
with h5py.File(args[0], 'w') as f:
    f['f8'] = np.linspace(-1e3, 1e3, 3001)
    f['be_i4'] = np.arange(-5000, 5000, dtype='>i4').reshape(100, 100)
    f['wide'] = np.array([2**53 + 1, -(2**63), 2**63 - 1, 5, -7] * 700, dtype='<i8')
    f['be_u8'] = np.array([2**64 - 1, 2**53, 3] * 900, dtype='>u8')
    f['u1'] = (np.arange(10000) % 256).astype('u1')
    f['flags'] = np.arange(5000) % 3 == 0
    f['f2'] = np.array([0.5, np.inf, -np.inf, np.nan, -2.25, 65504] * 1000, dtype='<f2')
    f['f4be'] = np.array([1.5, np.nan, -np.inf, 3e38] * 1500, dtype='>f4')
    f['s'] = np.array([b'abc', b'', b'seven77', b'x'] * 1500, dtype='S7')
    f['scalar'] = np.float64(-0.125)
    f['rows'] = np.arange(3 * 3000, dtype='<f8').reshape(3, 3000)
    f['cube'] = np.arange(3 * 4 * 3000, dtype='<i2').reshape(3, 4, 3000)
    f.create_dataset('gz', data=np.arange(64 * 1024, dtype='<i8').reshape(1024, 64), chunks=(64, 64), compression='gzip')
with h5py.File(args[1], 'w') as f:
    f['x'] = np.arange(8 * 1024 * 1024, dtype='<f8')
`,
    path.join(dir, 'm.h5'),
    path.join(dir, 'big.h5'),
  );
  base = await api.app.listen({ port: 0, host: '127.0.0.1' });
});
after(async () => {
  await api?.stop();
});

/** A GET over a real socket: status, headers, the bytes received, and whether the body was complete. */
function get(url: string, accept: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${base}${url}`, { headers: { accept } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        const done = () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete });
        res.on('end', done);
        res.on('error', done); // a cut-short body (aborted): resolved with what came
        res.on('aborted', done);
      })
      .on('error', reject);
  });
}

const CASES: Array<[string, string]> = [
  ['f8', ''],
  ['f8', '[7:2999:3]'],
  ['be_i4', ''],
  ['be_i4', '[3:97:2,5:90:7]'],
  ['wide', ''],
  ['be_u8', '[1:2700:2]'],
  ['u1', '[1:9999:2]'],
  ['flags', ''],
  ['f2', ''],
  ['f4be', '[0:6000]'],
  ['s', ''],
  ['scalar', ''],
  ['rows', '[0:3,1:2999:2]'],
  ['cube', '[0:3,1:4,0:3000]'],
  ['cube', '[1:3,0:4:3,5:2900:3]'],
];

test('streamed raw, .npy and JSON answers equal what h5py reads, in many pieces', { timeout: 120_000 }, async () => {
  const file = path.join(dir, 'm.h5');
  const expected = await py<Array<{ hex: string; dtype: string; shape: number[] }>>(
    `
out = []
with h5py.File(args[0], 'r') as f:
    for name, sel in json.loads(args[1]):
        d = f[name]
        v = d[()] if sel == '' else eval('d[' + sel[1:-1] + ']')
        v = np.asarray(v, dtype=d.dtype)
        out.append({'hex': v.tobytes().hex(), 'dtype': v.dtype.str, 'shape': list(v.shape)})
`,
    file,
    JSON.stringify(CASES),
  );
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'ph5-npy-'));
  try {
    const npyFiles: string[] = [];
    for (const [i, [name, sel]] of CASES.entries()) {
      const url = `/v1/files/m.h5/datasets/${name}/value${sel ? `?select=${sel}` : ''}`;
      const raw = await get(url, 'application/octet-stream');
      assert.equal(raw.status, 200, `${url}: ${raw.body.toString()}`);
      assert.ok(raw.complete, url);
      assert.equal(Number(raw.headers['content-length']), raw.body.length, url);
      assert.equal(raw.body.toString('hex'), expected[i]!.hex, `raw ${url}`);
      assert.equal(raw.headers['x-ph5-shape'], expected[i]!.shape.join(','), url);

      const json = await get(url, 'application/json');
      assert.equal(json.status, 200, url);
      assert.ok(json.complete, url);
      const dtypeName = String(raw.headers['x-ph5-dtype']);
      const whole = JSON.stringify({
        dtype: dtypeName,
        shape: expected[i]!.shape,
        data: decodeJson(Buffer.from(expected[i]!.hex, 'hex'), parseDtype(dtypeName), expected[i]!.shape),
      });
      assert.equal(json.body.toString(), whole, `JSON ${url}: the same text as the whole-selection encoder`);

      const npy = await get(url, 'application/x-npy');
      assert.equal(npy.status, 200, url);
      assert.equal(Number(npy.headers['content-length']), npy.body.length, url);
      const npyFile = path.join(tmp, `${i}.npy`);
      await writeFile(npyFile, npy.body);
      npyFiles.push(npyFile);
    }
    const loaded = await py<Array<{ hex: string; dtype: string; shape: number[] }>>(
      `
out = []
for p in args:
    a = np.load(p)
    out.append({'hex': a.tobytes().hex(), 'dtype': a.dtype.str, 'shape': list(a.shape)})
`,
      ...npyFiles,
    );
    loaded.forEach((l, i) => assert.deepEqual(l, expected[i], `.npy of ${CASES[i]!.join(' ')}`));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

/** The write side of the file's lease can be taken within `ms` (no read holds it). */
async function writerGetsIn(file: string, ms: number): Promise<number> {
  const started = Date.now();
  const lease = await Promise.race([
    api.app.locks.acquireWrite('default', file),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the write lease of ${file} was not free within ${ms} ms`)), ms)),
  ]);
  await lease.release();
  return Date.now() - started;
}

test('HEAD answers the headers of the read (exact Content-Length) without reading the selection', async () => {
  const head = await api.app.inject({
    method: 'HEAD',
    url: '/v1/files/big.h5/datasets/x/value?select=[0:1000]',
    headers: { accept: 'application/octet-stream' },
  });
  assert.equal(head.statusCode, 200);
  assert.equal(head.headers['content-length'], '8000');
  assert.equal(head.headers['x-ph5-shape'], '1000');
  assert.equal(head.rawPayload.length, 0);
});

test('a client that goes away mid-answer releases the read lease at once', { timeout: 60_000 }, async () => {
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    const req = http.get(`${base}/v1/files/big.h5/datasets/x/value`, { headers: { accept: 'application/octet-stream' } }, (res) => {
      assert.equal(res.statusCode, 200);
      res.on('data', (c: Buffer) => {
        received += c.length;
        if (received > 1024 * 1024) {
          req.destroy();
          resolve();
        }
      });
    });
    req.on('error', () => {});
    req.on('close', resolve);
    setTimeout(() => reject(new Error('no data')), 30_000);
  });
  assert.ok(received < 64 * 1024 * 1024, 'the client left before the end');
  const waited = await writerGetsIn('big.h5', 5_000);
  assert.ok(waited < 5_000);
  // And the file reads whole again afterwards.
  const again = await get('/v1/files/big.h5/datasets/x/value?select=[8388000:8388608]', 'application/octet-stream');
  assert.equal(again.body.readDoubleLE(0), 8388000);
});

test('a client that stops reading is cut off after PH5_READ_STALL_MS and the lease is released', { timeout: 60_000 }, async () => {
  let res!: http.IncomingMessage;
  const req = http.get(`${base}/v1/files/big.h5/datasets/x/value`, { headers: { accept: 'application/octet-stream' } });
  await new Promise<void>((resolve) => req.on('response', (r) => ((res = r), resolve())));
  res.pause(); // never reads: the kernel's buffers fill, then the server's pieces wait
  const started = Date.now();
  await writerGetsIn('big.h5', 20_000);
  const waited = Date.now() - started;
  assert.ok(waited >= STALL_MS / 2, `the lease was free after ${waited} ms: the read did not hold it while the client was connected`);
  // The client, reading now, gets a body cut short, never the whole 64 MiB.
  let received = 0;
  const complete = await new Promise<boolean>((resolve) => {
    res.on('data', (c: Buffer) => (received += c.length));
    res.on('end', () => resolve(res.complete));
    res.on('error', () => resolve(false));
    res.on('aborted', () => resolve(false));
    res.resume();
  });
  assert.equal(complete, false);
  assert.ok(received < 64 * 1024 * 1024, `received ${received}`);
});

test('an HDF5 failure mid-answer cuts the body short (raw and JSON) and releases the lease', { timeout: 60_000 }, async () => {
  // Damage the gzip chunk of rows 896..959: the first pieces read, that one fails.
  const file = path.join(dir, 'm.h5');
  const [offset, size] = await py<[number, number]>(
    "i = h5py.File(args[0], 'r')['gz'].id.get_chunk_info_by_coord((896, 0)); out = [i.byte_offset, i.size]",
    file,
  );
  const fd = await open(file, 'r+');
  await fd.write(Buffer.alloc(size, 0xab), 0, size, offset);
  await fd.close();
  const raw = await get('/v1/files/m.h5/datasets/gz/value', 'application/octet-stream');
  assert.equal(raw.status, 200, 'the failure comes after the first piece was sent');
  assert.equal(Number(raw.headers['content-length']), 1024 * 64 * 8);
  assert.equal(raw.complete, false);
  assert.ok(raw.body.length < 1024 * 64 * 8, `${raw.body.length} bytes`);
  assert.ok(raw.body.length > 0);
  assert.equal(raw.body.readBigInt64LE(8 * 64), 64n, 'what did come is right');
  const json = await get('/v1/files/m.h5/datasets/gz/value', 'application/json');
  assert.equal(json.status, 200);
  assert.equal(json.complete, false, 'a chunked JSON body without its last chunk');
  assert.throws(() => JSON.parse(json.body.toString()));
  // A selection before the damage still reads; the lease is free.
  const before = await get('/v1/files/m.h5/datasets/gz/value?select=[0:64,0:64]', 'application/octet-stream');
  assert.equal(before.complete, true);
  // A read that fails in its first piece is an ordinary error answer.
  const first = await get('/v1/files/m.h5/datasets/gz/value?select=[896:900,0:64]', 'application/octet-stream');
  assert.equal(first.status, 500);
  assert.match(String(first.headers['content-type']), /problem\+json/);
  await writerGetsIn('m.h5', 5_000);
});
