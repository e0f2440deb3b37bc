/**
 * One rank of the pool side of bench/pool-write.ts (run under mpirun).
 *
 *   mpirun -n R node dist/bench/pool-write-rank.js <config.json>
 *
 * The pool's own apply path, without Redis, the API or BullMQ: an epoch creates the file
 * and its dataset (untimed, as the bench suite's POST before its PUT), then after a
 * barrier every rank applies the write epoch the coordinator would plan for one PUT of
 * the staged payload (planSteps + applyPlan: fencing step, open, the steps with their
 * agreements, staged reads, collective writes, the (durable) close). Each rank writes
 * {rank, start, end, report} (epoch seconds; the RankReport with its time breakdown) to
 * <resultDir>/rank-<r>.json.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { mpi } from '../native/lib/index.js';
import type { JobData } from '../services/shared/jobs.js';
import { formatSelection, type Hyperslab } from '../services/shared/selection.js';
import { applyPlan } from '../services/worker/apply.js';
import { planSteps } from '../services/worker/epoch.js';
import type { Plan } from '../services/worker/protocol.js';

interface Config {
  file: string;
  staging: string;
  staged: string;
  shape: number[];
  maxStepBytes: number;
  resultDir: string;
}

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Config;
const now = (): number => (performance.timeOrigin + performance.now()) / 1000;
const { rank, size } = mpi.init();
const hooks = rank === 0 ? { beforeStep: async () => {} } : {};

const create: Plan = {
  epoch: 1,
  file: config.file,
  mode: 'create',
  staging: config.staging,
  jobs: [{ id: 'create', seq: null }],
  steps: [{ op: 'createDataset', create: { op: 'createDataset', path: '/x', dtype: '<f8', shape: config.shape }, jobs: [0] }],
};
const created = await applyPlan(create, rank, size, hooks);
if (created.abort) throw new Error(`rank ${rank}: creating: ${JSON.stringify(created.abort)}`);

const whole: Hyperslab = { start: config.shape.map(() => 0), stride: config.shape.map(() => 1), count: [...config.shape] };
const bytes = config.shape.reduce((a, b) => a * b, 8);
const job = {
  v: 1,
  project: 'bench',
  file: path.basename(config.file),
  acceptedAt: Date.now(),
  ops: [{ op: 'write', path: '/x', dtype: '<f8', payloadDtype: '<f8', select: formatSelection(whole), hyperslab: whole, staged: config.staged, bytes }],
} as unknown as JobData;
const plan: Plan = {
  epoch: 2,
  file: config.file,
  mode: 'rw',
  staging: config.staging,
  jobs: [{ id: 'write', seq: null }],
  steps: planSteps([{ data: job }], { maxStepBytes: config.maxStepBytes }),
};

// Settle V8 (the previous epoch's garbage) before the clock starts.
(globalThis as { gc?: () => void }).gc?.();
await mpi.barrier();
const start = now();
const report = await applyPlan(plan, rank, size, hooks);
const end = now();
if (report.abort) throw new Error(`rank ${rank}: ${JSON.stringify(report.abort)}`);
writeFileSync(path.join(config.resultDir, `rank-${rank}.json`), JSON.stringify({ rank, start, end, steps: plan.steps.length, report }));
await mpi.barrier();
mpi.finalize();
