/**
 * `ph5 put` of a large .npy, the path users are told to take, timed as a user sees it: the
 * real CLI binary, from its start to its exit after every job is `completed` (dataset
 * creation from the .npy header included). Two ways: in row-block parts (the default above
 * 64 MiB) and `--no-parts` (one streamed request, then the pool).
 *
 * Baselines in the same run, on the same filesystem, order rotated each repetition:
 * - the HTTP sink (b): a bare node:http server (no fastify) in its own process writing the
 *   body to a file and fsyncing it, fed the same .npy as ONE stream by the best
 *   single-stream client we have (node:http, 4 MiB file reads): what any Node service on
 *   this machine pays to receive these bytes durably (`startSink` can be swapped for the
 *   suite's shared sink);
 * - h5py-mpio writing the same array from memory with the same ranks (bench/h5py_bulk.py,
 *   via h5pyWrite).
 * Ratios are paired: each repetition's ph5 time over the same repetition's baseline, then
 * the median.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileRange, sendStream } from '../../services/client/parts.js';
import { h5py } from '../../test/helpers/h5.js';
import { childPids, cpuSeconds } from '../../test/helpers/proc.js';
import { startStack } from '../../test/helpers/stack.js';
import { h5pyWrite } from './bulk.js';
import type { Row } from './report.js';
import { run } from './service.js';
import { GiB, MiB, median } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PH5 = path.resolve(here, '..', '..', 'services', 'cli', 'ph5.js');
const PYTHON = '/usr/bin/python3';

export type PutWriter = 'parts' | 'single' | 'sink' | 'h5py';

export interface PutSeries {
  fs: string;
  ranks: number;
  bytes: number;
  /** Seconds per measured repetition, per writer. */
  seconds: Record<PutWriter, number[]>;
  /** Parts only: seconds until every part was accepted (the CLI's own figure). */
  partsUploadSeconds: number[];
  /** Parts only: when the pool started the first part's job and ended the last one, seconds after the CLI started. */
  partsPoolStart: number[];
  partsPoolEnd: number[];
  parts: number;
  /**
   * CPU seconds per run (user + system), per process kind: where the time goes on a machine
   * with few cores. ph5 parts: the CLI, the API process, the ranks; sink: the client (this
   * process) and the sink process.
   */
  cpu: { parts: { client: number[]; api: number[]; ranks: number[] }; sink: { client: number[]; sink: number[] } };
}

export interface Sink {
  url: string;
  /** The sink's process, when it has its own (for CPU accounting). */
  pid?: number;
  stop(): Promise<void>;
}
/** Starts an HTTP sink that writes each body into `dir` and fsyncs it before answering. */
export type SinkFactory = (dir: string) => Promise<Sink>;

/** The sink (b): bare node:http in its own process; body → file (4 MiB writes) → fsync → 200. */
const SINK_SCRIPT = `
const http = require('node:http'), fs = require('node:fs'), path = require('node:path');
const dir = process.argv[1]; let n = 0;
http.createServer((req, res) => {
  const file = path.join(dir, 'sink-' + n++ + '.bin');
  const out = fs.createWriteStream(file, { highWaterMark: 4 << 20 });
  req.pipe(out);
  out.on('close', () => { const fd = fs.openSync(file, 'r+'); fs.fsyncSync(fd); fs.closeSync(fd); res.end('ok'); fs.rmSync(file, { force: true }); });
}).listen(0, '127.0.0.1', function () { process.stdout.write(this.address().port + '\\n'); });
`;

export const startSink: SinkFactory = (dir) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', SINK_SCRIPT, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.on('error', reject);
    child.stdout.once('data', (b: Buffer) =>
      resolve({
        url: `http://127.0.0.1:${Number(b.toString().trim())}`,
        ...(child.pid ? { pid: child.pid } : {}),
        stop: () =>
          new Promise<void>((done) => {
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      }),
    );
  });

/** One upload of the file to the sink as one stream; seconds until its answer. */
export async function sendToSink(sink: Sink, file: string): Promise<number> {
  const size = statSync(file).size;
  const t0 = performance.now();
  const answer = await sendStream(new URL(`${sink.url}/sink`), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: fileRange(file, 0, size),
  });
  if (answer.status !== 200) throw new Error(`sink answered ${answer.status}`);
  return (performance.now() - t0) / 1000;
}

interface CliRun {
  seconds: number;
  /** Date.now() when the CLI was started (to place the jobs' timings). */
  startedAt: number;
  /** The CLI's CPU seconds. */
  cpu: number;
  summary: { state: string; uploadMs?: number; parts?: number; jobs?: { id: string }[]; id?: string };
}

function runCli(url: string, args: string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const startedAt = Date.now();
    // bash's `time` reports the CLI's own CPU (user, system) on the last line of stderr.
    const quoted = [process.execPath, PH5, ...args, '--json', '--quiet'].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const child = spawn('bash', ['-c', `TIMEFORMAT='cpu %U %S'; time ${quoted}`], {
      env: { ...process.env, PH5_URL: url, PH5_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`ph5 ${args.join(' ')}: exit ${code}\n${out}\n${err}`));
      const cpu = /cpu (\S+) (\S+)\s*$/.exec(err);
      resolve({
        seconds,
        startedAt,
        cpu: cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN,
        summary: JSON.parse(out.trim().split('\n').pop()!) as CliRun['summary'],
      });
    });
  });
}

/** Serial h5py: the dataset holds 0..n-1 (float64) at a few places. */
async function verify(file: string, n: number): Promise<void> {
  const idx = [0, 1, Math.floor(n / 3), Math.floor(n / 2) + 7, n - 1];
  const got = await h5py<number[]>(file, `d = h5py.File(path, 'r')['x']; out = [float(d[i]) for i in ${JSON.stringify(idx)}]`);
  idx.forEach((i, k) => {
    if (got[k] !== i) throw new Error(`${file}: x[${i}] = ${got[k]}`);
  });
}

export interface PutOptions {
  base: string;
  fs: string;
  ranks: number;
  bytes: number;
  reps: number;
  warmup: number;
  log: (line: string) => void;
  /** Extra arguments for the parted put (e.g. --part-size 64M --connections 4). */
  partArgs?: string[];
  sink?: SinkFactory;
}

export async function runPut(opts: PutOptions): Promise<PutSeries> {
  const dir = mkdtempSync(path.join(opts.base, 'ph5-put-'));
  const dataDir = path.join(dir, 'data');
  const n = opts.bytes / 8;
  const npy = path.join(dir, 'source.npy');
  const made = spawnSync(PYTHON, ['-c', `import sys, numpy as np; np.save(sys.argv[1], np.arange(${n}, dtype='<f8'))`, npy], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`making ${npy}: ${made.stderr}`);
  const sinkDir = path.join(dir, 'sink');
  const h5pyDir = path.join(dir, 'h5py');
  spawnSync('mkdir', ['-p', sinkDir, h5pyDir]);
  const stack = await startStack({ ranks: opts.ranks, env: { PH5_DATA_DIR: dataDir, PH5_LOG_LEVEL: 'warn', PH5_RATE_LIMIT_PER_MINUTE: '0' } });
  let sink: Sink;
  try {
    sink = await (opts.sink ?? startSink)(sinkDir);
  } catch (err) {
    await stack.stop();
    throw err;
  }
  const series: PutSeries = {
    fs: opts.fs,
    ranks: opts.ranks,
    bytes: opts.bytes,
    seconds: { parts: [], single: [], sink: [], h5py: [] },
    partsUploadSeconds: [],
    partsPoolStart: [],
    partsPoolEnd: [],
    parts: 0,
    cpu: { parts: { client: [], api: [], ranks: [] }, sink: { client: [], sink: [] } },
  };
  const writers: PutWriter[] = ['parts', 'sink', 'single', 'h5py'];
  let runNumber = 0;
  try {
    const ranks = await childPids(stack.pool.pid!);
    const once = async (
      w: PutWriter,
    ): Promise<{ seconds: number; upload?: number; pool?: { start: number; end: number }; parts?: number; cpu?: Record<string, number> }> => {
      spawnSync('sync');
      if (w === 'sink') {
        const s0 = sink.pid ? await cpuSeconds(sink.pid) : NaN;
        const c0 = process.cpuUsage();
        const seconds = await sendToSink(sink, npy);
        const c = process.cpuUsage(c0);
        return { seconds, cpu: { client: (c.user + c.system) / 1e6, sink: sink.pid ? (await cpuSeconds(sink.pid)) - s0 : NaN } };
      }
      if (w === 'h5py') {
        const target = path.join(h5pyDir, 'put.h5');
        const seconds = h5pyWrite(target, [n], opts.ranks);
        rmSync(target, { force: true });
        return { seconds };
      }
      const name = `put-${++runNumber}.h5`;
      const a0 = await cpuSeconds(stack.api.pid!);
      const r0 = await Promise.all(ranks.map(cpuSeconds));
      const r = await runCli(stack.url, ['put', `${name}:/x`, npy, ...(w === 'single' ? ['--no-parts'] : (opts.partArgs ?? []))]);
      if (r.summary.state !== 'completed') throw new Error(`ph5 put ${w}: ${JSON.stringify(r.summary).slice(0, 500)}`);
      const cpu = {
        client: r.cpu,
        api: (await cpuSeconds(stack.api.pid!)) - a0,
        ranks: (await Promise.all(ranks.map(cpuSeconds))).reduce((a, x, i) => a + x - r0[i]!, 0),
      };
      await verify(path.join(dataDir, 'default', name), n);
      let pool: { start: number; end: number } | undefined;
      if (w === 'parts') {
        // Where the pool's work fell: each job's start (accepted + queued) and end, against the CLI's start.
        const ids = [...new Set((r.summary.jobs ?? []).map((j) => j.id))];
        const spans = await Promise.all(
          ids.map(async (id) => {
            const job = (await (await fetch(`${stack.url}/v1/jobs/${id}`)).json()) as {
              timings: { acceptedAt: number };
              result?: { timings?: { queuedMs: number; totalMs: number } };
            };
            const start = job.timings.acceptedAt + (job.result?.timings?.queuedMs ?? NaN);
            return { start, end: start + (job.result?.timings?.totalMs ?? NaN) };
          }),
        );
        pool = { start: (Math.min(...spans.map((x) => x.start)) - r.startedAt) / 1000, end: (Math.max(...spans.map((x) => x.end)) - r.startedAt) / 1000 };
      }
      await run(stack.url, 'DELETE', `/v1/files/${name}`);
      return {
        seconds: r.seconds,
        cpu,
        ...(r.summary.uploadMs !== undefined ? { upload: r.summary.uploadMs / 1000 } : {}),
        ...(pool ? { pool } : {}),
        ...(r.summary.parts ? { parts: r.summary.parts } : {}),
      };
    };
    for (let rep = -opts.warmup; rep < opts.reps; rep++) {
      const k = ((rep % writers.length) + writers.length) % writers.length;
      const order = [...writers.slice(k), ...writers.slice(0, k)];
      const line: string[] = [];
      for (const w of order) {
        const r = await once(w);
        line.push(`${w} ${r.seconds.toFixed(3)} s`);
        if (rep < 0) continue;
        series.seconds[w].push(r.seconds);
        if (r.upload !== undefined) series.partsUploadSeconds.push(r.upload);
        if (r.pool) {
          series.partsPoolStart.push(r.pool.start);
          series.partsPoolEnd.push(r.pool.end);
        }
        if (r.parts) series.parts = r.parts;
        if (w === 'parts' && r.cpu) for (const k of ['client', 'api', 'ranks'] as const) series.cpu.parts[k].push(r.cpu[k]!);
        if (w === 'sink' && r.cpu) for (const k of ['client', 'sink'] as const) series.cpu.sink[k].push(r.cpu[k]!);
      }
      opts.log(`  put ${opts.fs} ${opts.bytes / MiB} MiB ${rep < 0 ? 'warm-up' : `rep ${rep + 1}`}: ${line.join(', ')}`);
    }
    return series;
  } finally {
    await sink.stop();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Median of per-repetition ratios a[i] / b[i] (paired: the same repetition). */
export function pairedRatio(a: number[], b: number[]): number {
  return median(a.slice(0, Math.min(a.length, b.length)).map((x, i) => x / b[i]!));
}

const s3 = (v: number): string => `${v.toFixed(3)} s`;
const size = (bytes: number): string => (bytes >= GiB ? `${bytes / GiB} GiB` : `${bytes / MiB} MiB`);

const cpu = (xs: number[]): string => `${median(xs).toFixed(2)} s`;
const sum3 = (c: { client: number[]; api: number[]; ranks: number[] }): number[] => c.client.map((x, i) => x + (c.api[i] ?? NaN) + (c.ranks[i] ?? NaN));

/** The report's rows: `ph5 put` in parts against sink (b) and h5py-mpio; the single request for comparison. */
export function putRows(list: PutSeries[]): Row[] {
  return list.map((saved) => {
    // Samples saved before CPU was recorded still render.
    const p = { ...saved, cpu: saved.cpu ?? { parts: { client: [], api: [], ranks: [] }, sink: { client: [], sink: [] } } };
    const parts = median(p.seconds.parts);
    const single = median(p.seconds.single);
    const sink = median(p.seconds.sink);
    const h5 = median(p.seconds.h5py);
    const vsSink = pairedRatio(p.seconds.parts, p.seconds.sink);
    const vsH5py = pairedRatio(p.seconds.parts, p.seconds.h5py);
    const onDisk = !p.fs.startsWith('tmpfs');
    const met = Number.isFinite(vsSink) ? vsSink <= 1.3 && (!onDisk || vsH5py <= 2) : null;
    return {
      scenario: 'put',
      measure: `ph5 put of a ${size(p.bytes)} .npy (float64) to completed, ${p.ranks} ranks, ${p.fs}`,
      ph5: `${s3(parts)} in ${p.parts} parts (all accepted ${s3(median(p.partsUploadSeconds))}); one request ${s3(single)}`,
      baseline: `HTTP sink (b) ${s3(sink)}; h5py-mpio ${s3(h5)}`,
      ratio: `${vsSink.toFixed(2)}× sink (b), ${vsH5py.toFixed(2)}× h5py (paired medians); one request ${pairedRatio(p.seconds.single, p.seconds.sink).toFixed(2)}× sink`,
      target: onDisk ? '≤ 1.3× sink (b) and ≤ 2× h5py' : '≤ 1.3× sink (b)',
      met,
      why:
        `the parts were all accepted after ${s3(median(p.partsUploadSeconds))} (upload, staging, queueing; one API process); ` +
        `the pool applied them from ${s3(median(p.partsPoolStart))} to ${s3(median(p.partsPoolEnd))} after the CLI started (overlapped with the upload, ` +
        `then ${s3(median(p.partsPoolEnd) - median(p.partsUploadSeconds))} alone after the last part was accepted). CPU per put: ` +
        `CLI ${cpu(p.cpu.parts.client)}, API ${cpu(p.cpu.parts.api)}, ranks ${cpu(p.cpu.parts.ranks)} = ${cpu(sum3(p.cpu.parts))} against the sink's ` +
        `client ${cpu(p.cpu.sink.client)} + sink ${cpu(p.cpu.sink.sink)}: with ${os.cpus().length} cores the work itself, not the pipeline, sets the time`,
      bar: { label: `ph5 put ${p.fs} vs HTTP sink (b)`, ratio: vsSink, target: 1.3, met },
    };
  });
}
