/**
 * The fault-injection run for the closing note (not a test): a stream of overlapping writes
 * while random pool processes are SIGKILLed, 50 times by default; prints kills, jobs, time
 * and the verdict.
 *
 *   node dist/bench/fault-injection.js [kills=50] [writes=500]
 */
import { runFaultStream } from '../test/helpers/fault.js';

const kills = Number(process.argv[2] ?? 50);
const writes = Number(process.argv[3] ?? 500);
const r = await runFaultStream({ kills, minWrites: writes, note: (l) => console.error(l) });
const ok = r.notCompleted.length === 0 && r.mismatches.length === 0 && r.unreadable.length === 0 && r.outOfOrder.length === 0;
console.log(`kills: ${r.kills} ${JSON.stringify(r.killed)}`);
console.log(`jobs: ${r.jobs} (${r.writes} overlapping writes), not completed: ${r.notCompleted.length}`);
console.log(
  `time: ${r.seconds.toFixed(1)} s, pool restarts: ${r.restarts} (${r.stuckLaunchers} of a launcher stuck after a dead rank), staged payloads left: ${r.leftoverStaged}`,
);
console.log(
  `files equal to the sequential application in acceptance order: ${r.mismatches.length === 0 ? 'yes' : `NO (${r.mismatches.length} rows differ)`}; open cleanly: ${r.unreadable.length === 0 ? 'yes' : 'NO'}`,
);
console.log(`verdict: ${ok ? 'PASS' : 'FAIL'}`);
if (!ok) {
  console.log([...r.notCompleted.slice(0, 5), ...r.mismatches.slice(0, 5), ...r.unreadable, r.diagnostics].join('\n'));
  process.exitCode = 1;
}
