/**
 * bench/pool-write.ts works: its --quick mode (64 MiB, 4 ranks, both layouts, the default
 * variants `pool` and `nosync` and h5py-mpio, one rep) runs to the end. The script checks
 * every file it wrote with serial h5py and exits non-zero otherwise; here: one run per
 * writer per layout, the pool's breakdown present, a finite paired ratio per variant. No
 * timing assertion: the figures are only printed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'pool-write.js');

interface BenchJson {
  runs: Array<{ layout: string; writer: string; seconds: number; parts?: Record<string, number> }>;
  summary: Record<string, { ratio: number; median: number; h5py: number }>;
}

test('the pool write benchmark runs in --quick mode and reports the pool, its breakdown and h5py-mpio', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-bench-pool-test-'));
  try {
    const json = path.join(dir, 'bench.json');
    const r = spawnSync(process.execPath, [script, '--quick', '--reps', '1', '--warmup', '0', '--json', json], { encoding: 'utf8', timeout: 300_000 });
    console.log(r.stdout);
    assert.equal(r.status, 0, `the benchmark failed:\n${r.stdout}\n${r.stderr}`);
    const out = JSON.parse(readFileSync(json, 'utf8')) as BenchJson;
    for (const layout of ['1-D', '2-D']) {
      for (const writer of ['pool', 'nosync', 'h5py']) {
        const runs = out.runs.filter((x) => x.layout === layout && x.writer === writer);
        assert.equal(runs.length, 1, `${layout} ${writer}: one run`);
        assert.ok(runs[0]!.seconds > 0 && Number.isFinite(runs[0]!.seconds));
        if (writer !== 'h5py') {
          for (const part of ['openMs', 'readMs', 'readWaitMs', 'writeMs', 'agreeMs', 'closeMs']) {
            assert.ok(Number.isFinite(runs[0]!.parts?.[part]), `${layout} ${writer}: ${part}`);
          }
        }
      }
      for (const v of ['pool', 'nosync']) assert.ok(Number.isFinite(out.summary[`${layout} ${v}`]?.ratio), `${layout} ${v}: ratio`);
    }
    assert.match(r.stdout, /paired ratio to h5py \d+\.\d+/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
