/**
 * Bulk write: one float64 array sent as ONE application/octet-stream PUT to a real stack
 * (API process + Redis + a worker pool of R ranks), timed from the request's first byte to
 * the job `completed` as the client sees it (long-poll). In the same run and the same
 * directory, the baselines: Debian's h5py-mpio writing the same array from memory with the
 * same ranks and layout (bench/h5py_bulk.py, timed file create -> close), and `dd` of the
 * same size with conv=fdatasync (the storage floor). The order of the three rotates each
 * repetition; after every run the file is checked (shape, values) by serial h5py, deleted,
 * and `sync` runs so that no run pays for the previous one's write-back.
 *
 * While the stack runs, each rank's peak resident set (VmHWM in /proc/<pid>/status of the
 * pool's mpirun children) is read from outside: a rank should hold about its slice, not the
 * whole payload.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mpiEnv } from '../../services/worker/pool.js';
import { h5py } from '../../test/helpers/h5.js';
import { childPids } from '../../test/helpers/proc.js';
import { startStack } from '../../test/helpers/stack.js';
import { run, submit, waitJob } from './service.js';
import { startSink, type HttpSink } from './sink.js';
import { MiB } from './stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PYTHON = '/usr/bin/python3';
const FILE = 'bulk.h5';
/** Row length of the 2-D layout: rows of 1024 float64 (8 KiB). */
const ROW = 1024;

export type Layout = '1-D' | '2-D';
/**
 * 'sink' and 'discard': the bare node:http sink of sink.ts receiving the same body, (b)
 * written and fsynced in the same directory, (a) discarded: the wire's ceilings.
 */
export type Writer = 'ph5' | 'h5py' | 'dd' | 'sink' | 'discard';

export interface BulkSeries {
  fs: string;
  dir: string;
  layout: Layout;
  ranks: number;
  bytes: number;
  /** Seconds per measured repetition, per writer (dd only where asked). */
  seconds: Partial<Record<Writer, number[]>>;
  /** ph5 only: seconds until the upload was answered 202, and the worker's own job time. */
  acceptSeconds: number[];
  workerSeconds: number[];
}

export interface RankMemory {
  fs: string;
  ranks: number;
  bytes: number;
  /** The largest slice a rank writes. */
  sliceMiB: number;
  /** Per rank: resident set before the first bulk job, and the peak (VmHWM) after the last. */
  beforeMiB: number[];
  peakMiB: number[];
}

export interface BulkOptions {
  /** Parent directory of the data (a tmpfs or a disk). */
  base: string;
  fs: string;
  ranks: number;
  layouts: Layout[];
  bytes: number;
  reps: number;
  warmup: number;
  writers: Writer[];
  log: (line: string) => void;
}

export function shapeOf(layout: Layout, bytes: number): number[] {
  const n = bytes / 8;
  return layout === '1-D' ? [n] : [n / ROW, ROW];
}

/** Element i (flat, C order) holds i: what every writer writes, so every file can be checked. */
let cached: Buffer | undefined;
export function payload(bytes: number): Buffer {
  if (cached?.length !== bytes) {
    cached = undefined;
    const values = new Float64Array(bytes / 8);
    for (let i = 0; i < values.length; i++) values[i] = i;
    cached = Buffer.from(values.buffer);
  }
  return cached;
}

function kib(status: string, key: string): number {
  return Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
}

function rankStatus(pids: number[]): { rss: number; hwm: number }[] {
  return pids.map((pid) => {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rss: kib(s, 'VmRSS'), hwm: kib(s, 'VmHWM') };
  });
}

/** Serial h5py: shape, dtype, and the value (= flat index) at a few places. */
export async function verifyBulkFile(file: string, shape: number[]): Promise<void> {
  const n = shape.reduce((a, b) => a * b, 1);
  const idx = [0, 1, Math.floor(n / 3), Math.floor(n / 2) + 7, n - 1];
  const got = await h5py<{ shape: number[]; dtype: string; values: number[] }>(
    file,
    `d = h5py.File(path, 'r')['x']\n` +
      `out = {'shape': list(d.shape), 'dtype': d.dtype.str, 'values': [float(d[np.unravel_index(i, d.shape)]) for i in ${JSON.stringify(idx)}]}`,
  );
  const problems: string[] = [];
  if (JSON.stringify(got.shape) !== JSON.stringify(shape)) problems.push(`shape ${JSON.stringify(got.shape)}`);
  if (got.dtype !== '<f8') problems.push(`dtype ${got.dtype}`);
  idx.forEach((i, k) => got.values[k] !== i && problems.push(`x[flat ${i}] = ${got.values[k]}`));
  if (problems.length) throw new Error(`${file} is wrong: ${problems.join(', ')}`);
}

function syncDisk(): void {
  spawnSync('sync');
}

/** The h5py-mpio baseline: one mpirun, span from the earliest rank's start to the latest's end. */
export function h5pyWrite(file: string, shape: number[], ranks: number): number {
  const results = mkdtempSync(path.join(os.tmpdir(), 'ph5-suite-h5py-'));
  try {
    const r = spawnSync(
      'mpirun',
      ['--oversubscribe', '--bind-to', 'none', '-n', String(ranks), PYTHON, path.join(root, 'bench', 'h5py_bulk.py'), file, JSON.stringify(shape), results],
      { env: mpiEnv(process.env), encoding: 'utf8', timeout: 30 * 60_000 },
    );
    if (r.status !== 0) throw new Error(`h5py-mpio failed (${r.status ?? r.signal})\n${r.stdout}\n${r.stderr}`);
    const spans = readdirSync(results).map((f) => JSON.parse(readFileSync(path.join(results, f), 'utf8')) as { start: number; end: number });
    if (spans.length !== ranks) throw new Error(`h5py-mpio: ${spans.length} of ${ranks} ranks reported`);
    return Math.max(...spans.map((s) => s.end)) - Math.min(...spans.map((s) => s.start));
  } finally {
    rmSync(results, { recursive: true, force: true });
  }
}

/** `dd` of the same size from /dev/zero, flushed to the device (conv=fdatasync): the floor. */
export function ddWrite(dir: string, bytes: number): number {
  const file = path.join(dir, 'dd.bin');
  const block = 4 * MiB;
  const t0 = performance.now();
  const r = spawnSync('dd', ['if=/dev/zero', `of=${file}`, `bs=${block}`, `count=${Math.ceil(bytes / block)}`, 'conv=fdatasync'], { encoding: 'utf8' });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`dd failed: ${r.stderr}`);
  rmSync(file, { force: true });
  return seconds;
}

/**
 * Runs every layout on one stack of `ranks` ranks over `base`. Returns a series per layout
 * and the ranks' memory over all of them.
 */
export async function runBulk(opts: BulkOptions): Promise<{ series: BulkSeries[]; memory: RankMemory }> {
  const dir = mkdtempSync(path.join(opts.base, 'ph5-suite-'));
  const dataDir = path.join(dir, 'data');
  const stack = await startStack({
    ranks: opts.ranks,
    env: { PH5_DATA_DIR: dataDir, PH5_LOG_LEVEL: 'warn', PH5_RATE_LIMIT_PER_MINUTE: '0' },
  });
  const h5pyDir = path.join(dir, 'h5py');
  spawnSync('mkdir', ['-p', h5pyDir]);
  // A fresh file name per run: the API remembers datasets it accepted, so the next run
  // creates its own file instead of reusing a deleted one's name.
  let runNumber = 0;
  const body = payload(opts.bytes);
  const series: BulkSeries[] = [];
  let sink: HttpSink | undefined;
  try {
    if (opts.writers.includes('sink') || opts.writers.includes('discard')) {
      const sinkDir = path.join(dir, 'sink');
      spawnSync('mkdir', ['-p', sinkDir]);
      sink = await startSink(sinkDir);
    }
    const pids = await childPids(stack.pool.pid!);
    if (pids.length !== opts.ranks) throw new Error(`expected ${opts.ranks} ranks under mpirun ${stack.pool.pid}, found ${pids.length}`);
    const before = rankStatus(pids);
    for (const layout of opts.layouts) {
      const shape = shapeOf(layout, opts.bytes);
      const s: BulkSeries = { fs: opts.fs, dir, layout, ranks: opts.ranks, bytes: opts.bytes, seconds: {}, acceptSeconds: [], workerSeconds: [] };
      for (const w of opts.writers) s.seconds[w] = [];
      const writeOnce = async (writer: Writer): Promise<{ seconds: number; accept?: number; worker?: number }> => {
        if (writer === 'dd') return { seconds: ddWrite(dir, opts.bytes) };
        if (writer === 'sink' || writer === 'discard') {
          const seconds = await sink!.receive(writer === 'sink' ? 'durable' : 'discard', body);
          syncDisk();
          return { seconds };
        }
        if (writer === 'h5py') {
          const target = path.join(h5pyDir, FILE);
          const seconds = h5pyWrite(target, shape, opts.ranks);
          await verifyBulkFile(target, shape);
          rmSync(target, { force: true });
          syncDisk();
          return { seconds };
        }
        // ph5: the dataset is created first (untimed; no fill value, so no fill pass).
        const name = `bulk-${++runNumber}.h5`;
        const file = path.join(dataDir, 'default', name);
        await run(stack.url, 'POST', `/v1/files/${name}/datasets`, { path: 'x', dtype: 'float64', shape });
        syncDisk();
        const t0 = performance.now();
        const { location } = await submit(stack.url, 'PUT', `/v1/files/${name}/datasets/x/value`, body);
        const accept = (performance.now() - t0) / 1000;
        const job = await waitJob(stack.url, location);
        const seconds = (performance.now() - t0) / 1000;
        await verifyBulkFile(file, shape);
        await run(stack.url, 'DELETE', `/v1/files/${name}`);
        syncDisk();
        return { seconds, accept, worker: (job.result?.timings?.totalMs ?? NaN) / 1000 };
      };
      for (let rep = -opts.warmup; rep < opts.reps; rep++) {
        // Rotate who goes first, so no writer always follows the same one.
        const k = ((rep % opts.writers.length) + opts.writers.length) % opts.writers.length;
        const order = [...opts.writers.slice(k), ...opts.writers.slice(0, k)];
        const line: string[] = [];
        for (const writer of order) {
          const r = await writeOnce(writer);
          line.push(`${writer} ${r.seconds.toFixed(3)} s`);
          if (rep < 0) continue;
          s.seconds[writer]!.push(r.seconds);
          if (r.accept !== undefined) s.acceptSeconds.push(r.accept);
          if (r.worker !== undefined) s.workerSeconds.push(r.worker);
        }
        opts.log(`  bulk ${opts.fs} ${layout} ${opts.ranks} ranks ${rep < 0 ? 'warm-up' : `rep ${rep + 1}`}: ${line.join(', ')}`);
      }
      series.push(s);
    }
    const after = rankStatus(pids);
    const sliceBytes = Math.ceil(opts.bytes / opts.ranks);
    return {
      series,
      memory: {
        fs: opts.fs,
        ranks: opts.ranks,
        bytes: opts.bytes,
        sliceMiB: Math.round(sliceBytes / MiB),
        beforeMiB: before.map((b) => Math.round(b.rss / MiB)),
        peakMiB: after.map((a) => Math.round(a.hwm / MiB)),
      },
    };
  } finally {
    await sink?.stop();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The filesystem type of a directory, as `stat -f` names it (tmpfs, ext2/ext3, xfs...). */
export function fsType(dir: string): string {
  return spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).stdout.trim() || '?';
}

export function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}
