/**
 * A pool killed mid-epoch, then the epoch replayed (what the worker does after a crash),
 * on a gzip-chunked dataset whose rewritten chunks change size and move: the file must be
 * readable after the crash and, after the replay, equal to the same epoch run without the
 * crash. Before files were created without reuse of freed space, the crash left chunks
 * that did not inflate and the replay hung every rank (issue 14, item 2).
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { fixture, mpirun } from './mpirun.js';

const run = promisify(execFile);
const RANKS = 4;
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ph5-crash-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The fixture's crash mode: mpirun ends with the ranks' SIGKILL, so its failure is expected. */
async function crashedEpoch(file: string, seed: number): Promise<void> {
  const env = { ...process.env };
  if (process.getuid?.() === 0) Object.assign(env, { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' });
  const child = spawn('mpirun', ['--oversubscribe', '-n', String(RANKS), process.execPath, fixture('crash-epoch'), file, 'crash', String(seed)], { env, stdio: 'ignore', detached: true });
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 60_000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.notEqual(code, 0, 'the ranks killed themselves mid-epoch');
}

for (const seed of [1, 2, 3]) {
  test(`crash mid-epoch then replay equals an uninterrupted epoch (seed ${seed})`, { timeout: 240_000 }, async () => {
    const crashed = path.join(dir, `crashed-${seed}.h5`);
    const clean = path.join(dir, `clean-${seed}.h5`);
    for (const file of [crashed, clean]) await mpirun(RANKS, 'crash-epoch', [file, 'create', '0']);
    await crashedEpoch(crashed, seed);
    await run('h5dump', ['-d', '/d2', '-o', '/dev/null', crashed], { maxBuffer: 64 << 20 }); // every chunk still inflates
    await mpirun(RANKS, 'crash-epoch', [crashed, 'epoch', String(seed)], 120_000); // the replay
    await mpirun(RANKS, 'crash-epoch', [clean, 'epoch', String(seed)], 120_000);
    const diff = await run('h5diff', [crashed, clean, '/d2']).then(
      (r) => ({ code: 0, out: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
    );
    assert.equal(diff.code, 0, `replayed file differs from the uninterrupted run:\n${diff.out.slice(0, 2000)}`);
  });
}
