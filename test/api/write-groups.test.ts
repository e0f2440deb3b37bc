/**
 * Group commit of small writes (services/api/domain/write-groups.ts): concurrent small writes to one
 * file share one staged file and one job, in arrival order, each request still answered
 * with its own operation; large writes and refused writes never join a group.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { JobData, WriteOp } from '../../services/shared/jobs.js';
import { startApi, type TestApi } from '../helpers/api.js';

const ROW = 16; // float64 values per row: 128 bytes
const ROWS = 48;

let api: TestApi;
before(async () => {
  // Writes of more than one row (> 128 bytes) are "large" here.
  api = await startApi({ PH5_GROUP_WRITE_BYTES: String(ROW * 8) });
  const res = await api.app.inject({ method: 'POST', url: '/v1/files/g.h5/datasets', payload: { path: 'rows', dtype: 'float64', shape: [ROWS, ROW] } });
  assert.equal(res.statusCode, 202, res.body);
});
after(async () => {
  await api?.stop();
});

function row(i: number, rows = 1): Buffer {
  const b = Buffer.alloc(rows * ROW * 8);
  for (let k = 0; k < rows * ROW; k++) b.writeDoubleLE(i * 1000 + k, k * 8);
  return b;
}

function putRow(i: number, body = row(i), select = `[${i}:${i + 1},0:${ROW}]`) {
  return api.app.inject({
    method: 'PUT',
    url: `/v1/files/g.h5/datasets/rows/value?select=${select}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: body,
  });
}

async function jobData(id: string): Promise<JobData> {
  const job = await api.app.jobs.job(id);
  assert.ok(job, `job ${id} is in Redis`);
  return job.data;
}

test('concurrent small writes share staged files and jobs, each answered with its own op', async () => {
  const before = (await api.staged()).length;
  const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => putRow(i)));
  // Concurrent injects need not arrive in the order they were started: each answer is
  // checked against the job's own data, not against its start order.
  const ids = new Map<string, Array<{ row: number; index: number }>>();
  responses.forEach((res, i) => {
    assert.equal(res.statusCode, 202, res.body);
    const { job } = res.json();
    assert.equal(job.ops.length, 1, 'the 202 lists the request’s own op');
    assert.equal(job.ops[0].select, `[${i}:${i + 1},0:${ROW}]`);
    assert.equal(res.headers.location, `/v1/jobs/${job.id}`);
    ids.set(job.id, [...(ids.get(job.id) ?? []), { row: i, index: job.ops[0].index }]);
  });
  assert.ok(ids.size < 40, `40 concurrent writes made ${ids.size} jobs: they were grouped`);
  for (const [id, answers] of ids) {
    const ops = (await jobData(id)).ops as WriteOp[];
    for (const a of answers) assert.equal(ops[a.index]?.hyperslab.start[0], a.row, `the op index answered for row ${a.row} is its own op in job ${id}`);
  }

  const stagedFiles = new Set<string>();
  for (const [id, answers] of ids) {
    const rows = answers.map((a) => a.row);
    const data = await jobData(id);
    const ops = data.ops as WriteOp[];
    // Every request of the job is in it, once (in arrival order, which the test cannot know).
    assert.deepEqual(
      ops.map((o) => o.hyperslab.start[0]).sort((a, b) => a! - b!),
      [...rows].sort((a, b) => a - b),
    );
    assert.equal(new Set(ops.map((o) => o.staged)).size, 1, 'one staged file per group');
    const staged = await readFile(path.join(api.config.dataDir, '.staging', ops[0]!.staged));
    let offset = 0;
    for (const op of ops) {
      assert.equal(op.stagedOffset ?? 0, offset, 'payloads follow each other in the staged file');
      assert.ok(staged.subarray(offset, offset + op.bytes).equals(row(op.hyperslab.start[0]!)), `row ${op.hyperslab.start[0]} staged byte for byte`);
      offset += op.bytes;
    }
    assert.equal(staged.length, offset);
    stagedFiles.add(ops[0]!.staged);
    // The job's own view lists every op.
    const view = await api.app.inject({ method: 'GET', url: `/v1/jobs/${id}` });
    assert.equal(view.json().opCount, rows.length);
    assert.equal(view.json().ops.length, rows.length);
  }
  assert.equal((await api.staged()).length - before, stagedFiles.size, 'one staged file per job, nothing else');

  // Each group has its own sequence number in the file: distinct and consecutive.
  const seqs = (await Promise.all([...ids.keys()].map(async (id) => (await jobData(id)).seq!))).sort((a, b) => a - b);
  assert.deepEqual(
    seqs,
    seqs.map((_, k) => seqs[0]! + k),
  );
});

test('a write larger than PH5_GROUP_WRITE_BYTES is a job of its own, streamed to its own file', async () => {
  const [big, small] = await Promise.all([putRow(40, row(40, 2), `[40:42,0:${ROW}]`), putRow(42)]);
  assert.equal(big.statusCode, 202, big.body);
  assert.equal(small.statusCode, 202, small.body);
  assert.notEqual(big.json().job.id, small.json().job.id);
  const op = (await jobData(big.json().job.id)).ops[0] as WriteOp;
  assert.equal(op.stagedOffset, undefined);
  assert.equal((await readFile(path.join(api.config.dataDir, '.staging', op.staged))).length, 2 * ROW * 8);
});

test('refused writes never join a group and leave nothing staged', async () => {
  const before = (await api.staged()).sort();
  const jobs = await api.jobCount();
  const [short, long, outside] = await Promise.all([
    putRow(43, row(43).subarray(8)),
    putRow(44, Buffer.concat([row(44), Buffer.alloc(8)])),
    putRow(45, row(45), `[${ROWS}:${ROWS + 1},0:${ROW}]`),
  ]);
  for (const res of [short, long, outside]) {
    assert.equal(res.statusCode, 400, res.body);
    assert.match(res.headers['content-type'] as string, /application\/problem\+json/);
  }
  assert.equal(short.json().code, 'PH5_ERR_BODY_LENGTH');
  assert.equal(long.json().code, 'PH5_ERR_BODY_LENGTH');
  assert.deepEqual((await api.staged()).sort(), before);
  assert.equal(await api.jobCount(), jobs);
});

test('a JSON write joins a group like a binary one', async () => {
  const values = Array.from({ length: ROW }, (_, k) => 46_000 + k);
  const [json, bin] = await Promise.all([
    api.app.inject({ method: 'PUT', url: `/v1/files/g.h5/datasets/rows/value?select=[46:47,0:${ROW}]`, payload: [values] }),
    putRow(47),
  ]);
  assert.equal(json.statusCode, 202, json.body);
  assert.equal(bin.statusCode, 202, bin.body);
  const data = await jobData(json.json().job.id);
  const op = data.ops.find((o) => o.op === 'write' && o.hyperslab.start[0] === 46) as WriteOp;
  const staged = await readFile(path.join(api.config.dataDir, '.staging', op.staged));
  const got = Array.from({ length: ROW }, (_, k) => staged.readDoubleLE((op.stagedOffset ?? 0) + k * 8));
  assert.deepEqual(got, values);
});
