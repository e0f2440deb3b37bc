/**
 * Micro-benchmark: a collective write of contiguous float64 through the ph5 addon versus
 * Debian's h5py-mpio, same layout, same ranks, same target directory, in one run.
 * (A benchmark, not a test: it prints figures and asserts nothing about speed.)
 *
 *   npm run bench:native                      # 1 GiB, 4 ranks, 5 reps, tmp dir on disk
 *   npm run bench:native -- --shm             # target a tmp dir in /dev/shm instead
 *   npm run bench:native -- --quick           # 64 MiB, 2 reps (CI smoke run)
 *   node dist/bench/native-write.js --size-mib 256 --reps 7 --warmup 2 --settle-ms 2000 --ranks 2 --dir /scratch --json out.json
 *
 * Each repetition runs both writers, alternating which goes first (addon, h5py, then
 * h5py, addon, ...), after one unmeasured warm-up round (--warmup N; the first 1 GiB
 * written in a fresh VM is several times slower than the rest), both into the same file
 * path. Each writer is one `mpirun --oversubscribe -n R` job (bench/native-write-rank.ts,
 * bench/h5py_write.py); every rank fills its block first,
 * then after a barrier times file create -> dataset create -> collective write -> close.
 * The figure for a run is the span from the earliest rank's start to the latest rank's
 * end (epoch clocks of one machine), so process start-up, imports and filling the buffer
 * are outside it for both. After each run the file is checked (shape, dtype, the values at
 * every block boundary, read with serial h5py), deleted, and `sync` runs so that the next
 * run does not pay for this one's write-back. See bench/README.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mpiEnv } from '../services/worker/pool.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = path.resolve(here, '..', '..');
const PYTHON = '/usr/bin/python3';

type Writer = 'addon' | 'h5py';

interface Options {
  sizeMiB: number;
  reps: number;
  ranks: number;
  dir: string;
  json: string | null;
  /** Unmeasured rounds (both writers) before the measured ones. */
  warmup: number;
  /** Pause after each run's clean-up, so the kernel's follow-up work does not land in the next run. */
  settleMs: number;
}

interface RankResult {
  rank: number;
  start: number;
  end: number;
  phases: Record<'open' | 'create' | 'write' | 'close', number>;
  report?: { collective: boolean; noCollectiveCause: string[] };
}

interface Run {
  rep: number;
  writer: Writer;
  /** Earliest rank start to latest rank end, seconds. */
  seconds: number;
  /** Slowest rank's time in each phase, seconds. */
  phases: RankResult['phases'];
  collective: boolean | null;
  /** The writer of the run just before (warm-up included), null for the very first. */
  after: Writer | null;
}

function usage(message: string): never {
  console.error(
    `${message}\nusage: native-write [--quick] [--size-mib N] [--reps N] [--warmup N] [--settle-ms N] [--ranks N] [--dir PATH | --shm] [--json FILE]`,
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  let sizeMiB = 1024;
  let reps = 5;
  let ranks = 4;
  let base = os.tmpdir();
  let json: string | null = null;
  let quick = false;
  let warmup = 1;
  let settleMs = 0;
  const explicit = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${arg} needs a value`);
      return v;
    };
    const int = (): number => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) usage(`${arg} needs a positive integer`);
      explicit.add(arg);
      return n;
    };
    if (arg === '--quick') quick = true;
    else if (arg === '--size-mib') sizeMiB = int();
    else if (arg === '--reps') reps = int();
    else if (arg === '--ranks') ranks = int();
    else if (arg === '--dir') base = value();
    else if (arg === '--shm') base = '/dev/shm';
    else if (arg === '--json') json = value();
    else if (arg === '--settle-ms') {
      settleMs = Number(value());
      if (!Number.isInteger(settleMs) || settleMs < 0) usage('--settle-ms needs a non-negative integer');
    } else if (arg === '--warmup') {
      warmup = Number(value());
      if (!Number.isInteger(warmup) || warmup < 0) usage('--warmup needs a non-negative integer');
    } else usage(`unknown argument ${arg}`);
  }
  if (quick) {
    if (!explicit.has('--size-mib')) sizeMiB = 64;
    if (!explicit.has('--reps')) reps = 2;
  }
  return { sizeMiB, reps, ranks, dir: mkdtempSync(path.join(base, 'ph5-bench-')), json, warmup, settleMs };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function runWriter(writer: Writer, file: string, total: number, opts: Options): RankResult[] {
  const resultDir = mkdtempSync(path.join(os.tmpdir(), 'ph5-bench-results-'));
  try {
    const program =
      writer === 'addon' ? [process.execPath, '--expose-gc', path.join(here, 'native-write-rank.js')] : [PYTHON, path.join(root, 'bench', 'h5py_write.py')];
    const r = spawnSync('mpirun', ['--oversubscribe', '-n', String(opts.ranks), ...program, file, String(total), resultDir], {
      env: mpiEnv(process.env),
      encoding: 'utf8',
      timeout: 600_000,
    });
    if (r.status !== 0) throw new Error(`${writer} run failed (${r.status ?? r.signal ?? r.error?.message})\n${r.stdout}\n${r.stderr}`);
    const results = readdirSync(resultDir).map((f) => JSON.parse(readFileSync(path.join(resultDir, f), 'utf8')) as RankResult);
    if (results.length !== opts.ranks) throw new Error(`${writer}: ${results.length} of ${opts.ranks} ranks reported\n${r.stderr}`);
    return results;
  } finally {
    rmSync(resultDir, { recursive: true, force: true });
  }
}

/** Serial h5py checks shape, dtype and the value (= index) at every block boundary. */
function verify(file: string, total: number, ranks: number): void {
  const base = Math.floor(total / ranks);
  const extra = total % ranks;
  const idx = new Set<number>([0, total - 1]);
  for (let r = 1; r < ranks; r++) {
    const s = r * base + Math.min(r, extra);
    idx.add(s - 1).add(s);
  }
  const program = [
    'import sys, json, h5py',
    'f = h5py.File(sys.argv[1], "r")',
    'd = f["x"]',
    'idx = json.loads(sys.argv[2])',
    'print(json.dumps({"shape": list(d.shape), "dtype": d.dtype.str, "layout": d.id.get_create_plist().get_layout(), "values": [float(d[i]) for i in idx]}))',
  ].join('\n');
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('OMPI_') || k.startsWith('PMIX_')) delete env[k];
  const list = [...idx].sort((a, b) => a - b);
  const got = JSON.parse(execFileSync(PYTHON, ['-c', program, file, JSON.stringify(list)], { env, encoding: 'utf8' })) as {
    shape: number[];
    dtype: string;
    layout: number;
    values: number[];
  };
  const problems: string[] = [];
  if (got.shape.length !== 1 || got.shape[0] !== total) problems.push(`shape ${JSON.stringify(got.shape)}`);
  if (got.dtype !== '<f8') problems.push(`dtype ${got.dtype}`);
  if (got.layout !== 1) problems.push(`layout ${got.layout} (1 = contiguous)`);
  list.forEach((i, k) => {
    if (got.values[k] !== i) problems.push(`x[${i}] = ${got.values[k]}`);
  });
  if (problems.length) throw new Error(`${file} is wrong: ${problems.join(', ')}`);
}

function describeMachine(dir: string): string {
  const fsType = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).stdout.trim();
  const h5py = spawnSync(PYTHON, ['-c', 'import h5py; print(h5py.__version__, "HDF5", h5py.version.hdf5_version)'], { encoding: 'utf8' }).stdout.trim();
  const mpi = spawnSync('mpirun', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
  return [
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    `target: ${dir} (${fsType})`,
    `node ${process.version}, h5py ${h5py}, ${mpi}`,
  ].join('\n');
}

function main(): void {
  const opts = parseArgs(process.argv.slice(2));
  const total = (opts.sizeMiB * 2 ** 20) / 8;
  if (!Number.isInteger(total)) usage('--size-mib must give a whole number of float64 elements');
  const bytes = total * 8;
  const gib = bytes / 2 ** 30;
  console.log(`ph5 native write benchmark: ${opts.sizeMiB} MiB float64 (${total} elements), ${opts.ranks} ranks, ${opts.reps} reps`);
  console.log(describeMachine(opts.dir));
  const runs: Run[] = [];
  let previous: Writer | null = null;
  try {
    for (let rep = -opts.warmup; rep < opts.reps; rep++) {
      const order: Writer[] = (rep + opts.warmup) % 2 === 0 ? ['addon', 'h5py'] : ['h5py', 'addon'];
      for (const writer of order) {
        const file = path.join(opts.dir, 'bench.h5');
        rmSync(file, { force: true });
        const ranks = runWriter(writer, file, total, opts);
        const size = statSync(file).size;
        if (size < bytes) throw new Error(`${writer}: ${file} has ${size} bytes, expected at least ${bytes}`);
        verify(file, total, opts.ranks);
        rmSync(file, { force: true });
        spawnSync('sync');
        if (opts.settleMs > 0) spawnSync('sleep', [String(opts.settleMs / 1000)]);
        const seconds = Math.max(...ranks.map((r) => r.end)) - Math.min(...ranks.map((r) => r.start));
        const phases = { open: 0, create: 0, write: 0, close: 0 };
        for (const r of ranks) for (const k of Object.keys(phases) as Array<keyof typeof phases>) phases[k] = Math.max(phases[k], r.phases[k]);
        const collective = writer === 'addon' ? ranks.every((r) => r.report?.collective === true) : null;
        if (rep >= 0) runs.push({ rep, writer, seconds, phases, collective, after: previous });
        previous = writer;
        console.log(
          `${rep < 0 ? 'warm-up' : `rep ${rep + 1}`} ${writer.padEnd(5)} ${seconds.toFixed(3)} s  ${(gib / seconds).toFixed(2)} GiB/s  ` +
            `(slowest rank: open ${phases.open.toFixed(3)}, create ${phases.create.toFixed(3)}, write ${phases.write.toFixed(3)}, close ${phases.close.toFixed(3)} s)` +
            (collective === false ? '  NOT COLLECTIVE: ' + JSON.stringify(ranks.map((r) => r.report)) : ''),
        );
      }
    }
  } finally {
    rmSync(opts.dir, { recursive: true, force: true });
  }
  const times = (w: Writer): number[] => runs.filter((r) => r.writer === w).map((r) => r.seconds);
  const addon = median(times('addon'));
  const h5py = median(times('h5py'));
  const ratio = addon / h5py;
  // The best run of each: noise on a shared machine only ever adds time.
  const best = { addon: Math.min(...times('addon')), h5py: Math.min(...times('h5py')) };
  console.log(`median addon ${addon.toFixed(3)} s (${(gib / addon).toFixed(2)} GiB/s), h5py ${h5py.toFixed(3)} s (${(gib / h5py).toFixed(2)} GiB/s)`);
  console.log(
    `best   addon ${best.addon.toFixed(3)} s (${(gib / best.addon).toFixed(2)} GiB/s), h5py ${best.h5py.toFixed(3)} s (${(gib / best.h5py).toFixed(2)} GiB/s)`,
  );
  console.log(
    `ratio addon/h5py ${ratio.toFixed(3)} median, ${(best.addon / best.h5py).toFixed(3)} best (target <= 1.0)  ` +
      `load after: ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  // The first run of a rep follows a run of the same writer, the second a run of the
  // other one; a run after an addon run has been measured slower (bench/README.md), so
  // both are shown.
  const byPredecessor = (w: Writer, same: boolean): number =>
    median(runs.filter((r) => r.writer === w && r.after !== null && (r.after === w) === same).map((r) => r.seconds));
  const position = {
    addon: { afterItself: byPredecessor('addon', true), afterOther: byPredecessor('addon', false) },
    h5py: { afterItself: byPredecessor('h5py', true), afterOther: byPredecessor('h5py', false) },
  };
  if (opts.reps >= 2) {
    console.log(
      `medians by predecessor: after a run of the same writer addon ${position.addon.afterItself.toFixed(3)} s, h5py ${position.h5py.afterItself.toFixed(3)} s; ` +
        `after the other writer addon ${position.addon.afterOther.toFixed(3)} s, h5py ${position.h5py.afterOther.toFixed(3)} s`,
    );
  }
  if (opts.json) {
    writeFileSync(
      opts.json,
      JSON.stringify({ sizeMiB: opts.sizeMiB, ranks: opts.ranks, reps: opts.reps, runs, median: { addon, h5py }, best, position, ratio }, null, 2),
    );
  }
}

main();
