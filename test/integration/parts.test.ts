/**
 * Large writes in row-block parts, against a live stack (2 real ranks, auth on), checked by
 * h5py: `ph5 put` in parts equals its source for 1-D and 2-D arrays, odd sizes (last part
 * short) and a big-endian .npy; the typed client's writeInParts reports progress over the
 * whole; a part sent again with the same Idempotency-Key gets the same job and the data is
 * written once; a part cut off mid-body leaves nothing staged and its retry completes; two
 * puts in parts at once to different datasets do not mix; a part refused mid-way is
 * reported with the rows written and not written.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { createPh5Client, waitForJob, waitForParts, writeInParts } from '../../services/client/index.js';
import { h5py } from '../helpers/h5.js';
import { ShardQueues } from '../helpers/queues.js';
import { runPh5, type Run } from '../helpers/cli.js';
import { startStack, type Stack } from '../helpers/stack.js';

const TOKEN = 'parts-test-token-0123456789abcdef';
const PROJECT = 'parts';
let stack: Stack;
let dir: string;

before(async () => {
  stack = await startStack({ ranks: 2, env: { PH5_TOKENS: JSON.stringify([{ project: PROJECT, role: 'admin', token: TOKEN }]) } });
  dir = await mkdtemp(path.join(os.tmpdir(), 'ph5-parts-'));
});
after(async () => {
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

const ph5 = (args: string[]): Promise<Run> => runPh5(stack.url, TOKEN, args);

const python = (code: string, ...args: string[]) => promisify(execFile)('/usr/bin/python3', ['-c', code, ...args]);
const h5file = (name: string) => path.join(stack.dataDir, PROJECT, name);

/** Whether the dataset equals the .npy, exactly (dtype and values), read by h5py. */
async function equalsNpy(file: string, dataset: string, npy: string): Promise<{ dtype: string; shape: number[]; equal: boolean }> {
  return h5py(
    h5file(file),
    `a = np.load(${JSON.stringify(npy)}); d = h5py.File(path, 'r')[${JSON.stringify(dataset)}]; out = {'dtype': d.dtype.str, 'shape': list(d.shape), 'equal': bool(d.shape == a.shape and np.array_equal(d[()], a))}`,
  );
}

const SMALL_PARTS = ['--parts-above', '1k', '--part-size', '10k', '--connections', '3'];

test('ph5 put in parts: 1-D with an odd length (last part short) equals its source', { timeout: 180_000 }, async () => {
  const src = path.join(dir, 'one.npy');
  await python('import sys, numpy as np; np.save(sys.argv[1], np.arange(10007, dtype="<f8") * 1.5)', src);
  const put = await ph5(['put', 'p.h5:/one', src, ...SMALL_PARTS, '--json']);
  assert.equal(put.code, 0, put.stderr);
  const summary = JSON.parse(put.stdout);
  assert.equal(summary.state, 'completed');
  assert.equal(summary.parts, Math.ceil(10007 / 1280)); // 10 KiB parts of 8-byte rows
  assert.equal(summary.rowsWritten, '0:10007');
  assert.equal(summary.rowsNotWritten, 'none');
  // Parts this small (10 KiB) go through group commit: several may share a job.
  const jobs = new Set(summary.jobs.map((j: { id: string }) => j.id)).size;
  assert.ok(jobs >= 1 && jobs <= summary.parts, `${jobs} jobs for ${summary.parts} parts`);
  assert.equal(summary.jobs.length, summary.parts, 'a job named for every part');
  assert.deepEqual(await equalsNpy('p.h5', '/one', src), { dtype: '<f8', shape: [10007], equal: true });
});

test('ph5 put in parts: 2-D odd shape and a big-endian .npy (byte order kept) equal their sources; one progress bar', { timeout: 180_000 }, async () => {
  const src = path.join(dir, 'two.npy');
  await python('import sys, numpy as np; np.save(sys.argv[1], (np.arange(333 * 37).reshape(333, 37) - 5000).astype(">i4"))', src);
  const put = await ph5(['put', 'p.h5:/grp/two', src, ...SMALL_PARTS]);
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stderr, /created p\.h5:\/grp\/two \(>i4, \[333, 37\]\)/);
  assert.match(put.stderr, /upload p\.h5:\/grp\/two: .*100%/);
  assert.match(put.stderr, /sent in 5 parts/); // 10 KiB / 148-byte rows = 69 rows a part
  assert.match(put.stdout, /^[1-5] jobs completed \(5 parts of p\.h5:\/grp\/two\)$/m);
  assert.deepEqual(await equalsNpy('p.h5', '/grp/two', src), { dtype: '>i4', shape: [333, 37], equal: true });

  // A little-endian .npy into the same big-endian dataset: parts carry ?dtype=<i4, converted.
  const le = path.join(dir, 'two-le.npy');
  await python('import sys, numpy as np; np.save(sys.argv[1], (np.arange(333 * 37).reshape(333, 37) * 3).astype("<i4"))', le);
  const again = await ph5(['put', 'p.h5:/grp/two', le, ...SMALL_PARTS, '--quiet']);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(await equalsNpy('p.h5', '/grp/two', le), { dtype: '>i4', shape: [333, 37], equal: true });
});

test('two puts in parts at once, to different datasets, do not mix', { timeout: 180_000 }, async () => {
  const a = path.join(dir, 'a.npy');
  const b = path.join(dir, 'b.npy');
  await python(
    'import sys, numpy as np; np.save(sys.argv[1], np.arange(4001 * 3, dtype="<f4").reshape(4001, 3)); np.save(sys.argv[2], -np.arange(4001 * 3, dtype="<f4").reshape(4001, 3))',
    a,
    b,
  );
  const [pa, pb] = await Promise.all([ph5(['put', 'mix.h5:/a', a, ...SMALL_PARTS, '--quiet']), ph5(['put', 'mix.h5:/b', b, ...SMALL_PARTS, '--quiet'])]);
  assert.equal(pa.code, 0, pa.stderr);
  assert.equal(pb.code, 0, pb.stderr);
  assert.deepEqual(await equalsNpy('mix.h5', '/a', a), { dtype: '<f4', shape: [4001, 3], equal: true });
  assert.deepEqual(await equalsNpy('mix.h5', '/b', b), { dtype: '<f4', shape: [4001, 3], equal: true });
});

test('typed client: writeInParts from a buffer, progress over the whole, waitForParts says every row is written', { timeout: 180_000 }, async () => {
  const client = createPh5Client({ baseUrl: stack.url, token: TOKEN });
  const rows = 1001;
  const cols = 16;
  const created = await client.POST('/v1/files/{file}/datasets', {
    params: { path: { file: 'c.h5' } },
    body: { path: '/m', dtype: 'uint16', shape: [rows, cols] },
  });
  assert.equal(created.response.status, 202);
  const values = new Uint16Array(rows * cols).map((_, i) => (i * 7) % 65536);
  const progress: number[] = [];
  const upload = await writeInParts({
    baseUrl: stack.url,
    token: TOKEN,
    file: 'c.h5',
    path: '/m',
    shape: [rows, cols],
    itemsize: 2,
    source: { buffer: Buffer.from(values.buffer) },
    partBytes: 4096,
    connections: 4,
    onProgress: (sent, total) => {
      assert.equal(total, rows * cols * 2);
      progress.push(sent);
    },
  });
  assert.ok(upload.accepted, JSON.stringify(upload.parts.filter((p) => p.status !== 'accepted')));
  assert.equal(upload.parts.length, Math.ceil(rows / 128));
  assert.equal(progress.at(-1), rows * cols * 2);
  const result = await waitForParts(upload, (id) => waitForJob(client, id));
  assert.ok(result.completed);
  assert.deepEqual(result.written.at(-1)![1], rows);
  const seen = await h5py<boolean>(
    h5file('c.h5'),
    `d = h5py.File(path, 'r')['m'][()]; out = bool(np.array_equal(d.ravel(), (np.arange(${rows * cols}) * 7) % 65536))`,
  );
  assert.equal(seen, true);
});

test('typed client: the same upload sent again (same upload id, so the same keys) answers the same jobs and queues nothing', { timeout: 180_000 }, async () => {
  const client = createPh5Client({ baseUrl: stack.url, token: TOKEN });
  const rows = 4 * 131072; // 4 MiB of float64 in 1 MiB parts: big enough that a replay is answered mid-body
  await client.POST('/v1/files/{file}/datasets', { params: { path: { file: 'again.h5' } }, body: { path: '/x', dtype: 'float64', shape: [rows] } });
  const values = Buffer.from(new Float64Array(rows).map((_, i) => i / 4).buffer);
  const opts = {
    baseUrl: stack.url,
    token: TOKEN,
    file: 'again.h5',
    path: '/x',
    shape: [rows],
    itemsize: 8,
    source: { buffer: values },
    partBytes: 1 << 20,
    connections: 2,
    uploadId: 'fixed-upload-id',
  };
  const first = await writeInParts(opts);
  assert.ok(first.accepted);
  const jobsAfterFirst = (await client.GET('/v1/jobs', { params: { query: { file: 'again.h5', limit: 50 } } })).data!.jobs.length;
  const second = await writeInParts(opts);
  assert.ok(second.accepted, JSON.stringify(second.parts));
  assert.deepEqual(
    second.parts.map((p) => p.job!.id),
    first.parts.map((p) => p.job!.id),
  );
  assert.ok(second.parts.every((p) => p.attempts === 1));
  assert.equal((await client.GET('/v1/jobs', { params: { query: { file: 'again.h5', limit: 50 } } })).data!.jobs.length, jobsAfterFirst, 'no new job');
  const result = await waitForParts(second, (id) => waitForJob(client, id));
  assert.ok(result.completed);
  const seen = await h5py<boolean>(h5file('again.h5'), `out = bool(np.array_equal(h5py.File(path, 'r')['x'][()], np.arange(${rows}) / 4))`);
  assert.equal(seen, true);
});

/** A raw part over a plain socket; `cutAfter` bytes sent then the connection is destroyed. */
function rawPart(opts: {
  file: string;
  dataset: string;
  select: string;
  body: Buffer;
  key: string;
  cutAfter?: number;
}): Promise<{ status: number; json: any; headers: http.IncomingHttpHeaders } | 'cut'> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${stack.url}/v1/files/${opts.file}/datasets/${encodeURIComponent(opts.dataset)}/value`);
    url.searchParams.set('select', opts.select);
    const req = http.request(url, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'content-type': 'application/octet-stream',
        'content-length': String(opts.body.length),
        'idempotency-key': opts.key,
      },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    if (opts.cutAfter !== undefined) {
      req.on('error', () => resolve('cut'));
      req.write(opts.body.subarray(0, opts.cutAfter), () => setTimeout(() => req.destroy(), 300));
    } else {
      req.on('error', reject);
      req.end(opts.body);
    }
  });
}

test('a part sent again with the same Idempotency-Key gets the same job; the data is written once', { timeout: 180_000 }, async () => {
  const client = createPh5Client({ baseUrl: stack.url, token: TOKEN });
  await client.POST('/v1/files/{file}/datasets', { params: { path: { file: 'r.h5' } }, body: { path: '/x', dtype: 'float64', shape: [20000] } });
  const body = Buffer.from(new Float64Array(10000).map((_, i) => i + 0.5).buffer);
  const first = await rawPart({ file: 'r.h5', dataset: 'x', select: '[0:10000]', body, key: 'retry-part-0' });
  assert.ok(first !== 'cut' && first.status === 202, JSON.stringify(first));
  const again = await rawPart({ file: 'r.h5', dataset: 'x', select: '[0:10000]', body, key: 'retry-part-0' });
  assert.ok(again !== 'cut' && again.status === 202);
  assert.equal(again.json.job.id, first.json.job.id);
  assert.equal(again.headers['idempotent-replayed'], 'true');
  await waitForJob(client, first.json.job.id);
  const list = await client.GET('/v1/jobs', { params: { query: { file: 'r.h5', limit: 50 } } });
  const writes = list.data!.jobs.filter((j) => j.ops.some((op) => op.op === 'write'));
  assert.equal(writes.length, 1, 'one write job for the part, not two');
  const seen = await h5py<boolean>(h5file('r.h5'), "d = h5py.File(path, 'r')['x'][0:10000]; out = bool(np.array_equal(d, np.arange(10000) + 0.5))");
  assert.equal(seen, true);
});

test('a part cut off mid-body leaves nothing staged and no job; its retry with the same key completes', { timeout: 180_000 }, async () => {
  const client = createPh5Client({ baseUrl: stack.url, token: TOKEN });
  await client.POST('/v1/files/{file}/datasets', { params: { path: { file: 'cut.h5' } }, body: { path: '/x', dtype: 'float64', shape: [400000] } });
  const body = Buffer.from(new Float64Array(200000).map((_, i) => i * 2).buffer); // 1.6 MB: streamed to staging
  const jobsBefore = (await client.GET('/v1/jobs', { params: { query: { file: 'cut.h5', limit: 50 } } })).data!.jobs.length;
  const cut = await rawPart({ file: 'cut.h5', dataset: 'x', select: '[200000:400000]', body, key: 'cut-part-1', cutAfter: 700_000 });
  assert.equal(cut, 'cut');
  const staging = path.join(stack.dataDir, '.staging');
  let left: string[] = [];
  for (let i = 0; i < 50; i++) {
    left = await readdir(staging).catch(() => []);
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(left, [], 'the cut part left nothing staged');
  assert.equal((await client.GET('/v1/jobs', { params: { query: { file: 'cut.h5', limit: 50 } } })).data!.jobs.length, jobsBefore, 'and no job');

  const retry = await rawPart({ file: 'cut.h5', dataset: 'x', select: '[200000:400000]', body, key: 'cut-part-1' });
  assert.ok(retry !== 'cut' && retry.status === 202, JSON.stringify(retry));
  assert.equal(retry.headers['idempotent-replayed'], undefined, 'a fresh request: the cut one released its key');
  const job = await waitForJob(client, retry.json.job.id);
  assert.equal(job.state, 'completed');
  const seen = await h5py<boolean>(h5file('cut.h5'), "d = h5py.File(path, 'r')['x'][200000:400000]; out = bool(np.array_equal(d, np.arange(200000) * 2.0))");
  assert.equal(seen, true);
});

test('a part refused mid-way: the parts before it stay applied, later ones are not sent, and the rows are told apart', { timeout: 180_000 }, async () => {
  const client = createPh5Client({ baseUrl: stack.url, token: TOKEN });
  await client.POST('/v1/files/{file}/datasets', {
    params: { path: { file: 'half.h5' } },
    body: { path: '/x', dtype: 'float64', shape: [1000], fillValue: -1 },
  });
  // The client believes in 1250 rows: the part reaching past row 1000 is refused (400).
  const values = Buffer.from(new Float64Array(1250).map((_, i) => i).buffer);
  const upload = await writeInParts({
    baseUrl: stack.url,
    token: TOKEN,
    file: 'half.h5',
    path: '/x',
    shape: [1250],
    itemsize: 8,
    source: { buffer: values },
    partBytes: 1600,
    connections: 1,
  });
  assert.equal(upload.accepted, false);
  assert.deepEqual(
    upload.parts.map((p) => p.status),
    ['accepted', 'accepted', 'accepted', 'accepted', 'accepted', 'refused', 'skipped'],
  );
  const refused = upload.parts[5]!;
  assert.equal(refused.httpStatus, 400);
  assert.equal(refused.code, 'PH5_ERR_SELECTION');
  assert.equal(refused.attempts, 1, 'a refusal is not retried');
  const result = await waitForParts(upload, (id) => waitForJob(client, id));
  assert.equal(result.completed, false);
  assert.deepEqual(result.written, [
    [0, 200],
    [200, 400],
    [400, 600],
    [600, 800],
    [800, 1000],
  ]);
  assert.deepEqual(result.notWritten, [
    [1000, 1200],
    [1200, 1250],
  ]);
  const seen = await h5py<boolean>(h5file('half.h5'), "d = h5py.File(path, 'r')['x'][()]; out = bool(np.array_equal(d, np.arange(1000.0)))");
  assert.equal(seen, true, 'the accepted parts are in the file');
});

test('ph5 put whose part job fails: exit 1, the rows written and the rows not written are printed', { timeout: 180_000 }, async () => {
  const src = path.join(dir, 'fail.npy');
  await python('import sys, numpy as np; np.save(sys.argv[1], np.arange(131072, dtype="<f8"))', src); // 1 MiB
  const created = await ph5(['put', 'fail.h5:/x', src, '--no-parts', '--quiet']);
  assert.equal(created.code, 0, created.stderr);
  const staging = path.join(stack.dataDir, '.staging');
  const queue = new ShardQueues(stack.redis.url);
  await queue.pause();
  let put: Promise<Run>;
  try {
    // 128 KiB parts (above the group-commit size: each its own job and staged file).
    put = ph5(['put', 'fail.h5:/x', src, '--parts-above', '1k', '--part-size', '128k']);
    let staged: string[] = [];
    for (let i = 0; i < 300 && staged.length < 8; i++) {
      staged = (await readdir(staging)).filter((f) => f.endsWith('.bin'));
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(staged.length, 8, `8 parts staged: ${staged.join(' ')}`);
    await rm(path.join(staging, staged[0]!)); // one part's payload vanishes: its job fails
  } finally {
    await queue.resume();
    await queue.close();
  }
  const r = await put;
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /fail\.h5:\/x written in part: job \S+ \(rows \d+:\d+\) failed: PH5_ERR_STAGING/);
  const notWritten = /rows NOT written: (\d+):(\d+)$/m.exec(r.stderr);
  assert.ok(notWritten, r.stderr);
  assert.equal(Number(notWritten[2]) - Number(notWritten[1]), 16384, 'exactly one part');
  assert.match(r.stderr, /rows written: \d+:\d+/);
});
