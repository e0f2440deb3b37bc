/**
 * Memory of the API during one large JSON read: a real API process (and Redis; no
 * worker) on a temp data directory holding one float64 dataset written by h5py, and one
 * `GET …/value` of the whole dataset as JSON, consumed as it streams in (the client keeps
 * only a byte count and the answer's first and last bytes, which it checks). The API's
 * peak resident set is the kernel's own (VmHWM in /proc/<pid>/status, read after the
 * answer) against its RSS before the read.
 *
 *   npm run bench:read-rss                   # 256 MiB of float64 (32 Mi elements)
 *   npm run bench:read-rss -- --mib 64
 *   npm run bench:read-rss -- --quick        # 16 MiB
 *
 * Bound (issue 15): the answer streams in pieces of 64 KiB of elements, each encoded to
 * text on its own, at most two pieces held, so the API's peak grows by at most 128 MiB
 * over its RSS before the read, whatever the selection's size (the whole answer is ~2.1
 * bytes of text per byte of float64). What it does grow by is V8's heap (the pieces' short
 * strings, collected as they go), not the selection: measured 2026-12-05, +73 MiB for 64
 * MiB and +88 MiB for 256 MiB (a 543 MiB answer).
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { arg, procStatus, startApiAlone } from './api-alone.js';

const MIB = 1024 * 1024;
/** Most the API may grow above its RSS before the read (the bound does not depend on the selection). */
export const READ_RSS_GROWTH_TARGET_MIB = 128;

export interface ReadRssResult {
  /** The selection's size in float64 bytes. */
  selectionMiB: number;
  elements: number;
  /** The JSON answer's size. */
  jsonMiB: number;
  seconds: number;
  apiRssBeforeMiB: number;
  apiVmHwmMiB: number;
  /** apiVmHwmMiB - apiRssBeforeMiB. */
  growthMiB: number;
  targetGrowthMiB: number;
  met: boolean;
}

/** One JSON read of `bytes` of float64 through a fresh API process; its memory figures. */
export async function runReadRss(bytes: number, parent = os.tmpdir()): Promise<ReadRssResult> {
  const elements = Math.floor(bytes / 8);
  const alone = await startApiAlone({
    parent,
    name: 'ph5-read-rss',
    prepare: async (dataDir) => {
      await mkdir(path.join(dataDir, 'default'), { recursive: true });
      const file = path.join(dataDir, 'default', 'r.h5');
      await promisify(execFile)('/usr/bin/python3', [
        '-c',
        `import h5py, numpy as np, sys\nwith h5py.File(sys.argv[1], 'w') as f: f['x'] = np.arange(${elements}, dtype='<f8') / 7`,
        file,
      ]);
    },
  });
  const api = alone.process;
  const base = alone.url;
  try {
    // A small read first: the native binding is loaded, HDF5 initialised (not the read's cost).
    const small = await fetch(`${base}/v1/files/r.h5/datasets/x/value?select=[0:10]`);
    if (small.status !== 200) throw new Error(`small read: ${small.status} ${await small.text()}`);
    await small.arrayBuffer();
    await sleep(300);
    const before = await procStatus(api.pid!);
    const t0 = performance.now();
    const got = await new Promise<{ status: number; bytes: number; head: string; tail: string }>((resolve, reject) => {
      http
        .get(`${base}/v1/files/r.h5/datasets/x/value`, { headers: { accept: 'application/json' } }, (res) => {
          let n = 0;
          let head = '';
          let tail = '';
          res.on('data', (c: Buffer) => {
            if (head.length < 256) head += c.toString('latin1', 0, 256);
            tail = (tail + c.toString('latin1', Math.max(0, c.length - 64))).slice(-64);
            n += c.length;
          });
          res.on('end', () => (res.complete ? resolve({ status: res.statusCode!, bytes: n, head, tail }) : reject(new Error('the JSON answer was cut short'))));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    const seconds = (performance.now() - t0) / 1000;
    const after = await procStatus(api.pid!);
    const last = JSON.stringify((elements - 1) / 7);
    if (
      got.status !== 200 ||
      !got.head.startsWith(`{"dtype":"float64","shape":[${elements}],"data":[0,0.14285714285714285,`) ||
      !got.tail.endsWith(`,${last}]}`)
    ) {
      throw new Error(`JSON read wrong: ${got.status}, starts ${got.head}, ends ${got.tail}`);
    }
    const hwm = after.hwm / MIB;
    const growth = (after.hwm - before.rss) / MIB;
    return {
      selectionMiB: (elements * 8) / MIB,
      elements,
      jsonMiB: Math.round(got.bytes / MIB),
      seconds: Number(seconds.toFixed(2)),
      apiRssBeforeMiB: Math.round(before.rss / MIB),
      apiVmHwmMiB: Math.round(hwm),
      growthMiB: Math.round(growth),
      targetGrowthMiB: READ_RSS_GROWTH_TARGET_MIB,
      met: growth <= READ_RSS_GROWTH_TARGET_MIB,
    };
  } finally {
    await alone.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const mib = quick ? 16 : Number(arg('mib') ?? 256);
  console.log('read-rss: API memory during one streamed JSON read (VmHWM is the kernel’s own peak)');
  console.log(JSON.stringify(await runReadRss(mib * MIB, arg('dir'))));
}
