/**
 * Crash safety: a stream of overlapping writes to a few files while random pool processes
 * (any rank, or mpirun itself) are SIGKILLed at random moments. Every accepted job must end
 * completed, every file must equal the writes applied one by one in acceptance order, and
 * every file must open cleanly (h5dump, h5py). One dataset of each file is gzip-compressed in
 * small chunks, whose rewrites move (the replay of an interrupted epoch must find them
 * intact). bench/fault-injection.ts does 50 kills.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runFaultStream } from '../helpers/fault.js';

const KILLS = Number(process.env.PH5_FAULT_KILLS ?? 15);

test(`${KILLS} SIGKILLs during a stream of >= 500 overlapping writes lose nothing and reorder nothing`, { timeout: 420_000 }, async () => {
  const r = await runFaultStream({ kills: KILLS, minWrites: 500, note: (l) => console.log(l) });
  console.log(
    `fault injection: ${r.kills} kills (${JSON.stringify(r.killed)}), ${r.writes} writes / ${r.jobs} jobs in ${r.seconds.toFixed(1)} s, ` +
      `${r.restarts} pool restarts (${r.stuckLaunchers} of a stuck launcher), ${r.leftoverStaged} staged payloads left`,
  );
  const tail = () =>
    r.logs
      .split('\n')
      .filter((l) => /warn|error|recovered|applied before/.test(l))
      .slice(-40)
      .join('\n');
  assert.ok(r.kills >= KILLS);
  assert.ok(r.writes >= 500);
  assert.deepEqual(r.notCompleted, [], `jobs not completed:\n${r.diagnostics}\n${tail()}`);
  assert.deepEqual(r.outOfOrder, [], 'sequence numbers follow each client’s order');
  assert.deepEqual(r.unreadable, []);
  assert.deepEqual(r.mismatches.slice(0, 10), [], `files differ from the sequential application of the writes\n${tail()}`);
  // Payloads go once their job is completed; a kill between completion and deletion leaves
  // some behind (swept after the retention period), so they are counted, not asserted.
});
