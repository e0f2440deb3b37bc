/**
 * `npm run bench`: every benchmark scenario of ph5 end to end, against its baselines in the
 * same run (issue 6), with medians of repeated runs and ratios. Prints a table and writes a
 * Markdown report with an SVG figure (default: docs/BENCHMARKS.md + docs/benchmarks.svg).
 *
 *   npm run bench                              # full: 1 GiB, 5 reps, 42 ranks, 200 jobs, ...
 *   npm run bench -- --quick                   # small sizes, 1 rep, 8 ranks, 20 jobs (< 3 min)
 *   npm run bench -- --only bulk,read --reps 7 --out /tmp/report --json /tmp/report/samples.json
 *   node dist/bench/suite.js --render /tmp/report/samples.json --out docs   # report only, from saved samples
 *
 * Scenarios: bulk, latency, small-writes, read, memory, scaling, put (bench/suite/*.ts reuse
 * bench/small-writes.ts and bench/upload-rss.ts). A scenario that fails is reported as
 * FAILED in the table and the exit code is 1; the others still run. Not a test: nothing
 * here asserts a speed.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSmallWrites } from './small-writes.js';
import { apiProcessesSettings, runApiProcesses } from './suite/api-processes.js';
import { runUploadRss } from './upload-rss.js';
import { fsType, runBulk, type Writer } from './suite/bulk.js';
import { runLatency, runSeed } from './suite/latency.js';
import { describeMachine, loadAverage } from './suite/machine.js';
import { renderSvg } from './suite/plot.js';
import { runRead } from './suite/read.js';
import { runPut } from './suite/put.js';
import { runReadRss } from './read-rss.js';
import { SCENARIOS, markdown, ratioBars, rows, scalingLines, textTable, type Scenario, type SuiteResults } from './suite/report.js';
import { MiB, GiB } from './suite/stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface SuiteOptions {
  quick: boolean;
  only: Scenario[];
  reps: number;
  out: string;
  /** Also write every sample as JSON here. */
  json?: string;
  log: (line: string) => void;
}

/** The sizes of one mode. */
function settings(quick: boolean) {
  return quick
    ? {
        bulkBytes: 64 * MiB,
        warmup: 0,
        scalingRanks: [1, 2, 4],
        seedRanks: 8,
        seedRuns: 1,
        jobs: 20,
        smallWrites: 500,
        readBytes: 16 * MiB,
        uploadBytes: 256 * MiB,
      }
    : {
        bulkBytes: GiB,
        warmup: 1,
        scalingRanks: [1, 2, 4, 8],
        seedRanks: 42,
        seedRuns: 3,
        jobs: 200,
        smallWrites: 10_000,
        readBytes: 256 * MiB,
        uploadBytes: 4 * GiB,
      };
}

export function parseSuiteArgs(argv: string[]): SuiteOptions {
  const fail = (msg: string): never => {
    throw new Error(`${msg}\nusage: suite [--quick] [--only ${SCENARIOS.join(',')}] [--reps N] [--out DIR] [--json FILE] [--render FILE]`);
  };
  let quick = false;
  let only: Scenario[] = [...SCENARIOS];
  let reps: number | undefined;
  let out = path.join(root, 'docs');
  let json: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => argv[++i] ?? fail(`${a} needs a value`);
    if (a === '--quick') quick = true;
    else if (a === '--only') {
      only = value().split(',') as Scenario[];
      for (const s of only) if (!SCENARIOS.includes(s)) fail(`unknown scenario ${s}`);
    } else if (a === '--reps') {
      reps = Number(value());
      if (!Number.isInteger(reps) || reps < 1) fail('--reps needs a positive integer');
    } else if (a === '--out') out = path.resolve(value());
    else if (a === '--json') json = path.resolve(value());
    else if (a === '--render')
      value(); // handled by the command line below
    else fail(`unknown argument ${a}`);
  }
  return { quick, only, reps: reps ?? (quick ? 1 : 5), out, ...(json ? { json } : {}), log: (l) => process.stderr.write(`${l}\n`) };
}

export async function runSuite(opts: SuiteOptions): Promise<{ results: SuiteResults; markdownPath: string; svgPath: string; table: string }> {
  const set = settings(opts.quick);
  const t0 = performance.now();
  const results: SuiteResults = {
    quick: opts.quick,
    reps: opts.reps,
    machine: describeMachine(),
    loadBefore: loadAverage(),
    loadAfter: '',
    seconds: 0,
    bulk: [],
    latency: [],
    rankMemory: [],
    scaling: [],
    errors: {},
  };
  const log = opts.log;
  const wants = (s: Scenario) => opts.only.includes(s);
  const attempt = async (s: Scenario, body: () => Promise<void>) => {
    if (!wants(s)) return;
    (results.scenarioLoad ??= {})[s] = loadAverage();
    log(`== ${s} (load ${results.scenarioLoad[s]})`);
    const started = performance.now();
    try {
      await body();
    } catch (err) {
      results.errors[s] = (err as Error).stack ?? String(err);
      log(`!! ${s} failed: ${results.errors[s]}`);
    }
    log(`   ${s}: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  };
  const places = [
    { fs: 'tmpfs', base: '/dev/shm' },
    { fs: `disk (${fsType(os.tmpdir())})`, base: os.tmpdir() },
  ];
  const bulkCommon = { bytes: set.bulkBytes, reps: opts.reps, warmup: set.warmup, log };

  await attempt('bulk', async () => {
    for (const p of places) {
      const { series, memory } = await runBulk({ ...bulkCommon, ...p, ranks: 4, layouts: ['1-D', '2-D'], writers: ['ph5', 'h5py', 'dd', 'sink', 'discard'] });
      results.bulk.push(...series);
      results.rankMemory.push(memory);
    }
  });
  await attempt('scaling', async () => {
    const tmpfs = places[0]!;
    for (const ranks of set.scalingRanks) {
      const reuse = results.bulk.find((b) => b.fs === tmpfs.fs && b.layout === '1-D' && b.ranks === ranks);
      if (reuse) {
        results.scaling.push(reuse);
        continue;
      }
      const { series } = await runBulk({ ...bulkCommon, ...tmpfs, ranks, layouts: ['1-D'], writers: ['ph5', 'h5py'] as Writer[] });
      results.scaling.push(...series);
    }
  });
  await attempt('memory', async () => {
    if (!results.rankMemory.length) {
      // Without the bulk scenario: one bulk write on disk for the ranks' figures.
      const { memory } = await runBulk({ ...bulkCommon, ...places[1]!, reps: 1, warmup: 0, ranks: 4, layouts: ['1-D'], writers: ['ph5'] });
      results.rankMemory.push(memory);
    }
    results.uploadRss = await runUploadRss(set.uploadBytes);
    results.readRss = await runReadRss(set.readBytes);
  });
  await attempt('latency', async () => {
    results.latency.push(await runLatency({ name: 'seed 42 × int32', ranks: set.seedRanks, jobs: set.jobs, elements: 42, dtype: 'int32', body: 'json', log }));
    results.latency.push(await runLatency({ name: '1 KiB float64', ranks: 4, jobs: set.jobs, elements: 128, dtype: 'float64', body: 'bytes', log }));
    log(`  seed script: mpirun -n ${set.seedRanks} × ${set.seedRuns}`);
    results.seed = { ranks: set.seedRanks, seconds: runSeed(set.seedRanks, set.seedRuns) };
  });
  await attempt('read', async () => {
    results.read = await runRead({ sliceBytes: set.readBytes, reps: opts.reps, warmup: set.warmup, log });
  });
  await attempt('small-writes', async () => {
    results.smallWrites = await runSmallWrites({
      writes: set.smallWrites,
      clients: 32,
      ranks: 4,
      rawConcurrency: [1, 32],
      splitWrites: 0,
      warmupWrites: Math.min(2000, set.smallWrites),
      rounds: 1,
      log: (l) => log(`  ${l}`),
    });
  });
  await attempt('api-processes', async () => {
    results.apiProcesses = await runApiProcesses(apiProcessesSettings(opts.quick, opts.reps, (l) => log(`  ${l}`)));
  });

  await attempt('put', async () => {
    for (const p of places) {
      // Quick mode's 64 MiB is at the parts threshold: lower it there so the parts path runs.
      const partArgs = opts.quick ? ['--parts-above', '1M', '--part-size', '16M'] : [];
      (results.put ??= []).push(await runPut({ ...p, ranks: 4, bytes: set.bulkBytes, reps: opts.reps, warmup: set.warmup, log, partArgs }));
    }
  });

  results.loadAfter = loadAverage();
  results.seconds = (performance.now() - t0) / 1000;
  if (opts.json) writeFileSync(opts.json, JSON.stringify(results, null, 1));
  return { results, ...writeReport(results, opts.out) };
}

/** Writes BENCHMARKS.md and benchmarks.svg into `out`; the table for the terminal. */
export function writeReport(results: SuiteResults, out: string): { markdownPath: string; svgPath: string; table: string } {
  const opts = { out, quick: results.quick, reps: results.reps };
  mkdirSync(opts.out, { recursive: true });
  const svgName = 'benchmarks.svg';
  const svgPath = path.join(opts.out, svgName);
  const markdownPath = path.join(opts.out, 'BENCHMARKS.md');
  const subtitle =
    `${results.machine.date.slice(0, 10)} · ${results.machine.cores} cores (${results.machine.cpu}) · ` +
    `${opts.quick ? 'QUICK MODE' : `medians of ${opts.reps}`} · load ${results.loadBefore.split(' ')[0]} → ${results.loadAfter.split(' ')[0]}`;
  writeFileSync(svgPath, renderSvg('ph5 against its baselines (same run)', ratioBars(results), scalingLines(results), subtitle));
  writeFileSync(markdownPath, markdown(results, svgName));
  return { markdownPath, svgPath, table: textTable(rows(results)) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let opts: SuiteOptions;
  try {
    opts = parseSuiteArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  // --render FILE: only rewrite the report from the samples a run saved with --json.
  const render = process.argv.indexOf('--render');
  const running =
    render > 0
      ? Promise.resolve(JSON.parse(readFileSync(process.argv[render + 1]!, 'utf8')) as SuiteResults).then((results) => ({
          results,
          ...writeReport(results, opts.out),
        }))
      : runSuite(opts);
  running.then(
    ({ results, markdownPath, svgPath, table }) => {
      console.log(table);
      console.log(`\nwrote ${markdownPath} and ${svgPath} (${(results.seconds / 60).toFixed(1)} min; load ${results.loadBefore} → ${results.loadAfter})`);
      // The stacks' handles (autocannon, ioredis) may linger: the suite is done.
      process.exit(Object.keys(results.errors).length ? 1 : 0);
    },
    (err: unknown) => {
      console.error((err as Error).stack ?? String(err));
      process.exit(1);
    },
  );
}
