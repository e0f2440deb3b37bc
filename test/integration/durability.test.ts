/**
 * "Completed" is on stable storage: a real stack (redis-server, the API, a 2-rank pool under
 * mpirun) with every rank under strace, and Redis's MONITOR, both stamped with the wall
 * clock. For every move of the file's cursor (the HSET of `applied` inside the commit) and
 * every removal of a staged payload by rank 0, in that order:
 *   fsync/fdatasync of the HDF5 file on every rank, covering every write it made to it
 *   < the cursor move < the unlink of the payload that epoch read.
 * With PH5_FILE_SYNC=off the same check must find writes that were never synced (the test
 * can fail, and the setting does what it says).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileStateKey } from '../../services/shared/file-state.js';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { readTrace, SYNC_CALLS, TRACED, unsyncedWrites, type Syscall } from '../helpers/strace.js';

const RANKS = 2;
const FILE = 'durable.h5';
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Observed {
  file: string;
  dataDir: string;
  /** Wall-clock times (s) of the cursor moves of FILE, from MONITOR. */
  cursorMoves: number[];
  /** Per rank, what strace saw. */
  traces: Syscall[][];
}

/** Runs a stack with traced ranks and MONITOR, makes a file and writes it twice. */
async function observe(fileSync: string): Promise<Observed> {
  const traceDir = mkdtempSync(path.join(os.tmpdir(), 'ph5-durability-'));
  dirs.push(traceDir);
  // mpirun runs `<wrapper> node main.js`: each rank under its own strace.
  const wrapper = path.join(traceDir, 'strace-rank.sh');
  writeFileSync(wrapper, `#!/bin/sh\nexec strace -f -ttt -T -y -e trace=${TRACED} -o ${traceDir}/rank.$OMPI_COMM_WORLD_RANK "$@"\n`);
  chmodSync(wrapper, 0o755);
  const saved = process.env.PH5_MPIRUN_ARGS;
  process.env.PH5_MPIRUN_ARGS = wrapper; // WorkerPool reads it when it starts the launcher
  let stack: Stack | undefined;
  let monitor: ChildProcess | undefined;
  try {
    stack = await startStack({ ranks: RANKS, env: { PH5_FILE_SYNC: fileSync } });
    const api = client(stack.url);
    const monitorTimes: Array<{ time: number; args: string[] }> = [];
    // redis-cli's MONITOR rather than ioredis's: ioredis's monitor connection sometimes took a
    // MONITOR line for the reply to a command of its own ("Command queue state error").
    monitor = spawn('redis-cli', ['-s', stack.redis.socket, 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let pending = '';
    monitor.stdout!.on('data', (b: Buffer) => {
      const lines = (pending + b.toString()).split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const m = /^(\d+\.\d+) \[[^\]]*\] (.*)$/.exec(line);
        if (m) monitorTimes.push({ time: Number(m[1]), args: [...m[2]!.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((a) => a[1]!) });
      }
    });
    await sleep(300); // MONITOR is on before the first write

    const created = await api.accepted('POST', `/v1/files/${FILE}/datasets`, { path: '/d', dtype: 'int32', shape: [64] });
    assert.equal(created.state, 'completed', JSON.stringify(created.error));
    for (const [select, base] of [
      ['[0:64]', 100],
      ['[16:48]', 1000],
    ] as const) {
      const n = select === '[0:64]' ? 64 : 32;
      const body = Buffer.alloc(n * 4);
      for (let i = 0; i < n; i++) body.writeInt32LE(base + i, i * 4);
      const job = await api.accepted('PUT', `/v1/files/${FILE}/datasets/d/value?select=${select}`, body);
      assert.equal(job.state, 'completed', JSON.stringify(job.error));
    }
    // Completed jobs' payloads are removed right after completion.
    const staging = path.join(stack.dataDir, '.staging');
    for (let i = 0; i < 100 && readdirSync(staging).length > 0; i++) await sleep(50);
    assert.deepEqual(readdirSync(staging), [], 'staged payloads removed');

    const file = stack.filePath(FILE);
    const data = await h5py<number[]>(file, "out = h5py.File(path, 'r')['d'][()].tolist()");
    assert.deepEqual(
      data,
      Array.from({ length: 64 }, (_, i) => (i >= 16 && i < 48 ? 1000 + i - 16 : 100 + i)),
    );

    const key = fileStateKey('default', FILE);
    const cursorMoves = monitorTimes.filter((m) => m.args[0]?.toLowerCase() === 'hset' && m.args[1] === key && m.args[2] === 'applied').map((m) => m.time);
    const dataDir = stack.dataDir;
    monitor.kill();
    await stack.stop(); // the ranks exit: strace has written everything
    stack = undefined;
    const traces = Array.from({ length: RANKS }, (_, r) => readTrace(path.join(traceDir, `rank.${r}`)));
    return { file, dataDir, cursorMoves, traces };
  } finally {
    monitor?.kill();
    await stack?.stop();
    if (saved === undefined) delete process.env.PH5_MPIRUN_ARGS;
    else process.env.PH5_MPIRUN_ARGS = saved;
  }
}

const fmt = (c: Syscall) => `${c.name}(${c.path}) at ${c.start.toFixed(6)} = ${c.result}`;

/** Everything that breaks "fsync < cursor move < unlink", as readable lines. */
function violations(o: Observed): string[] {
  const out: string[] = [];
  const staged = (c: Syscall) => (c.name === 'unlink' || c.name === 'unlinkat') && c.path?.startsWith(path.join(o.dataDir, '.staging') + '/');
  for (const [rank, calls] of o.traces.entries()) {
    for (const t of o.cursorMoves) {
      for (const w of unsyncedWrites(calls, o.file, t)) out.push(`rank ${rank}: ${fmt(w)} not synced before the cursor move at ${t.toFixed(6)}`);
    }
  }
  const rank0 = o.traces[0]!;
  // The new file's name: its directory fsynced before the first cursor move.
  const dir = path.dirname(o.file);
  if (!rank0.some((c) => c.name === 'fsync' && c.path === dir && c.result === '0' && c.end < o.cursorMoves[0]!)) {
    out.push(`rank 0: no fsync of ${dir} before the first cursor move`);
  }
  for (const u of rank0.filter(staged)) {
    const before = o.cursorMoves.filter((t) => t < u.start);
    if (before.length === 0) {
      out.push(`${fmt(u)} before any cursor move`);
      continue;
    }
    // The epoch that applied this payload read it (every rank opened it) before that move.
    const moved = before[before.length - 1]!;
    for (const [rank, calls] of o.traces.entries()) {
      if (!calls.some((c) => c.name === 'openat' && c.path === u.path && c.end < moved))
        out.push(`rank ${rank}: ${u.path} not read before the cursor move at ${moved.toFixed(6)} that preceded its unlink`);
    }
  }
  return out;
}

test(
  'with the default setting, every cursor move comes after the file is synced on every rank, and every payload unlink after its cursor move',
  { timeout: 180_000 },
  async () => {
    const o = await observe('');
    assert.ok(o.cursorMoves.length >= 3, `three epochs moved the cursor (saw ${o.cursorMoves.length})`);
    const unlinks = o.traces[0]!.filter((c) => (c.name === 'unlink' || c.name === 'unlinkat') && c.path?.includes('/.staging/'));
    assert.equal(unlinks.length, 2, `rank 0 removed both staged payloads:\n${unlinks.map(fmt).join('\n')}`);
    for (const [rank, calls] of o.traces.entries()) {
      const syncs = calls.filter((c) => SYNC_CALLS.has(c.name) && c.path === o.file && c.result === '0');
      assert.ok(syncs.length >= o.cursorMoves.length, `rank ${rank} synced the file at least once per epoch (${syncs.length})`);
    }
    assert.deepEqual(violations(o), []);
    // The timeline, for the record: per cursor move, the last sync of the file just before it
    // on each rank, and the payload removed after it.
    for (const t of o.cursorMoves) {
      const lastSyncs = o.traces.map((calls) => Math.max(...calls.filter((c) => SYNC_CALLS.has(c.name) && c.path === o.file && c.end < t).map((c) => c.end)));
      const unlink = unlinks.find((u) => u.start > t && !o.cursorMoves.some((m) => m > t && m < u.start));
      console.log(
        `cursor move at ${t.toFixed(6)}: last sync ${lastSyncs.map((e, r) => `rank ${r} ${((e - t) * 1000).toFixed(2)} ms`).join(', ')}` +
          (unlink ? `; payload unlinked ${((unlink.start - t) * 1000).toFixed(2)} ms after` : ''),
      );
    }
  },
);

test('with PH5_FILE_SYNC=off, the same check finds writes that were not on stable storage when the cursor moved', { timeout: 180_000 }, async () => {
  const o = await observe('off');
  assert.ok(o.cursorMoves.length >= 3);
  const syncs = o.traces.flatMap((calls) => calls.filter((c) => SYNC_CALLS.has(c.name) && c.path === o.file));
  assert.deepEqual(syncs.map(fmt), [], 'nothing syncs the file');
  const found = violations(o);
  assert.ok(
    found.some((v) => /not synced before the cursor move/.test(v)),
    found.join('\n'),
  );
});
