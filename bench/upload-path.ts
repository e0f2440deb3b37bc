/**
 * The accept path against the wire (issue 15, item 2): a 1 GiB application/octet-stream
 * PUT to a real API process (and Redis; no worker: the job is only queued), timed from the
 * request's first byte to its `202`, interleaved round by round with the bare node:http
 * sink of bench/suite/sink.ts: (a) discarding the same body, (b) writing it to a file in
 * the same filesystem and fsyncing it. The order of the three rotates each round; `sync`
 * runs between runs. Medians, and the paired ratio ph5 ÷ sink (b) of each round (its
 * median is the figure: both sides of a pair ran within seconds of each other).
 *
 *   npm run bench:upload-path                                  # 1 GiB, 7 rounds + 1 warm-up, /dev/shm and the OS temp dir
 *   npm run bench:upload-path -- --mib 256 --rounds 3 --dirs /dev/shm
 *   npm run bench:upload-path -- --api-node-args '--cpu-prof --cpu-prof-dir=/tmp/prof'   # profile the API
 *   npm run bench:upload-path -- --json /tmp/upload-path.json
 *
 * Target: ph5's upload-to-202 ≤ 1.25 × sink (b), on tmpfs and on disk. Not a test.
 */
import { spawnSync } from 'node:child_process';
import { readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startApiAlone } from './api-alone.js';
import { fsType, payload } from './suite/bulk.js';
import { submit } from './suite/service.js';
import { startSink } from './suite/sink.js';
import { median } from './suite/stats.js';

const MiB = 2 ** 20;

export interface UploadPathOptions {
  bytes: number;
  rounds: number;
  warmup: number;
  dirs: string[];
  apiNodeArgs: string[];
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
}

export interface UploadPathSeries {
  dir: string;
  fs: string;
  bytes: number;
  /** Seconds per measured round: ph5's PUT to 202, sink (a) discard, sink (b) durable. */
  ph5: number[];
  discard: number[];
  durable: number[];
  /** ph5 ÷ sink (b), per round. */
  ratios: number[];
  load: string;
}

const loadAverage = (): string =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/** An API process on a fresh data directory under `parent`; the dataset to write is created. */
async function startApi(parent: string, bytes: number, opts: UploadPathOptions) {
  const api = await startApiAlone({ parent, name: 'ph5-upload-path', env: opts.env, nodeArgs: opts.apiNodeArgs });
  try {
    const created = await fetch(`${api.url}/v1/files/up.h5/datasets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: '/x', dtype: 'float64', shape: [bytes / 8] }),
    });
    if (created.status !== 202) throw new Error(`create: ${created.status} ${await created.text()}`);
  } catch (err) {
    await api.stop();
    throw err;
  }
  const staging = path.join(api.dataDir, '.staging');
  return {
    dir: api.dir,
    url: api.url,
    stop: api.stop,
    /** Removes the staged payloads (no worker will: the jobs only wait in the queue). */
    async clearStaging() {
      for (const f of await readdir(staging)) if (f.endsWith('.bin')) await rm(path.join(staging, f), { force: true });
    },
  };
}

/** Interleaved rounds on one directory. */
export async function runUploadPathOn(parent: string, opts: UploadPathOptions): Promise<UploadPathSeries> {
  const body = payload(opts.bytes);
  const api = await startApi(parent, opts.bytes, opts);
  const sinkDir = path.join(api.dir, 'sink');
  spawnSync('mkdir', ['-p', sinkDir]);
  const sink = await startSink(sinkDir);
  const s: UploadPathSeries = { dir: parent, fs: fsType(parent), bytes: opts.bytes, ph5: [], discard: [], durable: [], ratios: [], load: loadAverage() };
  const writers = ['ph5', 'discard', 'durable'] as const;
  try {
    for (let round = -opts.warmup; round < opts.rounds; round++) {
      const k = ((round % writers.length) + writers.length) % writers.length;
      const order = [...writers.slice(k), ...writers.slice(0, k)];
      const got: Partial<Record<(typeof writers)[number], number>> = {};
      for (const w of order) {
        spawnSync('sync');
        if (w === 'ph5') {
          const t0 = performance.now();
          await submit(api.url, 'PUT', '/v1/files/up.h5/datasets/x/value', body);
          got.ph5 = (performance.now() - t0) / 1000;
          await api.clearStaging();
        } else {
          got[w] = await sink.receive(w, body);
        }
      }
      const ratio = got.ph5! / got.durable!;
      opts.log(
        `  ${s.fs} ${round < 0 ? 'warm-up' : `round ${round + 1}`}: ${order.map((w) => `${w} ${got[w]!.toFixed(3)} s`).join(', ')}; ph5 ÷ sink (b) ${ratio.toFixed(2)} (load ${loadAverage()})`,
      );
      if (round < 0) continue;
      s.ph5.push(got.ph5!);
      s.discard.push(got.discard!);
      s.durable.push(got.durable!);
      s.ratios.push(ratio);
    }
  } finally {
    await sink.stop();
    await api.stop();
  }
  return s;
}

export function summarize(s: UploadPathSeries): string {
  const mibs = (sec: number) => `${(s.bytes / MiB / sec).toFixed(0)} MiB/s`;
  const m = (xs: number[]) => `${median(xs).toFixed(3)} s (${mibs(median(xs))})`;
  const r = median(s.ratios);
  return (
    `${s.fs} (${s.dir}), ${s.bytes / MiB} MiB, ${s.ph5.length} rounds, load at start ${s.load}\n` +
    `  ph5 PUT to 202   ${m(s.ph5)}\n` +
    `  sink (a) discard ${m(s.discard)}\n` +
    `  sink (b) durable ${m(s.durable)}\n` +
    `  ph5 ÷ sink (b): median of paired ratios ${r.toFixed(2)} [${s.ratios.map((x) => x.toFixed(2)).join(', ')}]; target ≤ 1.25: ${r <= 1.25 ? 'met' : 'NOT met'}\n` +
    `  ph5 ÷ sink (a): ${(median(s.ph5) / median(s.discard)).toFixed(2)} (medians)`
  );
}

function parseArgs(argv: string[]): UploadPathOptions & { json?: string } {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const mib = Number(get('mib') ?? 1024);
  return {
    bytes: mib * MiB,
    rounds: Number(get('rounds') ?? 7),
    warmup: Number(get('warmup') ?? 1),
    dirs: (get('dirs') ?? `/dev/shm,${os.tmpdir()}`).split(',').filter(Boolean),
    apiNodeArgs: (get('api-node-args') ?? '').split(' ').filter(Boolean),
    env: {},
    log: (l) => process.stderr.write(`${l}\n`),
    ...(get('json') ? { json: get('json')! } : {}),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const opts = parseArgs(process.argv.slice(2));
  const all: UploadPathSeries[] = [];
  for (const dir of opts.dirs) {
    const s = await runUploadPathOn(dir, opts);
    all.push(s);
    console.log(summarize(s));
  }
  if (opts.json) await writeFile(opts.json, JSON.stringify(all, null, 1));
  process.exit(0);
}
