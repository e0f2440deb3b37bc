/**
 * Idle ranks waiting in mpi.bcast must not spin: 4 ranks, ranks 1-3 wait ~2 s for rank 0.
 * (A blocking MPI_Bcast burns about a core per waiting rank here.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mpirun } from '../helpers/mpirun.js';

interface Result {
  rank: number;
  pid: number;
  wallSeconds: number;
  cpuSeconds: number;
  procCpuSeconds: number;
  received: string;
}

const WAIT_MS = 2000;
const BUDGET = 0.3; // core-seconds for ranks 1-3 together over the wait

test('ranks waiting in bcast use little CPU, and the bcast still arrives', async () => {
  const { results } = await mpirun<Result>(4, 'idle-bcast', [String(WAIT_MS)]);
  const waiting = results.filter((r) => r.rank !== 0);
  for (const r of results) {
    console.log(
      `rank ${r.rank} (pid ${r.pid}): wall ${r.wallSeconds.toFixed(2)} s, cpu ${r.cpuSeconds.toFixed(3)} s (process.cpuUsage), ` +
        `${r.procCpuSeconds.toFixed(2)} s (/proc/<pid>/stat utime+stime)`,
    );
    assert.equal(r.received, 'plan #1: write everything', `rank ${r.rank} got the broadcast`);
  }
  const total = waiting.reduce((s, r) => s + r.cpuSeconds, 0);
  const totalProc = waiting.reduce((s, r) => s + r.procCpuSeconds, 0);
  console.log(`ranks 1-3 together: ${total.toFixed(3)} core-s (cpuUsage), ${totalProc.toFixed(2)} core-s (/proc) over ~${WAIT_MS / 1000} s`);
  for (const r of waiting) assert.ok(r.wallSeconds >= (WAIT_MS / 1000) * 0.9, `rank ${r.rank} really waited (${r.wallSeconds} s)`);
  assert.ok(total < BUDGET, `waiting ranks used ${total.toFixed(3)} core-seconds (budget ${BUDGET})`);
  assert.ok(totalProc < BUDGET + 0.05, `/proc says ${totalProc.toFixed(2)} core-seconds`);
});
