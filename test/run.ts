/**
 * `npm test` runs this after scripts/setup.sh: every compiled test file under dist/test,
 * with node's own test runner. Arguments narrow the run to paths containing them:
 *   npm test -- native        # only test/native
 *   npm test -- seed          # only files whose path contains 'seed'
 *
 * A hung test must fail the run, never stall it: CI gives the whole job a fixed budget and
 * reports nothing if it is exceeded. So a test without a timeout of its own gets
 * PH5_TEST_TIMEOUT_MS, a test file ends as soon as its tests have (--test-force-exit, even
 * if a timed-out test left handles open), the whole run is stopped at PH5_TEST_DEADLINE_MIN,
 * and whatever processes the tests started and left behind (redis-server, mpirun and its
 * ranks, which live in process groups of their own) are killed, found by a marker in their
 * environment that every descendant inherits.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mpiEnv } from '../services/worker/pool.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const RUN_MARKER = 'PH5_TEST_RUN';

function collect(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'fixtures' || name === 'helpers' ? [] : collect(full);
    return name.endsWith('.test.js') ? [full] : [];
  });
}

/** Processes (other than this one) whose environment carries this run's marker. */
function markedProcesses(runId: string): { pid: number; args: string }[] {
  const needle = Buffer.from(`\0${RUN_MARKER}=${runId}\0`);
  const out: { pid: number; args: string }[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const environ = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${pid}/environ`)]);
      if (!environ.includes(needle)) continue;
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      out.push({ pid, args });
    } catch {
      /* gone, or not ours to read */
    }
  }
  return out;
}

function killMarked(runId: string): string[] {
  const victims = markedProcesses(runId);
  for (const v of victims) {
    try {
      process.kill(v.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return victims.map((v) => `${v.pid} ${v.args.slice(0, 120)}`);
}

function positiveNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!(n > 0)) {
    console.error(`${name} must be a positive number, got '${raw}'`);
    process.exit(2);
  }
  return n;
}

const filters = process.argv.slice(2);
const files = collect(here)
  .filter((f) => filters.length === 0 || filters.some((x) => path.relative(here, f).includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const concurrency = process.env.PH5_TEST_CONCURRENCY ?? '1';
const testTimeoutMs = positiveNumber('PH5_TEST_TIMEOUT_MS', 600_000);
const deadlineMin = positiveNumber('PH5_TEST_DEADLINE_MIN', 70);
const runId = randomUUID();
console.error(`running ${files.length} test files (a test without its own timeout: ${testTimeoutMs / 1000} s; the whole run: ${deadlineMin} min)`);

const child = spawn(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, `--test-timeout=${testTimeoutMs}`, '--test-force-exit', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: { ...mpiEnv(process.env), [RUN_MARKER]: runId } },
);
let overDeadline = false;
const deadline = setTimeout(() => {
  overDeadline = true;
  console.error(`\nthe test run exceeded ${deadlineMin} min (PH5_TEST_DEADLINE_MIN): stopping it`);
  killMarked(runId);
}, deadlineMin * 60_000);
const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
clearTimeout(deadline);
const leftovers = killMarked(runId);
if (leftovers.length) console.error(`killed ${leftovers.length} processes the tests left behind:\n  ${leftovers.join('\n  ')}`);
if (overDeadline) process.exit(1);
process.exit(code ?? (signal ? 1 : 0));
