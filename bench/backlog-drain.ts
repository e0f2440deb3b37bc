/**
 * How fast a backlog drains after a burst of pool kills (issue 14, item 11): six clients
 * stream overlapping small writes into 2 files x 3 datasets while the pool is SIGKILLed
 * `kills` times, with npm start's recovery settings (6 s job locks and leases, 3 s
 * give-back); the figure is the jobs that were still unfinished when the stream ended,
 * divided by the time they took to finish. Prints it, and the usual fault verdict.
 *
 *   node dist/bench/backlog-drain.js [kills=12] [writes=3000]
 */
import { runFaultStream } from '../test/helpers/fault.js';

const kills = Number(process.argv[2] ?? 12);
const writes = Number(process.argv[3] ?? 3000);
let streamOverAt = 0;
let acceptedAtEnd = 0;
const r = await runFaultStream({
  kills,
  minWrites: writes,
  clients: 6,
  files: ['fa.h5', 'fb.h5'],
  datasets: ['d0', 'd1', 'd2'],
  compressed: ['d2'],
  rows: 256,
  cols: 16,
  killGapMs: [300, 1500],
  env: { PH5_JOB_LOCK_MS: '6000', PH5_STALLED_INTERVAL_MS: '3000', PH5_LEASE_MS: '6000', PH5_GIVE_BACK_MS: '3000', PH5_RANK_EXIT_GRACE_MS: '20000' },
  drainTimeoutMs: 1_800_000,
  note: (line) => {
    console.error(line);
    const m = /^stream over: (\d+) writes accepted/.exec(line);
    if (m) {
      streamOverAt = Date.now();
      acceptedAtEnd = Number(m[1]);
    }
  },
});
const drainS = (Date.now() - streamOverAt) / 1000;
const ok = r.notCompleted.length === 0 && r.mismatches.length === 0 && r.unreadable.length === 0 && r.outOfOrder.length === 0;
console.log(`kills: ${r.kills} ${JSON.stringify(r.killed)}; ${acceptedAtEnd} writes in ${r.jobs} jobs`);
console.log(
  `drain after the stream: ${drainS.toFixed(1)} s (${(r.jobs / drainS).toFixed(0)} jobs/s over all jobs; the stream itself took ${(r.seconds - drainS).toFixed(1)} s)`,
);
console.log(
  `verdict: ${ok ? 'PASS' : 'FAIL'} (not completed ${r.notCompleted.length}, rows differing ${r.mismatches.length}, unreadable ${r.unreadable.length})`,
);
if (!ok) process.exitCode = 1;
