/**
 * Memory of the API during a large streamed upload: a real API process (and Redis) on a
 * temp data directory, one dataset big enough, and one PUT of the whole body as
 * application/octet-stream, generated on the fly by the client (so the client holds no
 * copy either). The API's resident set is sampled from /proc every 20 ms; the figure is
 * its peak (VmHWM) against its RSS before the upload, with the upload's throughput.
 *
 *   npm run bench:upload-rss                 # 4 GiB
 *   npm run bench:upload-rss -- --gib 1
 *   npm run bench:upload-rss -- --quick      # 256 MiB (what the quick-mode test runs)
 *
 * Target (issue 4): peak RSS under 150 MiB for a 4 GiB upload. No worker runs: the job is
 * only queued (the figure is the API's, not the write's).
 */
import http from 'node:http';
import os from 'node:os';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { arg, procStatus, startApiAlone } from './api-alone.js';

const MIB = 1024 * 1024;

/** A stream of `bytes` bytes made of one reused 4 MiB block (nothing held beyond it). */
function generated(bytes: number): Readable {
  const block = Buffer.alloc(4 * MIB, 0x5a);
  let left = bytes;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(left, block.length);
      left -= n;
      this.push(n === block.length ? block : block.subarray(0, n));
    },
  });
}

export interface UploadRssResult {
  uploadMiB: number;
  seconds: number;
  MiBps: number;
  apiRssBeforeMiB: number;
  apiRssPeakMiB: number;
  apiVmHwmMiB: number;
  targetMiB: number;
  met: boolean;
}

/** One upload of `bytes` through a fresh API process; its memory figures. */
export async function runUploadRss(bytes: number, parent = os.tmpdir()): Promise<UploadRssResult> {
  const alone = await startApiAlone({ parent, name: 'ph5-upload' });
  const api = alone.process;
  const base = alone.url;
  try {
    const created = await fetch(`${base}/v1/files/big.h5/datasets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: '/x', dtype: 'uint8', shape: [bytes] }),
    });
    if (created.status !== 202) throw new Error(`create: ${created.status} ${await created.text()}`);
    await sleep(300); // let the process settle before measuring its baseline
    const before = await procStatus(api.pid!);
    let peak = before.rss;
    const sampler = setInterval(() => {
      procStatus(api.pid!).then(
        (s) => (peak = Math.max(peak, s.rss)),
        () => {},
      );
    }, 20);

    const t0 = performance.now();
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${base}/v1/files/big.h5/datasets/x/value`, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes) },
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      generated(bytes).pipe(req);
    });
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const after = await procStatus(api.pid!);
    peak = Math.max(peak, after.hwm >= before.hwm ? after.rss : 0, after.rss);
    if (status !== 202) throw new Error(`upload answered ${status}`);
    const row: UploadRssResult = {
      uploadMiB: bytes / MIB,
      seconds: Number(seconds.toFixed(2)),
      MiBps: Math.round(bytes / MIB / seconds),
      apiRssBeforeMiB: Math.round(before.rss / MIB),
      apiRssPeakMiB: Math.round(peak / MIB),
      apiVmHwmMiB: Math.round(after.hwm / MIB),
      targetMiB: 150,
      met: after.hwm / MIB < 150,
    };
    return row;
  } finally {
    await alone.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const bytes = Math.round((quick ? 0.25 : Number(arg('gib') ?? 4)) * 1024 * MIB);
  const row = await runUploadRss(bytes, arg('dir'));
  console.log('upload-rss: API memory during one streamed upload (sampled every 20 ms; VmHWM is the kernel’s own peak)');
  console.table([row]);
  console.log(JSON.stringify(row));
}
