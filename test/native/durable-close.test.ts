/**
 * The durable close (H5File.close({ sync: true })) on real ranks, watched with strace:
 * every byte the ranks wrote to the file, the close's own last writes included, is synced
 * (fsync/fdatasync of that file, returned 0) before the close returns on that rank, and a
 * new file's directory entry too. A plain close syncs nothing: the same check fails on it.
 * A sync that fails (EIO injected by strace into one rank's fsync and fdatasync) fails the
 * close on every rank, and the file is closed all the same.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { h5py, mpirunWrapped } from '../helpers/mpirun.js';
import { readTrace, SYNC_CALLS, TRACED, unsyncedWrites, WRITE_CALLS, type Syscall } from '../helpers/strace.js';

type Outcome = { ok: true } | { ok: false; code: string; message: string };
interface Result {
  rank: number;
  first: Outcome;
  second: Outcome;
  openObjects: number;
  leaked: number;
}

const RANKS = 2;
const ROWS = 256;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function hasStrace(): boolean {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs the fixture with every rank under strace (its trace in <dir>/rank.<n>); `inject`
 * is added to rank 1's strace only. The file is <dir>/project/f.h5, in a directory of its
 * own, as ph5's files are.
 */
async function traced(how: 'sync' | 'plain', inject?: string) {
  assert.ok(hasStrace(), 'strace is needed (scripts/setup.sh installs it)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-durable-'));
  dirs.push(dir);
  const project = path.join(dir, 'project');
  mkdirSync(project);
  const file = path.join(project, 'f.h5');
  const wrapper = path.join(dir, 'strace-rank.sh');
  const base = `strace -f -ttt -T -y -e trace=${TRACED} -o ${dir}/rank.$OMPI_COMM_WORLD_RANK`;
  writeFileSync(wrapper, `#!/bin/sh\nif [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then exec ${base} ${inject ?? ''} "$@"; fi\nexec ${base} "$@"\n`);
  chmodSync(wrapper, 0o755);
  const run = await mpirunWrapped<Result>(RANKS, [wrapper], 'durable-close', [file, how], 120_000);
  const traces = Array.from({ length: RANKS }, (_, r) => readTrace(path.join(dir, `rank.${r}`)));
  return { ...run, file, project, dir, traces };
}

/** When the marker stat `.mark-<name>` ran on this rank (the close started / returned). */
function marker(calls: Syscall[], name: string): number {
  const m = calls.find((c) => c.path?.endsWith(`/.mark-${name}`));
  assert.ok(m, `marker ${name} in the trace`);
  return m.start;
}

const describeCall = (c: Syscall) => `${c.name}(${c.path}) at ${c.start.toFixed(6)} = ${c.result}`;

describe('durable close (strace of 2 ranks)', () => {
  test("sync: everything written to the file is synced before the close returns, a new file's directory too", { timeout: 180_000 }, async () => {
    const { results, file, project, dir, traces } = await traced('sync');
    for (const r of results) {
      assert.deepEqual([r.first, r.second], [{ ok: true }, { ok: true }], `rank ${r.rank}`);
      assert.equal(r.openObjects, 0);
      assert.equal(r.leaked, 0);
    }
    for (const [rank, calls] of traces.entries()) {
      const at = `rank ${rank}`;
      assert.ok(
        calls.some((c) => WRITE_CALLS.has(c.name) && c.path === file),
        `${at} wrote to the file`,
      );
      for (const n of [1, 2]) {
        const start = marker(calls, `close-start-${n}`);
        const end = marker(calls, `close-end-${n}`);
        const syncs = calls.filter((c) => SYNC_CALLS.has(c.name) && c.path === file && c.start >= start && c.end <= end);
        assert.ok(syncs.length > 0, `${at}, close ${n}: the file is synced inside the close`);
        assert.ok(
          syncs.every((s) => s.result === '0'),
          syncs.map(describeCall).join('\n'),
        );
        const left = unsyncedWrites(calls, file, end);
        assert.deepEqual(left.map(describeCall), [], `${at}, close ${n}: writes not synced when the close returned`);
        // The name of the new file: its directory, and the one above (a project directory
        // made for its first file), fsynced by rank 0 inside the first close only.
        const dirSyncs = calls.filter((c) => c.name === 'fsync' && (c.path === project || c.path === dir) && c.start >= start && c.end <= end);
        if (rank === 0 && n === 1)
          assert.deepEqual(
            dirSyncs.map((c) => [c.path, c.result]),
            [
              [project, '0'],
              [dir, '0'],
            ],
            `${at}, close ${n}`,
          );
        else assert.deepEqual(dirSyncs, [], `${at}, close ${n}: no directory sync`);
      }
    }
    const data = await h5py<number[]>(file, "out = h5py.File(path, 'r')['d'][()].tolist()");
    assert.deepEqual(
      data,
      Array.from({ length: ROWS * RANKS }, (_, i) => 2_000_000 + i),
    );
  });

  test('plain close: the same check finds writes that were never synced', { timeout: 180_000 }, async () => {
    const { results, file, traces } = await traced('plain');
    for (const r of results) assert.deepEqual([r.first, r.second], [{ ok: true }, { ok: true }]);
    const syncs = traces.flatMap((calls) => calls.filter((c) => SYNC_CALLS.has(c.name) && c.path === file));
    assert.deepEqual(syncs.map(describeCall), [], 'HDF5 1.10 closes an mpio file without syncing it');
    for (const [rank, calls] of traces.entries()) {
      assert.ok(unsyncedWrites(calls, file, marker(calls, 'close-end-2')).length > 0, `rank ${rank}: its writes are left unsynced`);
    }
  });

  test('a sync that fails on one rank fails the close on every rank; the file is closed all the same', { timeout: 180_000 }, async () => {
    const { results, file, traces } = await traced('sync', '-e inject=fsync,fdatasync:error=EIO');
    // The injection really happened on rank 1.
    assert.ok(
      traces[1]!.some((c) => SYNC_CALLS.has(c.name) && c.path === file && c.result.startsWith('-1 EIO')),
      'an fsync/fdatasync of the file failed with EIO on rank 1',
    );
    for (const r of results) {
      for (const outcome of [r.first, r.second]) {
        assert.equal(outcome.ok, false, `rank ${r.rank}: the close must fail`);
        if (outcome.ok) continue;
        assert.equal(outcome.code, 'PH5_ERR_HDF5');
        if (r.rank === 1) assert.match(outcome.message, /sync/i);
        else assert.match(outcome.message, /rank 1 could not sync .*f\.h5 to stable storage/);
      }
      assert.equal(r.openObjects, 0, `rank ${r.rank}: the file is closed after a failed durable close`);
      assert.equal(r.leaked, 0);
    }
    // Nothing was lost from the page cache: the second round's values are in the file.
    const data = await h5py<number[]>(file, "out = h5py.File(path, 'r')['d'][()].tolist()");
    assert.deepEqual(
      data,
      Array.from({ length: ROWS * RANKS }, (_, i) => 2_000_000 + i),
    );
  });
});
