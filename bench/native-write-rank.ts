/**
 * One rank of the addon side of bench/native-write.ts (run under mpirun).
 *
 *   mpirun -n R node dist/bench/native-write-rank.js <file> <total elements> <result dir>
 *
 * Mirrors bench/h5py_write.py exactly: the block is filled before the clock starts; after
 * a barrier each rank times file create -> dataset create (contiguous 1-D float64) ->
 * collective write of its contiguous block -> file close, and writes
 * {rank, start, end, phases} (epoch seconds) to <result dir>/rank-<r>.json.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { H5File, mpi, type NativeDtype } from '../native/lib/index.js';

const [file, totalText, resultDir] = process.argv.slice(2) as [string, string, string];
const total = Number(totalText);
const f8: NativeDtype = { kind: 'float', size: 8, order: 'le' };

// Epoch seconds with sub-millisecond resolution, comparable with Python's time.time().
const now = (): number => (performance.timeOrigin + performance.now()) / 1000;

const { rank, size } = mpi.init();
const base = Math.floor(total / size);
const extra = total % size;
const count = base + (rank < extra ? 1 : 0);
const start = rank * base + Math.min(rank, extra);
// Element i holds i, as in the h5py writer.
const block = new Float64Array(count);
for (let i = 0; i < count; i++) block[i] = start + i;
const bytes = Buffer.from(block.buffer, block.byteOffset, block.byteLength);

// Settle V8 before the clock starts: the 256 MiB block is external memory, and the
// garbage collection it provokes would otherwise overlap the timed span.
(globalThis as { gc?: () => void }).gc?.();
await mpi.barrier();
const t0 = now();
const f = await H5File.open(file, { mode: 'create', parallel: true });
const t1 = now();
await f.createDataset('x', { dtype: f8, shape: [total] });
const t2 = now();
const report = await f.write('x', { start: [start], stride: [1], count: [count] }, bytes, { collective: true });
const t3 = now();
await f.close();
const t4 = now();

writeFileSync(
  path.join(resultDir, `rank-${rank}.json`),
  JSON.stringify({ rank, start: t0, end: t4, phases: { open: t1 - t0, create: t2 - t1, write: t3 - t2, close: t4 - t3 }, report }),
);
mpi.finalize();
