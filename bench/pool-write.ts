/**
 * Benchmark: the pool's own part of a bulk write (the ranks applying the epoch of one PUT
 * of a staged payload) against Debian's h5py-mpio writing the same array from memory, same
 * ranks, same layout, same directory, interleaved in one run. Not a test: it prints
 * figures and asserts nothing about speed.
 *
 *   npm run bench:pool                               # 1 GiB, 4 ranks, 1-D and 2-D, OS temp dir
 *   node dist/bench/pool-write.js --shm              # /dev/shm instead
 *   node dist/bench/pool-write.js --quick            # 64 MiB, 2 reps (smoke run)
 *   node dist/bench/pool-write.js --size-mib 1024 --reps 5 --warmup 1 --ranks 4 \
 *        --layouts 1-D,2-D --variant pool --variant nosync:PH5_FILE_SYNC=off \
 *        --variant small:PH5_STEP_MAX_BYTES=16777216 --json out.json
 *
 * A variant is `name[:ENV=value,ENV=value...]`: the pool run with those environment
 * variables (PH5_STEP_MAX_BYTES is the planner's step size; the rest reach the ranks).
 * Default variants: `pool` (as deployed: PH5_FILE_SYNC on) and `nosync` (PH5_FILE_SYNC=off,
 * what h5py's baseline does: no fsync).
 *
 * Each pool run is one `mpirun --oversubscribe --bind-to none -n R` of
 * bench/pool-write-rank.ts: create the file and dataset (untimed), barrier, then
 * applyPlan of the write epoch; its figure is the span from the earliest rank's start to
 * the latest rank's end, as for h5py (bench/h5py_bulk.py: file create -> close), and the
 * slowest rank's breakdown (open, staged reads, waits for a read, H5Dwrite, agreements,
 * close). The staged payload (element i = i) is written once per layout and stays in the
 * page cache, as a just-uploaded payload does. Writers rotate each repetition; after every
 * run the file is checked by serial h5py, deleted, and `sync` runs.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mpiEnv } from '../services/worker/pool.js';
import type { RankReport } from '../services/worker/protocol.js';
import { h5pyWrite, payload, shapeOf, verifyBulkFile, type Layout } from './suite/bulk.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench

interface Variant {
  name: string;
  env: Record<string, string>;
}

interface Options {
  sizeMiB: number;
  reps: number;
  warmup: number;
  ranks: number;
  base: string;
  layouts: Layout[];
  variants: Variant[];
  json: string | null;
}

interface RankResult {
  rank: number;
  start: number;
  end: number;
  steps: number;
  report: RankReport;
}

const PARTS = ['openMs', 'readMs', 'readWaitMs', 'writeMs', 'agreeMs', 'closeMs'] as const;
type Part = (typeof PARTS)[number];

interface Run {
  layout: Layout;
  rep: number;
  writer: string;
  seconds: number;
  /** Slowest rank's time in each part (ms); pool runs only. */
  parts?: Record<Part, number>;
}

function usage(message: string): never {
  console.error(
    `${message}\nusage: pool-write [--quick] [--size-mib N] [--reps N] [--warmup N] [--ranks N] [--dir PATH | --shm] [--layouts 1-D,2-D] [--variant name[:ENV=v,...]]... [--json FILE]`,
  );
  process.exit(2);
}

function parseVariant(text: string): Variant {
  const [name, envText] = text.split(/:(.*)/s) as [string, string | undefined];
  if (!/^[\w.-]+$/.test(name) || name === 'h5py') usage(`bad variant name '${name}'`);
  const env: Record<string, string> = {};
  for (const pair of envText ? envText.split(',') : []) {
    const eq = pair.indexOf('=');
    if (eq < 1) usage(`bad variant setting '${pair}' (ENV=value)`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { name, env };
}

function parseArgs(argv: string[]): Options {
  const o: Options = { sizeMiB: 1024, reps: 5, warmup: 1, ranks: 4, base: os.tmpdir(), layouts: ['1-D', '2-D'], variants: [], json: null };
  let quick = false;
  const explicit = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => argv[++i] ?? usage(`${arg} needs a value`);
    const int = (min: number): number => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < min) usage(`${arg} needs an integer >= ${min}`);
      explicit.add(arg);
      return n;
    };
    if (arg === '--quick') quick = true;
    else if (arg === '--size-mib') o.sizeMiB = int(1);
    else if (arg === '--reps') o.reps = int(1);
    else if (arg === '--warmup') o.warmup = int(0);
    else if (arg === '--ranks') o.ranks = int(1);
    else if (arg === '--dir') o.base = value();
    else if (arg === '--shm') o.base = '/dev/shm';
    else if (arg === '--json') o.json = value();
    else if (arg === '--variant') o.variants.push(parseVariant(value()));
    else if (arg === '--layouts') {
      o.layouts = value().split(',') as Layout[];
      if (!o.layouts.every((l) => l === '1-D' || l === '2-D')) usage('--layouts takes 1-D and/or 2-D');
    } else usage(`unknown argument ${arg}`);
  }
  if (quick) {
    if (!explicit.has('--size-mib')) o.sizeMiB = 64;
    if (!explicit.has('--reps')) o.reps = 2;
  }
  if (o.variants.length === 0)
    o.variants = [
      { name: 'pool', env: {} },
      { name: 'nosync', env: { PH5_FILE_SYNC: 'off' } },
    ];
  return o;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function poolWrite(
  dir: string,
  staging: string,
  shape: number[],
  variant: Variant,
  opts: Options,
): { seconds: number; parts: Record<Part, number>; steps: number } {
  const resultDir = mkdtempSync(path.join(os.tmpdir(), 'ph5-pool-write-'));
  try {
    const { PH5_STEP_MAX_BYTES: stepBytes, ...env } = variant.env;
    const config = {
      file: path.join(dir, 'pool.h5'),
      staging,
      staged: 'bulk.bin',
      shape,
      maxStepBytes: Number(stepBytes ?? 64 * 2 ** 20),
      resultDir,
    };
    const configFile = path.join(resultDir, 'config.json');
    writeFileSync(configFile, JSON.stringify(config));
    const r = spawnSync(
      'mpirun',
      ['--oversubscribe', '--bind-to', 'none', '-n', String(opts.ranks), process.execPath, '--expose-gc', path.join(here, 'pool-write-rank.js'), configFile],
      { env: { ...mpiEnv(process.env), ...env }, encoding: 'utf8', timeout: 30 * 60_000 },
    );
    if (r.status !== 0) throw new Error(`pool run ${variant.name} failed (${r.status ?? r.signal})\n${r.stdout}\n${r.stderr}`);
    const ranks = readdirSync(resultDir)
      .filter((f) => f.startsWith('rank-'))
      .map((f) => JSON.parse(readFileSync(path.join(resultDir, f), 'utf8')) as RankResult);
    if (ranks.length !== opts.ranks) throw new Error(`pool: ${ranks.length} of ${opts.ranks} ranks reported\n${r.stderr}`);
    const parts = Object.fromEntries(PARTS.map((p) => [p, 0])) as Record<Part, number>;
    for (const rr of ranks) {
      const { mappedBytes: _, ...b } = rr.report.breakdown ?? { readMs: NaN, readWaitMs: NaN, writeMs: NaN, agreeMs: NaN, mappedBytes: 0 };
      const mine: Record<Part, number> = { openMs: rr.report.openMs, closeMs: rr.report.closeMs, ...b };
      for (const p of PARTS) parts[p] = Math.max(parts[p], mine[p]);
    }
    const seconds = Math.max(...ranks.map((x) => x.end)) - Math.min(...ranks.map((x) => x.start));
    return { seconds, parts, steps: ranks[0]!.steps };
  } finally {
    rmSync(resultDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const bytes = opts.sizeMiB * 2 ** 20;
  const dir = mkdtempSync(path.join(opts.base, 'ph5-pool-write-'));
  const staging = path.join(dir, 'staging');
  mkdirSync(staging);
  const fsType = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).stdout.trim();
  console.log(`pool-write: ${opts.sizeMiB} MiB float64, ${opts.ranks} ranks, ${opts.reps} reps (+${opts.warmup} warm-up), ${dir} (${fsType})`);
  console.log(
    `machine: ${os.cpus().length} cores, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(`variants: ${opts.variants.map((v) => `${v.name} ${JSON.stringify(v.env)}`).join('; ')}`);
  const runs: Run[] = [];
  const writers = [...opts.variants.map((v) => v.name), 'h5py'];
  try {
    writeFileSync(path.join(staging, 'bulk.bin'), payload(bytes));
    spawnSync('sync');
    for (const layout of opts.layouts) {
      const shape = shapeOf(layout, bytes);
      for (let rep = -opts.warmup; rep < opts.reps; rep++) {
        const k = ((rep % writers.length) + writers.length) % writers.length;
        const order = [...writers.slice(k), ...writers.slice(0, k)];
        const line: string[] = [];
        for (const writer of order) {
          let run: Run;
          if (writer === 'h5py') {
            const file = path.join(dir, 'h5py.h5');
            const seconds = h5pyWrite(file, shape, opts.ranks);
            await verifyBulkFile(file, shape);
            rmSync(file, { force: true });
            run = { layout, rep, writer, seconds };
            line.push(`h5py ${seconds.toFixed(3)} s`);
          } else {
            const variant = opts.variants.find((v) => v.name === writer)!;
            const r = poolWrite(dir, staging, shape, variant, opts);
            const file = path.join(dir, 'pool.h5');
            await verifyBulkFile(file, shape);
            rmSync(file, { force: true });
            run = { layout, rep, writer, seconds: r.seconds, parts: r.parts };
            line.push(
              `${writer} ${r.seconds.toFixed(3)} s [${r.steps} steps; ${PARTS.map((p) => `${p.replace('Ms', '')} ${(r.parts[p] / 1000).toFixed(3)}`).join(', ')}]`,
            );
          }
          spawnSync('sync');
          if (rep >= 0) runs.push(run);
        }
        console.log(`${layout} ${rep < 0 ? 'warm-up' : `rep ${rep + 1}`}: ${line.join('; ')}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const summary: Record<string, unknown> = {};
  for (const layout of opts.layouts) {
    const of = (w: string) => runs.filter((r) => r.layout === layout && r.writer === w);
    const h5 = of('h5py');
    const h5Median = median(h5.map((r) => r.seconds));
    console.log(`${layout}: h5py-mpio median ${h5Median.toFixed(3)} s`);
    for (const v of opts.variants) {
      const mine = of(v.name);
      // Paired: each repetition's pool run over the same repetition's h5py run.
      const ratios = mine.map((r) => r.seconds / h5.find((h) => h.rep === r.rep)!.seconds);
      const parts = Object.fromEntries(PARTS.map((p) => [p, median(mine.map((r) => r.parts![p]))])) as Record<Part, number>;
      const med = median(mine.map((r) => r.seconds));
      console.log(
        `${layout}: ${v.name} median ${med.toFixed(3)} s, paired ratio to h5py ${median(ratios).toFixed(3)} (${ratios.map((x) => x.toFixed(2)).join(' ')}); ` +
          `slowest rank's parts (medians, s): ${PARTS.map((p) => `${p.replace('Ms', '')} ${(parts[p] / 1000).toFixed(3)}`).join(', ')}`,
      );
      summary[`${layout} ${v.name}`] = { median: med, h5py: h5Median, ratio: median(ratios), ratios, parts };
    }
  }
  console.log(
    `load after: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ opts, runs, summary }, null, 2));
}

await main();
