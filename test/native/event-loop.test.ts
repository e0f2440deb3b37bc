/**
 * The event loop stays free during a long write: `mpirun -n 2`, a 1 GiB collective write of
 * float64 (512 MiB per rank) into a tmp dir on disk, while a 5 ms setInterval timer ticks
 * on every rank (test/native/fixtures/event-loop.ts). Each rank must see no gap over 50 ms
 * between "write started", its ticks and "write finished", and at least 20 ticks during
 * the write, which proves the write lasted long enough to have blocked a timer had it run
 * on the JS thread (H5Dwrite on the main thread would show one gap as long as the write),
 * and the event loop's utilization over the write must stay under 0.5 (it would be ~1).
 * This is a correctness property, not a speed figure: the durations are printed only.
 * Up to 3 attempts: a blocked loop fails every one (no ticks at all during the write), a
 * scheduler hiccup on this shared machine does not repeat; the first attempt's file is
 * checked with h5py.
 *
 * The addon runs its libuv pool threads at nice +10 (native/src/runtime.cc, PH5_POOL_NICE),
 * so that the thread in H5Dwrite yields its core (each rank is bound to one) to its own
 * JS thread; the fixture no longer renices anything itself, and this test checks that the
 * addon did (threads at +10, the JS thread at 0). Timer gaps of 50-150 ms remain possible
 * on this shared machine under load from other sessions (CPU given to other processes,
 * which no thread priority inside ours changes: native/README.md, Threading rules), hence
 * the retries.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { h5py, mpirun } from '../helpers/mpirun.js';

interface Result {
  rank: number;
  size: number;
  tickMs: number;
  writeMs: number;
  ticksDuringWrite: number;
  maxGapMs: number;
  longestGaps: Array<{ atMs: number; gapMs: number }>;
  loopUtilization: number;
  jsThreadNice: number;
  lowPriorityThreads: number;
  writeReport: { collective: boolean; noCollectiveCause: string[] };
}

const RANKS = 2;
const MIB = 1024;
const MAX_GAP_MS = 50;
const MIN_TICKS = 20;
const ATTEMPTS = 3;

/** A 5 ms timer in this (idle) test process: how late timers are on the machine meanwhile. */
function bystander(): () => number {
  let last = performance.now();
  let max = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    max = Math.max(max, now - last);
    last = now;
  }, 5);
  return () => {
    clearInterval(timer);
    return max;
  };
}

test(`timers keep firing on every rank during a ${MIB} MiB collective write (mpirun -n ${RANKS})`, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-event-loop-'));
  try {
    const total = (MIB * 2 ** 20) / 8;
    const per = total / RANKS;
    const attempts: string[] = [];
    let smooth = false;
    // A loop blocked by the write has no ticks at all during it, on every attempt; CPU
    // starvation on this shared machine is intermittent. So: the deterministic checks on
    // every attempt, and at least one attempt of ATTEMPTS without a gap >= MAX_GAP_MS.
    for (let attempt = 1; attempt <= ATTEMPTS && !smooth; attempt++) {
      const file = path.join(dir, `big-${attempt}.h5`);
      const stopBystander = bystander();
      const { results } = await mpirun<Result>(RANKS, 'event-loop', [file, String(MIB)], 300_000);
      const bystanderGap = stopBystander();
      for (const r of results) {
        const line =
          `attempt ${attempt} rank ${r.rank}: write ${r.writeMs.toFixed(0)} ms, ${r.ticksDuringWrite} ticks of ${r.tickMs} ms, ` +
          `loop utilization ${r.loopUtilization.toFixed(3)}, ${r.lowPriorityThreads} threads at nice >= 10, largest gaps ${r.longestGaps.map((g) => `${g.gapMs} ms at +${g.atMs} ms`).join(', ')} ` +
          `(a timer in the idle test process: largest gap ${bystanderGap.toFixed(1)} ms)`;
        console.log(line);
        attempts.push(line);
        assert.equal(r.writeReport.collective, true, `rank ${r.rank}: the write was collective`);
        // The addon lowered the priority of the pool thread that wrote, not of the JS thread.
        assert.equal(r.jsThreadNice, 0, `rank ${r.rank}: the JS thread's nice value`);
        assert.ok(r.lowPriorityThreads >= 1, `rank ${r.rank}: no thread at nice +10 (the addon's pool threads should be)`);
        assert.ok(r.ticksDuringWrite >= MIN_TICKS, `rank ${r.rank}: only ${r.ticksDuringWrite} ticks during the write (${r.writeMs.toFixed(0)} ms)`);
        assert.ok(r.loopUtilization < 0.5, `rank ${r.rank}: the JS thread was busy ${(r.loopUtilization * 100).toFixed(0)}% of the write`);
      }
      smooth = results.every((r) => r.maxGapMs < MAX_GAP_MS);
      if (attempt === 1) {
        // The write really happened: each rank's block holds rank + 1.
        const got = await h5py<{ shape: number[]; values: number[] }>(
          file,
          `d = h5py.File(path, "r")["x"]\nout = {"shape": list(d.shape), "values": [float(d[i]) for i in (0, ${per - 1}, ${per}, ${total - 1})]}`,
        );
        assert.deepEqual(got, { shape: [total], values: [1, 1, 2, 2] });
      }
      rmSync(file, { force: true });
    }
    assert.ok(smooth, `every attempt had a timer gap of ${MAX_GAP_MS} ms or more on some rank:\n${attempts.join('\n')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
