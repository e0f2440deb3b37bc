/**
 * bench/native-write.ts works: its --quick mode (64 MiB, 4 ranks, 1 warm-up + 2 reps of
 * each writer) runs to the end. The script itself checks every file it wrote (shape,
 * dtype, contiguous layout, the value at every block boundary, with serial h5py) and exits
 * non-zero otherwise. No timing assertion: the figures are only printed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'native-write.js');

interface BenchJson {
  sizeMiB: number;
  ranks: number;
  reps: number;
  runs: Array<{ writer: 'addon' | 'h5py'; seconds: number; collective: boolean | null }>;
  median: { addon: number; h5py: number };
  ratio: number;
}

test('the native write benchmark runs in --quick mode and reports both writers', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-bench-test-'));
  try {
    const json = path.join(dir, 'bench.json');
    const r = spawnSync(process.execPath, [script, '--quick', '--json', json], { encoding: 'utf8', timeout: 300_000 });
    console.log(r.stdout);
    assert.equal(r.status, 0, `the benchmark failed:\n${r.stdout}\n${r.stderr}`);
    const out = JSON.parse(readFileSync(json, 'utf8')) as BenchJson;
    assert.equal(out.sizeMiB, 64);
    assert.equal(out.ranks, 4);
    for (const writer of ['addon', 'h5py'] as const) {
      const runs = out.runs.filter((x) => x.writer === writer);
      assert.equal(runs.length, out.reps, `${writer}: one run per rep`);
      for (const run of runs) assert.ok(run.seconds > 0 && Number.isFinite(run.seconds));
    }
    assert.ok(
      out.runs.filter((x) => x.writer === 'addon').every((x) => x.collective === true),
      'addon writes were collective',
    );
    assert.ok(Number.isFinite(out.ratio) && out.ratio > 0);
    assert.match(r.stdout, /ratio addon\/h5py \d+\.\d+/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
