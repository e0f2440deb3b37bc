/**
 * The API as several processes on one port (PH5_API_PROCESSES=2), all real: redis-server,
 * the API's primary and its workers, a pool of 2 ranks, requests over real sockets. Every
 * request here opens a connection of its own (the primary hands connections out
 * round-robin), and each answer names the process that served it (x-ph5-pid, a header
 * only PH5_DEBUG_PID_HEADER=1 turns on). Checked: requests are spread over the processes;
 * one client alternating create -> write -> read, each served by whichever process, is
 * accepted every time and reads its writes (and h5py reads them in the file); job waits
 * and event streams answer from any process; the rate limit is global; /metrics sums the
 * processes; a replacement process's start-up sweep leaves a live sibling's upload in
 * progress alone (the upload then completes and h5py reads it); a killed worker is
 * replaced while the port keeps answering; kill -9 of the primary orphans nothing; Ctrl-C
 * of `npm start` with 2 API processes leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_NODE_FLAGS } from '../../services/api/node-flags.js';
import { h5py } from '../helpers/h5.js';
import { isRunning } from '../helpers/proc.js';
import { freePort, startStack, type Stack } from '../helpers/stack.js';
import { startUp, type Up } from '../helpers/up.js';

const API_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'services', 'api', 'server.js');

interface Answer {
  status: number;
  pid: number;
  json: any;
  body: Buffer;
  headers: http.IncomingHttpHeaders;
}

/** One request on a connection of its own (no keep-alive: the next one may reach another process). */
function fresh(base: string, method: string, url: string, body?: unknown, timeoutMs = 60_000, headers: Record<string, string> = {}): Promise<Answer> {
  const isBytes = body instanceof Uint8Array;
  const payload = body === undefined ? undefined : isBytes ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${url}`, {
      method,
      agent: false,
      timeout: timeoutMs,
      headers: {
        ...headers,
        ...(payload ? { 'content-type': isBytes ? 'application/octet-stream' : 'application/json', 'content-length': payload.length } : {}),
      },
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const all = Buffer.concat(chunks);
        let json: unknown;
        try {
          json = all.length ? JSON.parse(all.toString()) : undefined;
        } catch {
          json = all.toString();
        }
        resolve({ status: res.statusCode!, pid: Number(res.headers['x-ph5-pid']), json, body: all, headers: res.headers });
      });
    });
    req.end(payload);
  });
}

/** Long-polls a job (each poll on a new connection) until it is completed or failed. */
async function finished(base: string, location: string, pids?: Set<number>): Promise<any> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await fresh(base, 'GET', `${location}?wait=20`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    pids?.add(r.pid);
    if (r.json.state === 'completed' || r.json.state === 'failed') return r.json;
    assert.ok(Date.now() < deadline, `job ${location} still ${r.json.state}`);
  }
}

/** Waits until `n` processes answer (the first may listen seconds before the last). */
async function allServing(base: string, n: number): Promise<Set<number>> {
  const pids = new Set<number>();
  const deadline = Date.now() + 60_000;
  while (pids.size < n) {
    assert.ok(Date.now() < deadline, `only ${pids.size} of ${n} API processes answer`);
    const r = await fresh(base, 'GET', '/healthz', undefined, 5000).catch(() => null);
    if (r?.status === 200) pids.add(r.pid);
    else await sleep(50);
  }
  return pids;
}

let stack: Stack;
before(async () => {
  stack = await startStack({ ranks: 2, env: { PH5_API_PROCESSES: '2', PH5_DEBUG_PID_HEADER: '1' } });
  await allServing(stack.url, 2);
});
after(async () => {
  await stack?.stop();
});

test('requests on separate connections are served by both API processes', async () => {
  const pids = new Set<number>();
  for (let i = 0; i < 12; i++) {
    const r = await fresh(stack.url, 'GET', '/healthz');
    assert.equal(r.status, 200);
    assert.ok(Number.isInteger(r.pid) && r.pid > 0, 'every answer names its process');
    pids.add(r.pid);
  }
  assert.equal(pids.size, 2, `pids seen: ${[...pids]}`);
  assert.ok(!pids.has(stack.api.pid!), 'the primary serves no request itself');
});

test('one client alternating create -> write -> read over both processes loses nothing and reads its writes', { timeout: 300_000 }, async () => {
  const rounds = 8;
  const file = 'rw.h5';
  const served: Array<{ create: number; write: number; read: number }> = [];
  const waitedOn = new Set<number>();
  for (let k = 0; k < rounds; k++) {
    const n = 1000 + k;
    const create = await fresh(stack.url, 'POST', `/v1/files/${file}/datasets`, { path: `/d${k}`, dtype: 'float64', shape: [n] });
    assert.equal(create.status, 202, JSON.stringify(create.json));
    // Right after the 202, not waiting for the creation to run: the write must be accepted
    // whichever process serves it (the registry is in Redis, not in the creating process).
    const values = new Float64Array(n).map((_, i) => k * 1e6 + i);
    const write = await fresh(stack.url, 'PUT', `/v1/files/${file}/datasets/d${k}/value`, new Uint8Array(values.buffer));
    assert.equal(write.status, 202, `round ${k}: ${JSON.stringify(write.json)}`);
    // Round-robin: every other round, one more connection first, so that the long-polls of
    // the rounds land on both processes.
    if (k % 2 === 1) await fresh(stack.url, 'GET', '/healthz');
    const job = await finished(stack.url, write.headers.location!, waitedOn);
    assert.equal(job.state, 'completed', JSON.stringify(job));
    const read = await fresh(stack.url, 'GET', `/v1/files/${file}/datasets/d${k}/value`);
    assert.equal(read.status, 200, JSON.stringify(read.json));
    assert.deepEqual(read.json.data, Array.from(values), `round ${k}: the read sees the write`);
    served.push({ create: create.pid, write: write.pid, read: read.pid });
  }
  const all = new Set(served.flatMap((s) => [s.create, s.write, s.read]));
  assert.equal(all.size, 2, `both processes served the client: ${JSON.stringify(served)}`);
  assert.ok(
    served.some((s) => s.create !== s.write),
    `some write was served by another process than its creation: ${JSON.stringify(served)}`,
  );
  assert.equal(waitedOn.size, 2, 'long-polls answered by both processes');
  // An independent reader sees every dataset with its values.
  const sums = await h5py<number[]>(stack.filePath(file), `f = h5py.File(path, 'r'); out = [float(f[f'd{k}'][:].sum()) for k in range(${rounds})]`);
  for (let k = 0; k < rounds; k++) {
    const n = 1000 + k;
    assert.equal(sums[k], k * 1e6 * n + ((n - 1) * n) / 2, `d${k} in the file`);
  }
});

test('a job’s event stream ends with completed whichever process serves it', { timeout: 120_000 }, async () => {
  const seen = new Set<number>();
  const trace: string[] = [];
  for (let i = 0; i < 8 && seen.size < 2; i++) {
    const created = await fresh(stack.url, 'POST', '/v1/files/ev.h5/datasets', { path: `/e${i}`, dtype: 'int32', shape: [100] });
    assert.equal(created.status, 202, JSON.stringify(created.json));
    // Round-robin: after a probe answered by a process already seen, the next connection
    // most likely goes to the other one.
    if (seen.size === 1) {
      for (let probes = 0; probes < 4 && !seen.has((await fresh(stack.url, 'GET', '/healthz')).pid); probes++);
    }
    const events = await fresh(stack.url, 'GET', `/v1/jobs/${created.json.job.id}/events`);
    assert.equal(events.status, 200);
    const states = [...events.body.toString().matchAll(/"state":"(\w+)"/g)].map((m) => m[1]);
    assert.equal(states.at(-1), 'completed', events.body.toString());
    seen.add(events.pid);
    trace.push(`${created.pid}>${events.pid}`);
  }
  assert.equal(seen.size, 2, `streams served by both processes: ${trace.join(' ')}`);
});

test('/metrics sums the processes: it counts both, and requests served by either', async () => {
  const before = await fresh(stack.url, 'GET', '/metrics');
  assert.equal(before.status, 200);
  assert.match(before.body.toString(), /^ph5_api_processes 2$/m);
  const count = (text: string) =>
    [...text.matchAll(/^ph5_http_requests_total\{method="GET",route="\/healthz",status="200"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  const pids = new Set<number>();
  for (let i = 0; i < 10; i++) pids.add((await fresh(stack.url, 'GET', '/healthz')).pid);
  const afterScrape = await fresh(stack.url, 'GET', '/metrics');
  assert.equal(pids.size, 2);
  assert.equal(count(afterScrape.body.toString()) - count(before.body.toString()), 10, 'all 10 probes, whichever process served them');
});

test('a replacement process sweeps staging at start, but never a live sibling’s upload in progress', { timeout: 180_000 }, async () => {
  const n = 1 << 20; // 8 MiB of float64
  const created = await fresh(stack.url, 'POST', '/v1/files/slow.h5/datasets', { path: '/x', dtype: 'float64', shape: [n] });
  assert.equal(created.status, 202, JSON.stringify(created.json));
  assert.equal((await finished(stack.url, created.headers.location!)).state, 'completed');
  const body = Buffer.from(new Float64Array(n).map((_, i) => 2 * i).buffer);
  const half = body.length / 2;
  // Half the body, then a pause: the upload sits in staging under its process's partial name.
  let finishUpload!: () => void;
  const answer = new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
    const req = http.request(`${stack.url}/v1/files/slow.h5/datasets/x/value`, {
      method: 'PUT',
      agent: false,
      headers: { 'content-type': 'application/octet-stream', 'content-length': body.length },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, location: res.headers.location }));
    });
    req.write(body.subarray(0, half));
    finishUpload = () => req.end(body.subarray(half));
  });
  const staging = path.join(stack.dataDir, '.staging');
  let part: string | undefined;
  for (const deadline = Date.now() + 30_000; !part; await sleep(20)) {
    part = (await readdir(staging)).find((f) => f.endsWith('.part'));
    assert.ok(part || Date.now() < deadline, 'no partial upload in staging');
  }
  const holder = Number(part.split('.')[1]!.split('-')[2]);
  const pids = await allServing(stack.url, 2);
  assert.ok(pids.has(holder), `the partial file names a serving process: ${part} vs ${[...pids]}`);
  const sibling = [...pids].find((p) => p !== holder)!;
  process.kill(sibling, 'SIGKILL');
  // The replacement swept staging before it listened: once it answers, the sweep is done.
  const seen = new Set<number>();
  for (const deadline = Date.now() + 60_000; ![...seen].some((p) => !pids.has(p)); await sleep(20)) {
    assert.ok(Date.now() < deadline, `no replacement for ${sibling}:\n${stack.logs()}`);
    const r = await fresh(stack.url, 'GET', '/healthz', undefined, 5000).catch(() => null);
    if (r?.status === 200) seen.add(r.pid);
  }
  assert.ok((await readdir(staging)).includes(part), `the live sibling's partial upload ${part} was removed`);
  finishUpload();
  const accepted = await answer;
  assert.equal(accepted.status, 202);
  assert.equal((await finished(stack.url, accepted.location!)).state, 'completed');
  const sum = await h5py<number>(stack.filePath('slow.h5'), "out = float(h5py.File(path, 'r')['x'][:].sum())");
  assert.equal(sum, (n - 1) * n, 'the whole body is in the file');
});

/** A second API (2 processes, no pool needed) on the stack's Redis and data, with extra settings. */
async function startApi(
  env: NodeJS.ProcessEnv,
  opts: { detached?: boolean } = {},
): Promise<{ url: string; proc: ChildProcess; logs(): string; stop(): Promise<void> }> {
  const port = await freePort();
  let output = '';
  const proc = spawn(process.execPath, [...API_NODE_FLAGS, API_ENTRY], {
    env: {
      ...process.env,
      PH5_REDIS_URL: stack.redis.url,
      PH5_DATA_DIR: stack.dataDir,
      PH5_PORT: String(port),
      PH5_HOST: '127.0.0.1',
      PH5_LOG_LEVEL: 'warn',
      PH5_API_PROCESSES: '2',
      PH5_DEBUG_PID_HEADER: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  proc.stdout.on('data', (b: Buffer) => (output += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (
    !(await fresh(url, 'GET', '/healthz', undefined, 2000).then(
      (r) => r.status === 200,
      () => false,
    ))
  ) {
    assert.ok(Date.now() < deadline && proc.exitCode === null, `the API did not start:\n${output}`);
    await sleep(50);
  }
  await allServing(url, 2);
  return {
    url,
    proc,
    logs: () => output,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

test('the rate limit is global: 2 processes together allow the limit once, not twice', { timeout: 120_000 }, async () => {
  const limit = 20;
  // A token of its own: the count (in Redis, shared by every API on it) starts at zero.
  const token = randomBytes(24).toString('hex');
  const api = await startApi({ PH5_RATE_LIMIT_PER_MINUTE: String(limit), PH5_TOKENS: JSON.stringify([{ name: 'rl', project: 'rl', role: 'admin', token }]) });
  try {
    const answers: Answer[] = [];
    for (let i = 0; i < 2 * limit + 4; i++) answers.push(await fresh(api.url, 'GET', '/v1/jobs', undefined, 60_000, { authorization: `Bearer ${token}` }));
    const ok = answers.filter((a) => a.status === 200);
    const limited = answers.filter((a) => a.status === 429);
    assert.equal(new Set(answers.map((a) => a.pid)).size, 2, 'both processes answered');
    assert.equal(ok.length, limit, `statuses: ${answers.map((a) => a.status).join(',')}`);
    assert.equal(limited.length, answers.length - limit);
    assert.equal(limited[0]!.json.code, 'PH5_ERR_RATE_LIMITED');
    assert.equal(new Set(limited.map((a) => a.pid)).size, 2, 'both processes refuse once the shared count is spent');
  } finally {
    await api.stop();
  }
});

test('a killed API process is replaced and the port keeps answering meanwhile', { timeout: 120_000 }, async () => {
  const api = await startApi({});
  try {
    const pids = new Set<number>();
    for (let i = 0; i < 8; i++) pids.add((await fresh(api.url, 'GET', '/healthz')).pid);
    assert.equal(pids.size, 2);
    const victim = [...pids][0]!;
    process.kill(victim, 'SIGKILL');
    // A connection handed to the victim in the instant it dies is lost with it (as are those
    // it held); once the primary has seen the exit, every connection is answered, by the
    // survivor and then by the replacement too.
    const deadline = Date.now() + 30_000;
    while (!/API process \d \(pid \d+\) ended \(killed by SIGKILL\); replacing it/.test(api.logs())) {
      assert.ok(Date.now() < deadline, api.logs());
      await sleep(10);
    }
    const after = new Set<number>();
    while (Date.now() < deadline) {
      const r = await fresh(api.url, 'GET', '/healthz', undefined, 5000);
      assert.equal(r.status, 200);
      after.add(r.pid);
      if ([...after].filter((p) => !pids.has(p)).length > 0) break;
      await sleep(20);
    }
    const replacement = [...after].filter((p) => !pids.has(p));
    assert.equal(replacement.length, 1, `a new process serves: before ${[...pids]}, after ${[...after]}\n${api.logs()}`);
    assert.ok(!after.has(victim));
    assert.equal(api.proc.exitCode, null, 'the primary lives on');
  } finally {
    await api.stop();
  }
  assert.equal(api.proc.exitCode, 0, api.logs());
});

test('kill -9 of the primary: its API processes exit at once, none is orphaned', { timeout: 60_000 }, async () => {
  const api = await startApi({});
  const workers = await allServing(api.url, 2);
  process.kill(api.proc.pid!, 'SIGKILL');
  await new Promise((r) => api.proc.once('exit', r));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const alive = [];
    for (const pid of workers) if (await isRunning(pid)) alive.push(pid);
    if (alive.length === 0) break;
    assert.ok(Date.now() < deadline, `still running 10 s after their primary died: ${alive}\n${api.logs()}`);
    await sleep(50);
  }
});

test('Ctrl-C of the API run by hand (SIGINT to its whole process group): primary and processes exit 0, none left', { timeout: 60_000 }, async () => {
  const api = await startApi({}, { detached: true });
  const workers = await allServing(api.url, 2);
  process.kill(-api.proc.pid!, 'SIGINT');
  const [code, signal] = await new Promise<[number | null, string | null]>((r) => api.proc.once('exit', (c, s) => r([c, s])));
  assert.equal(signal, null, api.logs());
  assert.equal(code, 0, api.logs());
  assert.doesNotMatch(api.logs(), /replacing|did not exit/);
  for (const pid of workers) assert.equal(await isRunning(pid), false, `API process ${pid} left behind`);
});

test('SIGTERM while the API processes are still starting: they stop as soon as they can, none is killed', { timeout: 60_000 }, async () => {
  const port = await freePort();
  let output = '';
  const proc = spawn(process.execPath, [...API_NODE_FLAGS, API_ENTRY], {
    env: {
      ...process.env,
      PH5_REDIS_URL: stack.redis.url,
      PH5_DATA_DIR: stack.dataDir,
      PH5_PORT: String(port),
      PH5_HOST: '127.0.0.1',
      PH5_LOG_LEVEL: 'warn',
      PH5_API_PROCESSES: '2',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stderr.on('data', (b: Buffer) => (output += b.toString()));
  proc.stdout.on('data', (b: Buffer) => (output += b.toString()));
  for (const deadline = Date.now() + 30_000; !/primary pid/.test(output); await sleep(5)) assert.ok(Date.now() < deadline, output);
  const t0 = Date.now();
  proc.kill('SIGTERM');
  const [code] = await new Promise<[number | null]>((r) => proc.once('exit', (c) => r([c])));
  assert.equal(code, 0, `exit code ${code} after ${Date.now() - t0} ms:\n${output}`);
  assert.doesNotMatch(output, /did not exit|replacing/, output);
  console.log(`SIGTERM during start-up -> exit in ${Date.now() - t0} ms`);
});

test('Ctrl-C of npm start with 2 API processes: everything stops in order, nothing is left', { timeout: 180_000 }, async () => {
  const up: Up = await startUp({ ranks: 2, env: { PH5_API_PROCESSES: '2' } });
  try {
    await up.waitReady(90_000);
    const apis = (await up.processes()).filter((p) => p.args.includes('api/server.js'));
    assert.equal(apis.length, 3, `primary + 2 workers:\n${apis.map((p) => `${p.pid} ${p.args}`).join('\n')}`);
    process.kill(-up.pid, 'SIGINT');
    const { code, signal } = await up.exit;
    assert.equal(signal, null, up.logs());
    assert.equal(code, 0, up.logs());
    assert.match(up.logs(), /drained; exiting/);
    assert.doesNotMatch(up.logs(), /restarting|replacing|did not exit/);
    for (let i = 0; i < 20 && (await up.processes()).length > 0; i++) await sleep(100);
    const left = await up.processes();
    assert.deepEqual(left, [], `left behind:\n${left.map((p) => `${p.pid} ${p.args}`).join('\n')}\n${up.logs()}`);
  } finally {
    await up.cleanup();
  }
});
