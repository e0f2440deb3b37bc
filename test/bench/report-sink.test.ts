/**
 * The bulk report's rows against the HTTP sink (bench/suite/report.ts): the upload-to-202
 * row per filesystem is the median of the per-repetition ratios (not a ratio of medians),
 * pools both layouts, judges ≤ 1.25× sink (b), and is absent when a run had no sink; bulk
 * rows quote sink (b) beside h5py and dd; the pool row per filesystem is the median of the
 * per-repetition ratios of the job's own time to h5py-mpio. Table-driven over hand-made samples.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BulkSeries } from '../../bench/suite/bulk.js';
import { poolRows, uploadVsSinkRows, rows, type SuiteResults } from '../../bench/suite/report.js';

const GiB = 2 ** 30;

function series(fs: string, layout: '1-D' | '2-D', accept: number[], sink?: number[], discard?: number[]): BulkSeries {
  return {
    fs,
    dir: '/x',
    layout,
    ranks: 4,
    bytes: GiB,
    seconds: {
      ph5: accept.map((a) => a + 1),
      h5py: accept.map(() => 0.5),
      dd: accept.map(() => 0.4),
      ...(sink ? { sink } : {}),
      ...(discard ? { discard } : {}),
    },
    acceptSeconds: accept,
    workerSeconds: accept.map(() => 1),
  };
}

const cases: { name: string; bulk: BulkSeries[]; want: { measure: string; ratio: RegExp; met: boolean | null }[] }[] = [
  {
    name: 'paired ratios, both layouts pooled, one row per filesystem',
    bulk: [
      series('tmpfs', '1-D', [1.0, 3.0], [1.0, 1.0], [0.5, 0.5]), // ratios 1.0, 3.0
      series('tmpfs', '2-D', [1.1, 1.2], [1.0, 1.0], [0.5, 0.5]), // ratios 1.1, 1.2
      series('disk (ext2/ext3)', '1-D', [2.0], [1.0]), // ratio 2.0
    ],
    want: [
      // median of [1.0, 3.0, 1.1, 1.2] = 1.15
      { measure: 'upload to 202 vs sink (b), 1 GiB, tmpfs', ratio: /^1\.15× sink \(b\) \(median of 4 paired\), 2\.30× sink \(a\)$/, met: true },
      { measure: 'upload to 202 vs sink (b), 1 GiB, disk (ext2/ext3)', ratio: /^2\.00× sink \(b\) \(median of 1 paired\)$/, met: false },
    ],
  },
  {
    name: 'the median of paired ratios, not the ratio of medians',
    // ratios 1, 3, 2 -> median 2.00; the ratio of the medians would be 3 / 1 = 3.00.
    bulk: [series('tmpfs', '1-D', [1, 3, 10], [1, 1, 5])],
    want: [{ measure: 'upload to 202 vs sink (b), 1 GiB, tmpfs', ratio: /^2\.00× sink \(b\)/, met: false }],
  },
  {
    name: 'no row without the sink',
    bulk: [series('tmpfs', '1-D', [1.0])],
    want: [],
  },
];

for (const c of cases) {
  test(`uploadVsSinkRows: ${c.name}`, () => {
    const got = uploadVsSinkRows(c.bulk);
    assert.deepEqual(
      got.map((r) => r.measure),
      c.want.map((w) => w.measure),
    );
    got.forEach((r, i) => {
      assert.match(r.ratio, c.want[i]!.ratio);
      assert.equal(r.met, c.want[i]!.met);
      assert.equal(r.target, '≤ 1.25× sink (b)');
    });
  });
}

test('bulk rows quote the sink (b) beside h5py and dd, and only when it ran', () => {
  const base = {
    quick: true,
    reps: 1,
    loadBefore: '',
    loadAfter: '',
    seconds: 0,
    latency: [],
    rankMemory: [],
    scaling: [],
    errors: {},
  } as unknown as SuiteResults;
  const withSink = rows({ ...base, bulk: [series('tmpfs', '1-D', [1.0], [0.8], [0.4])] }).find((r) => r.measure.startsWith('write '))!;
  assert.match(withSink.baseline, /HTTP sink \(b\) write\+fsync 0\.800 s, \(a\) discard 0\.400 s/);
  assert.match(withSink.ratio, /× dd, 2\.50× sink \(b\)$/); // ph5 2.0 s / 0.8 s
  const without = rows({ ...base, bulk: [series('tmpfs', '1-D', [1.0])] }).find((r) => r.measure.startsWith('write '))!;
  assert.doesNotMatch(without.baseline, /sink/);
  assert.doesNotMatch(without.ratio, /sink/);
});

test('the upload row quotes the same run’s uploads in stacks without the sinks, where there were any', () => {
  const bulk = [series('tmpfs', '1-D', [1.0, 1.6], [0.8, 0.8])];
  const scaling = [series('tmpfs', '1-D', [0.7, 0.9]), bulk[0]!]; // the 4-rank stack is the bulk one: left out
  const [row] = uploadVsSinkRows(bulk, scaling);
  assert.match(
    row!.why ?? '',
    /scaling stacks \(writers ph5 and h5py only\) the same upload took 0\.70–0\.90 s \(median 0\.800 s, 1\.00× this row's sink \(b\) median\)/,
  );
  const [plain] = uploadVsSinkRows(bulk, []);
  assert.doesNotMatch(plain!.why ?? '', /scaling stacks/);
});

const poolCases: { name: string; bulk: BulkSeries[]; want: { measure: string; ratio: RegExp; met: boolean | null }[] }[] = [
  {
    // worker 1 s each (series()); h5py 0.5 s -> 2.00 on tmpfs; on disk h5py 1.0 -> 1.00.
    name: 'per filesystem, both layouts pooled, median of paired ratios',
    bulk: [
      series('tmpfs', '1-D', [1.0, 1.0]),
      series('tmpfs', '2-D', [1.0]),
      { ...series('disk (ext2/ext3)', '1-D', [1.0, 1.0]), seconds: { h5py: [1.0, 1.0] } },
    ],
    want: [
      { measure: "pool's part of the write vs h5py-mpio, 1 GiB, 4 ranks, tmpfs", ratio: /^2\.00× h5py \(median of 3 paired\)$/, met: false },
      { measure: "pool's part of the write vs h5py-mpio, 1 GiB, 4 ranks, disk (ext2/ext3)", ratio: /^1\.00× h5py \(median of 2 paired\)$/, met: true },
    ],
  },
  {
    name: 'no row without h5py',
    bulk: [{ ...series('tmpfs', '1-D', [1.0]), seconds: { ph5: [2.0] } }],
    want: [],
  },
];

for (const c of poolCases) {
  test(`poolRows: ${c.name}`, () => {
    const got = poolRows(c.bulk);
    assert.deepEqual(
      got.map((r) => r.measure),
      c.want.map((w) => w.measure),
    );
    got.forEach((r, i) => {
      assert.match(r.ratio, c.want[i]!.ratio);
      assert.equal(r.met, c.want[i]!.met);
      assert.equal(r.target, '≤ 1.25× h5py');
    });
  });
}
