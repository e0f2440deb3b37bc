/**
 * CPU the ranks spend per epoch, without Redis, the API or BullMQ: rank 0 plans epochs of
 * small row writes the way the coordinator does (planSteps), broadcasts each plan, every
 * rank applies it (applyPlan: open, steps with their agreement, close) and the reports are
 * gathered. Prints the CPU seconds of all ranks per epoch and per write, to compare
 * changes to the native collectives or apply.ts on a noisy machine (not a test).
 *
 *   mpirun --oversubscribe -n 4 node dist/bench/rank-epochs.js [epochs=200] [writesPerEpoch=32] [holes=0.2]
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mpi } from '../native/lib/index.js';
import type { JobData, WriteOp } from '../services/shared/jobs.js';
import { applyPlan } from '../services/worker/apply.js';
import { planSteps } from '../services/worker/epoch.js';
import { decodeMessage, encodeMessage, type Plan } from '../services/worker/protocol.js';

const ROW = 128; // float64 values: 1 KiB rows, as in small-writes
const epochs = Number(process.argv[2] ?? 200);
const perEpoch = Number(process.argv[3] ?? 32);
/** Share of a window's rows not written in its epoch (in flight elsewhere): 0 = contiguous rows. */
const holes = Number(process.argv[4] ?? 0.2);
const windowRows = Math.ceil(perEpoch / (1 - holes));

const { rank, size } = mpi.init();
const dir = path.join(os.tmpdir(), `ph5-rank-epochs-${process.env.OMPI_COMM_WORLD_JOBID ?? 'x'}`);
const file = path.join(dir, 'bench.h5');
const staging = path.join(dir, 'staging');
const rows = epochs * windowRows;

function writes(epoch: number): JobData[] {
  // Rows of one epoch arrive shuffled, with some still in flight (holes), as from 32 clients.
  const window = windowRows;
  const base = epoch * window;
  const order = Array.from({ length: window }, (_, i) => base + i)
    .sort(() => Math.random() - 0.5)
    .slice(0, perEpoch);
  const jobs: JobData[] = [];
  for (let j = 0; j < order.length; j += 8) {
    const ops: WriteOp[] = order.slice(j, j + 8).map((row) => ({
      op: 'write',
      path: '/d',
      dtype: '<f8',
      payloadDtype: '<f8',
      select: `[${row}:${row + 1},0:${ROW}]`,
      hyperslab: { start: [row, 0], stride: [1, 1], count: [1, ROW] },
      staged: 'rows.bin',
      stagedOffset: row * ROW * 8,
      bytes: ROW * 8,
    }));
    jobs.push({ v: 1, project: 'bench', file: 'bench.h5', acceptedAt: Date.now(), ops });
  }
  return jobs;
}

if (rank === 0) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  writeFileSync(path.join(staging, 'rows.bin'), Buffer.alloc(rows * ROW * 8, 1));
}
await mpi.barrier();

async function run(plan: Plan | null): Promise<void> {
  const message = rank === 0 ? await mpi.bcast(encodeMessage({ type: 'plan', plan: plan! }), 0) : await mpi.bcast(null, 0);
  const m = decodeMessage(message);
  if (m.type !== 'plan') return;
  const report = await applyPlan(m.plan, rank, size, rank === 0 ? { beforeStep: async () => {} } : {});
  if (report.abort) throw new Error(`rank ${rank}: ${JSON.stringify(report.abort)}`);
  await mpi.gather(Buffer.from(JSON.stringify(report)), 0);
}

const create: Plan = {
  epoch: 0,
  file,
  mode: 'create',
  staging,
  jobs: [{ id: 'c', seq: null }],
  steps: [{ op: 'createDataset', create: { op: 'createDataset', path: '/d', dtype: '<f8', shape: [rows, ROW] }, jobs: [0] }],
};
await run(create);
// Warm-up epochs (JIT), not counted.
for (let e = 0; e < 5; e++) await run({ epoch: e + 1, file, mode: 'rw', staging, jobs: [], steps: planSteps(writes(e).map((data) => ({ data }))) });

await mpi.barrier();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let steps = 0;
for (let e = 5; e < epochs; e++) {
  const plan: Plan | null = rank === 0 ? { epoch: e + 1, file, mode: 'rw', staging, jobs: [], steps: planSteps(writes(e).map((data) => ({ data }))) } : null;
  steps += plan?.steps.length ?? 0;
  await run(plan);
}
const wall = (performance.now() - t0) / 1000;
const used = process.cpuUsage(cpu0);
const mine = (used.user + used.system) / 1e6;
const all = await mpi.gather(Buffer.from(JSON.stringify(mine)), 0);
if (rank === 0) {
  const total = all!.map((b) => JSON.parse(b.toString()) as number).reduce((a, b) => a + b, 0);
  const n = epochs - 5;
  console.log(
    `rank-epochs: ${size} ranks, ${n} epochs x ${perEpoch} writes (${(steps / n).toFixed(1)} steps/epoch): ` +
      `ranks CPU ${total.toFixed(2)} s = ${((1000 * total) / n).toFixed(2)} ms/epoch = ${((1000 * total) / (n * perEpoch)).toFixed(3)} ms/write; ` +
      `wall ${wall.toFixed(2)} s (${((1000 * wall) / n).toFixed(1)} ms/epoch)`,
  );
  rmSync(dir, { recursive: true, force: true });
}
await mpi.barrier();
mpi.finalize();
