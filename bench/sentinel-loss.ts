/**
 * Can a failover lose a job the API accepted? The write stream of
 * test/integration/sentinel-failover.test.ts (the primary's host killed mid-stream, then
 * booted again), run without replicated acceptance (PH5_REDIS_MIN_REPLICAS=0), and with it
 * for comparison:
 * - `lag`: the replica is stopped 600 ms before the kill (a replica behind its primary, as
 *   under load or a slow link): writes accepted in that window are on the primary only;
 * - `no lag`: the primary dies with its replica in step (loopback-fast replication): a loss
 *   needs a write the replica had not received within the last round trip.
 * Counts accepted writes whose job is gone or whose row is not in the file (h5py). Not a
 * test: how many are lost depends on timing.
 *
 *   npm run bench:sentinel-loss        (needs root: network namespaces)
 */
import { runFailoverStream } from '../test/helpers/sentinel-stream.js';

const cases = [
  { name: 'no WAIT, replica lagging', minReplicas: 0, lagMs: 600 },
  { name: 'no WAIT, replica in step', minReplicas: 0, lagMs: 0 },
  { name: 'WAIT 1, replica lagging', minReplicas: 1, lagMs: 600 },
];

const lines: string[] = [];
for (const c of cases) {
  const r = await runFailoverStream({
    minReplicas: c.minReplicas,
    lagMs: c.lagMs,
    writes: 300,
    clients: 6,
    restartAfterMs: 1500,
    note: (l) => console.log(`[${c.name}] ${l}`),
  });
  const lost = new Set([...r.missingRows]).size;
  const line =
    `${c.name.padEnd(26)} accepted ${r.accepted}, lost ${lost} (jobs gone: ${r.lostJobs.length}; ${r.acceptedWhileLagging} accepted while lagging), ` +
    `503s ${JSON.stringify(r.unavailable)}, 409 in-progress ${r.inProgress}, unexpected ${r.unexpected.length}, failover ${r.failoverMs} ms`;
  console.log(line);
  if (r.lostJobs.length) console.log(`  lost jobs: ${r.lostJobs.slice(0, 5).join('; ')}`);
  lines.push(line);
}
console.log(`\nsummary\n${lines.join('\n')}`);
process.exit(0);
