/**
 * When `npm start` (up.ts) restarts a part of the stack that died (its Redis, its API), and
 * when it gives up and exits non-zero so that whoever runs it (systemd, Slurm, a script)
 * sees the failure. A pure decision on the part's history, so that it can be tested as a
 * table (test/unit/restart-policy.test.ts).
 *
 *   - A part that never came up since `npm start` began (the API refuses a bad tokens file,
 *     redis-server cannot start) is a configuration error: restarting cannot help. Give up
 *     at once.
 *   - A part that was up and dies is restarted after a short delay, doubling with every
 *     failure in a row (a run that ends before it is ready, or within `stableMs` of it);
 *     a run that stayed up `stableMs` resets the count. After `maxFailures` in a row it
 *     gives up: the part crashes as soon as it starts, and a loop would only hide it.
 */

export interface RestartPolicy {
  /** Delay before the restart of a part that had been running stably. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Failures in a row (unstable runs) after which the supervisor gives up. */
  maxFailures: number;
  /** A run that stayed ready this long was stable: it resets the failure count. */
  stableMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { baseDelayMs: 250, maxDelayMs: 8000, maxFailures: 5, stableMs: 30_000 };

/** One run of a part: when it started, when it was ready (if it got there), when it ended. */
export interface Run {
  startedAt: number;
  readyAt?: number;
  endedAt: number;
}

export type RestartDecision = { action: 'restart'; delayMs: number; failures: number } | { action: 'give-up'; reason: string };

function unstable(run: Run, policy: RestartPolicy): boolean {
  return run.readyAt === undefined || run.endedAt - run.readyAt < policy.stableMs;
}

/** What to do now that the last run in `runs` (oldest first, never empty) has ended. */
export function decideRestart(runs: readonly Run[], policy: RestartPolicy = DEFAULT_RESTART_POLICY): RestartDecision {
  if (runs.length === 0) throw new Error('decideRestart needs the run that ended');
  if (!runs.some((r) => r.readyAt !== undefined)) return { action: 'give-up', reason: 'it never started' };
  let failures = 0;
  for (let i = runs.length - 1; i >= 0 && unstable(runs[i]!, policy); i--) failures++;
  if (failures >= policy.maxFailures) return { action: 'give-up', reason: `it failed ${failures} times in a row` };
  return { action: 'restart', delayMs: Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** failures), failures };
}
