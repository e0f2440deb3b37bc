/**
 * What the durable close costs an epoch: the same epochs on the same file, closed with and
 * without `sync` (PH5_FILE_SYNC on / off), interleaved in one run, on the ranks of one
 * mpirun. An epoch here is what apply.ts does to the file: open 'rw', the collective
 * write steps (at most 64 MiB each, as the planner splits them), close. Two kinds:
 *   - big:   1 GiB of float64 over all ranks (16 steps of 64 MiB);
 *   - small: one 1 KiB row (rank 0 writes it, the others join with an empty selection).
 * Before every epoch, outside the clock, rank 0 runs `sync`: otherwise an epoch closed
 * without sync leaves its write-back to the next one, which would then pay for it.
 * One unmeasured big epoch of each mode first. Prints medians per kind, their ratio on /
 * off and the median of the rounds' paired ratios. A benchmark, not a test.
 *
 *   node dist/bench/durable-close.js                      # 4 ranks, OS temp dir (disk)
 *   node dist/bench/durable-close.js --ranks 4 --big-rounds 7 --small-rounds 200 --dir /dev/shm
 *   node dist/bench/durable-close.js --quick              # 64 MiB, a few rounds
 * (It starts its own `mpirun --oversubscribe -n <ranks>`.)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { H5File, mpi, type NativeDtype } from '../native/lib/index.js';
import { mpiEnv } from '../services/worker/pool.js';

interface Options {
  ranks: number;
  bigMiB: number;
  bigRounds: number;
  smallRounds: number;
  dir: string;
}

function options(argv: string[]): Options {
  const o: Options = { ranks: 4, bigMiB: 1024, bigRounds: 7, smallRounds: 200, dir: os.tmpdir() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => argv[++i]!;
    if (a === '--ranks') o.ranks = Number(next());
    else if (a === '--big-mib') o.bigMiB = Number(next());
    else if (a === '--big-rounds') o.bigRounds = Number(next());
    else if (a === '--small-rounds') o.smallRounds = Number(next());
    else if (a === '--dir') o.dir = next();
    else if (a === '--quick') Object.assign(o, { bigMiB: 64, bigRounds: 2, smallRounds: 6 });
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const f8: NativeDtype = { kind: 'float', size: 8, order: 'le' };
const ROW = 128; // float64: a 1 KiB row
const STEP = 64 << 20;

async function rank(o: Options, dir: string): Promise<void> {
  const { rank: me, size } = mpi.init();
  const file = path.join(dir, 'bench.h5');
  const elements = (o.bigMiB << 20) / 8;
  // The dataset of the big epochs (rows of ROW values) and a second one for the small ones.
  const rows = elements / ROW;
  if (me === 0) rmSync(file, { force: true });
  await mpi.barrier();
  {
    const f = await H5File.open(file, { mode: 'create', parallel: true });
    await f.createDataset('big', { dtype: f8, shape: [rows, ROW] });
    await f.createDataset('small', { dtype: f8, shape: [1024, ROW] });
    await f.close({ sync: true });
  }
  // Each step writes STEP bytes: balanced row blocks of it per rank, as decompose does.
  const stepRows = Math.min(rows, STEP / (ROW * 8));
  const mine = (first: number, count: number) => {
    const base = Math.floor(count / size);
    const extra = count % size;
    const n = base + (me < extra ? 1 : 0);
    const start = first + me * base + Math.min(me, extra);
    return { start, n };
  };
  const buffers = new Map<number, Buffer>();
  const block = (n: number) => {
    let b = buffers.get(n);
    if (!b) buffers.set(n, (b = Buffer.alloc(n * ROW * 8, 7)));
    return b;
  };

  async function epoch(kind: 'big' | 'small', sync: boolean, round: number): Promise<number> {
    // Write-back of earlier epochs, outside the clock (see the header).
    if (me === 0) execFileSync('sync');
    await mpi.barrier();
    const t0 = performance.now();
    const f = await H5File.open(file, { mode: 'rw', parallel: true });
    if (kind === 'big') {
      for (let first = 0; first < rows; first += stepRows) {
        const count = Math.min(stepRows, rows - first);
        const { start, n } = mine(first, count);
        await f.write('big', n ? { start: [start, 0], stride: [1, 1], count: [n, ROW] } : null, block(n));
      }
    } else {
      const row = round % 1024;
      await f.write('small', me === 0 ? { start: [row, 0], stride: [1, 1], count: [1, ROW] } : null, me === 0 ? block(1) : Buffer.alloc(0));
    }
    await f.close({ sync });
    await mpi.barrier();
    return performance.now() - t0;
  }

  const times: Record<string, number[]> = { 'big on': [], 'big off': [], 'small on': [], 'small off': [] };
  // One unmeasured big epoch of each: the first write of the dataset allocates its blocks
  // on disk and is several times slower than the overwrites after it.
  await epoch('big', true, 0);
  await epoch('big', false, 0);
  // Interleaved, alternating which mode goes first, so that drift hits both alike.
  for (let r = 0; r < o.bigRounds; r++) {
    for (const sync of r % 2 ? [false, true] : [true, false]) times[`big ${sync ? 'on' : 'off'}`]!.push(await epoch('big', sync, r));
  }
  for (let r = 0; r < o.smallRounds; r++) {
    for (const sync of r % 2 ? [false, true] : [true, false]) times[`small ${sync ? 'on' : 'off'}`]!.push(await epoch('small', sync, r));
  }
  if (me === 0) {
    const ms = (k: string) => median(times[k]!);
    const line = (kind: 'big' | 'small', label: string) => {
      const on = ms(`${kind} on`);
      const off = ms(`${kind} off`);
      // Round r's two epochs ran back to back: their ratio is the least disturbed by load.
      const paired = median(times[`${kind} on`]!.map((t, r) => t / times[`${kind} off`]![r]!));
      console.log(
        `${label}: sync on ${on.toFixed(1)} ms, off ${off.toFixed(1)} ms (medians), on/off ${(on / off).toFixed(2)}x (median paired ratio ${paired.toFixed(2)}x), +${(on - off).toFixed(1)} ms per epoch`,
      );
    };
    line('big', `${o.bigMiB} MiB epoch (${Math.ceil(rows / stepRows)} steps), ${o.bigRounds} rounds`);
    line('small', `1 KiB epoch, ${o.smallRounds} rounds`);
    console.log(`samples (ms): ${JSON.stringify(Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.map((x) => Math.round(x * 10) / 10)])))}`);
  }
  mpi.finalize();
}

const o = options(process.argv.slice(2));
if (process.env.OMPI_COMM_WORLD_SIZE) {
  await rank(o, process.env.PH5_BENCH_DIR!);
} else {
  const dir = mkdtempSync(path.join(o.dir, 'ph5-durable-bench-'));
  try {
    const fsType = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).stdout.trim();
    console.log(
      `durable close: ${o.ranks} ranks, ${dir} (${fsType}); load ${os
        .loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
    const self = fileURLToPath(import.meta.url);
    const run = spawnSync('mpirun', ['--oversubscribe', '--bind-to', 'none', '-n', String(o.ranks), process.execPath, self, ...process.argv.slice(2)], {
      env: { ...mpiEnv(process.env), PH5_BENCH_DIR: dir },
      stdio: 'inherit',
    });
    if (run.status !== 0) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
