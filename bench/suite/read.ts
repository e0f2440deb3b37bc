/**
 * Read: `GET .../value?select=[a:b]` of a slice as raw bytes (Accept:
 * application/octet-stream), read into one array of the slice's size as it streams in
 * (read-client.ts), against serial h5py reading the same slice of the same file into a
 * numpy array (bench/h5py_read.py; imports outside the
 * clock, open -> read -> close inside). The file is written through ph5 first (twice the
 * slice, element i = i) and the slice starts a quarter in, so it is not file-aligned.
 * Both runs alternate; the file is in the page cache for both after the first round.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStack } from '../../test/helpers/stack.js';
import { payload } from './bulk.js';
import { readInto } from './read-client.js';
import { run } from './service.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface ReadResult {
  sliceBytes: number;
  ph5: number[];
  h5py: number[];
  /**
   * Where the time goes, per rep (ms of CPU, user + system): the API process (all its
   * threads: HDF5 reads and socket writes), the client (receiving into its array), and
   * h5py's whole open -> read -> close. Absent in results saved before they were measured.
   */
  cpu?: { api: number[]; client: number[]; h5py: number[] };
  /** ms until the answer's headers were in, per rep (lease, open, first piece). */
  headersMs?: number[];
}

/** CPU time (user + system, all threads) a process has used, in ms. */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

export async function runRead(opts: { sliceBytes: number; reps: number; warmup: number; log: (line: string) => void }): Promise<ReadResult> {
  const total = opts.sliceBytes * 2;
  const n = total / 8;
  const start = n / 4;
  const count = opts.sliceBytes / 8;
  const stack = await startStack({ ranks: 2, env: { PH5_LOG_LEVEL: 'warn', PH5_RATE_LIMIT_PER_MINUTE: '0' } });
  try {
    await run(stack.url, 'POST', '/v1/files/read.h5/datasets', { path: 'x', dtype: 'float64', shape: [n] });
    await run(stack.url, 'PUT', '/v1/files/read.h5/datasets/x/value', payload(total));
    const file = stack.filePath('read.h5');
    const result: ReadResult = { sliceBytes: opts.sliceBytes, ph5: [], h5py: [], cpu: { api: [], client: [], h5py: [] }, headersMs: [] };
    const cpu = { api: 0, client: 0, h5py: 0, headersMs: 0 };
    const ph5Once = async (): Promise<number> => {
      const api0 = processCpuMs(stack.api.pid!);
      const client0 = process.cpuUsage();
      const t0 = performance.now();
      const got = await readInto(`${stack.url}/v1/files/read.h5/datasets/x/value?select=[${start}:${start + count}]`);
      const seconds = (performance.now() - t0) / 1000;
      const client = process.cpuUsage(client0);
      cpu.client = (client.user + client.system) / 1000;
      cpu.api = processCpuMs(stack.api.pid!) - api0;
      cpu.headersMs = got.headersMs;
      const { body } = got;
      if (got.status !== 200 || body.length !== opts.sliceBytes || body.readDoubleLE(0) !== start || body.readDoubleLE(body.length - 8) !== start + count - 1) {
        throw new Error(`ph5 read wrong: ${got.status}, ${body.length} bytes, first ${body.readDoubleLE(0)}, last ${body.readDoubleLE(body.length - 8)}`);
      }
      return seconds;
    };
    const h5pyOnce = (): number => {
      const r = spawnSync('/usr/bin/python3', [path.join(root, 'bench', 'h5py_read.py'), file, 'x', String(start), String(count), '1'], {
        encoding: 'utf8',
        timeout: 10 * 60_000,
      });
      if (r.status !== 0) throw new Error(`h5py read failed: ${r.stderr}`);
      const out = JSON.parse(r.stdout.trim()) as { seconds: number; cpuSeconds: number; first: number; last: number };
      cpu.h5py = out.cpuSeconds * 1000;
      if (out.first !== start || out.last !== start + count - 1) throw new Error(`h5py read wrong: ${r.stdout}`);
      return out.seconds;
    };
    for (let rep = -opts.warmup; rep < opts.reps; rep++) {
      const ph5First = (rep + opts.warmup) % 2 === 0;
      const a = ph5First ? await ph5Once() : h5pyOnce();
      const b = ph5First ? h5pyOnce() : await ph5Once();
      const [p, h] = ph5First ? [a, b] : [b, a];
      if (rep >= 0) {
        result.ph5.push(p);
        result.h5py.push(h);
        result.cpu!.api.push(Math.round(cpu.api));
        result.cpu!.client.push(Math.round(cpu.client));
        result.cpu!.h5py.push(Math.round(cpu.h5py));
        result.headersMs!.push(Math.round(cpu.headersMs));
      }
      opts.log(
        `  read ${rep < 0 ? 'warm-up' : `rep ${rep + 1}`}: ph5 ${p.toFixed(3)} s (headers after ${cpu.headersMs.toFixed(0)} ms; CPU: API ${cpu.api.toFixed(0)} ms, client ${cpu.client.toFixed(0)} ms), h5py ${h.toFixed(3)} s (CPU ${cpu.h5py.toFixed(0)} ms)`,
      );
    }
    return result;
  } finally {
    await stack.stop();
  }
}
