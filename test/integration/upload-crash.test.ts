/**
 * kill -9 of the API in the middle of a large upload: no job, and once the API is back no
 * staged garbage either — while another API process sharing the data directory and Redis
 * goes on with its own upload, which the restarted one must not touch. The APIs are their
 * own processes (as `npm start` runs them) with a real redis-server; no pool is needed:
 * nothing reaches a file unless a job exists.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { API_NODE_FLAGS } from '../../services/api/node-flags.js';
import { freePort } from '../helpers/stack.js';
import { startRedis } from '../helpers/redis.js';

const API_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'services', 'api', 'server.js');
const MiB = 1024 * 1024;
const TOTAL = 96 * MiB; // what the upload declares
const SENT = 40 * MiB; // what arrives before the kill

interface ApiProc {
  proc: ChildProcess;
  url: string;
  port: number;
  output(): string;
}

async function startApiProcess(env: NodeJS.ProcessEnv, port?: number): Promise<ApiProc> {
  port ??= await freePort();
  let output = '';
  const proc = spawn(process.execPath, [...API_NODE_FLAGS, API_ENTRY], {
    env: { ...process.env, ...env, PH5_PORT: String(port), PH5_HOST: '127.0.0.1', PH5_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.on('data', (b: Buffer) => (output += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`the API exited: ${output}`);
    if (
      (await fetch(`${url}/healthz`)
        .then((r) => r.status)
        .catch(() => 0)) === 200
    )
      break;
    if (i > 200) throw new Error(`the API did not come up: ${output}`);
    await sleep(50);
  }
  return { proc, url, port, output: () => output };
}

/** A binary write that sends `first` bytes of `total` at once and the rest when told to. */
function upload(api: ApiProc, total: number, first: number): { finish(): void; answer: Promise<{ status: number; body: string }> } {
  const req = http.request(`${api.url}/v1/files/big.h5/datasets/d/value`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': total },
  });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
  const chunk = Buffer.alloc(MiB, 7);
  const send = async (bytes: number) => {
    for (let sent = 0; sent < bytes; sent += chunk.length) {
      if (!req.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent)))) await new Promise((r) => req.once('drain', r));
    }
  };
  void send(first).catch(() => {});
  return {
    finish: () =>
      void send(total - first).then(
        () => req.end(),
        () => {},
      ),
    answer,
  };
}

/** Files in the staging directory with their sizes. */
async function staged(dir: string): Promise<{ name: string; size: number }[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return Promise.all(names.map(async (name) => ({ name, size: (await stat(path.join(dir, name)).catch(() => ({ size: -1 }))).size })));
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('kill -9 of the API mid-upload: no job, and the restarted API removes the partial file but not a live sibling’s', { timeout: 180_000 }, async () => {
  const redis = await startRedis();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ph5-crash-'));
  const staging = path.join(dataDir, '.staging');
  const env = { PH5_REDIS_URL: redis.url, PH5_DATA_DIR: dataDir };
  const procs: ChildProcess[] = [];
  try {
    const a = await startApiProcess(env);
    const b = await startApiProcess(env);
    procs.push(a.proc, b.proc);
    const created = await fetch(`${a.url}/v1/files/big.h5/datasets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: '/d', dtype: 'uint8', shape: [TOTAL] }),
    });
    assert.equal(created.status, 202, await created.text());

    // B's upload is under way (a third of it) and stays open throughout.
    const live = upload(b, TOTAL, 8 * MiB);
    live.answer.catch(() => {}); // awaited below; a failure before that must not mask the assertion
    const liveFile = await until('B’s partial file', async () => (await staged(staging)).find((f) => f.size >= 8 * MiB)?.name);

    // A's upload reaches SENT bytes on disk; then A is killed as a terminal's `kill -9` does.
    upload(a, TOTAL, SENT).answer.catch(() => {});
    const crashed = await until('A’s partial file', async () => (await staged(staging)).find((f) => f.name !== liveFile && f.size >= SENT)?.name);
    process.kill(a.proc.pid!, 'SIGKILL');
    await new Promise((r) => (a.proc.exitCode !== null || a.proc.signalCode !== null ? r(null) : a.proc.once('exit', r)));
    assert.deepEqual((await staged(staging)).map((f) => f.name).sort(), [crashed, liveFile].sort(), 'the dead upload is still on disk before the restart');

    // A comes back (same data directory, same Redis): the dead upload goes, the live one stays.
    const a2 = await startApiProcess(env, a.port);
    procs.push(a2.proc);
    assert.deepEqual(
      (await staged(staging)).map((f) => f.name),
      [liveFile],
      `only B's upload is left in staging:\n${a2.output()}`,
    );
    assert.match(a2.output(), /removed 1 partial upload/, 'the restarted API says what it removed');

    // No job came of the killed upload: the creation is the only job.
    const jobs = (await (await fetch(`${a2.url}/v1/jobs`)).json()) as { jobs: { ops: { op: string }[] }[] };
    assert.deepEqual(
      jobs.jobs.map((j) => j.ops.map((o) => o.op)),
      [['createDataset']],
      'no write job exists',
    );
    assert.deepEqual(await readdir(path.join(dataDir, 'default')).catch(() => []), [], 'no file was touched');

    // B's upload completes undisturbed and is staged under its final name.
    live.finish();
    const answer = await live.answer;
    assert.equal(answer.status, 202, answer.body);
    const after = await staged(staging);
    assert.equal(after.length, 1, JSON.stringify(after));
    assert.match(after[0]!.name, /^[0-9a-f-]{36}\.bin$/);
    assert.equal(after[0]!.size, TOTAL);
    const jobsAfter = (await (await fetch(`${a2.url}/v1/jobs`)).json()) as { jobs: unknown[] };
    assert.equal(jobsAfter.jobs.length, 2, 'the live upload became its job');
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await redis.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
