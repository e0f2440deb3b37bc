/**
 * The benchmark suite (`npm run bench`) in its quick mode, once, so it cannot rot: every
 * scenario runs end to end against its baselines and lands in the report, and the figure is
 * well-formed SVG (parsed by Python's XML parser, not by us). No timing is asserted: the
 * machine is shared, and the suite reports figures, it does not judge them here.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseSuiteArgs, runSuite } from '../../bench/suite.js';
import { SCENARIOS } from '../../bench/suite/report.js';

test('npm run bench -- --quick runs every scenario and writes a report with a well-formed SVG', { timeout: 600_000 }, async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'ph5-bench-report-'));
  try {
    const opts = parseSuiteArgs(['--quick', '--out', out]);
    assert.equal(opts.reps, 1);
    assert.deepEqual(opts.only, [...SCENARIOS]);
    const lines: string[] = [];
    const { results, markdownPath, svgPath, table } = await runSuite({ ...opts, log: (l) => lines.push(l) });
    assert.deepEqual(results.errors, {}, lines.join('\n'));

    // Every scenario measured, each with its baseline where it has one.
    assert.equal(results.bulk.length, 4, table);
    for (const b of results.bulk) for (const w of ['ph5', 'h5py', 'dd'] as const) assert.equal(b.seconds[w]?.length, 1, table);
    // The HTTP sink (bench/suite/sink.ts) beside them, and the upload-to-202 row against it, per filesystem.
    for (const b of results.bulk) for (const w of ['sink', 'discard'] as const) assert.equal(b.seconds[w]?.length, 1, table);
    assert.equal(table.match(/upload to 202 vs sink \(b\)/g)?.length, 2, table);
    assert.deepEqual(
      results.scaling.map((s) => s.ranks),
      [1, 2, 4],
      table,
    );
    assert.equal(results.latency.length, 2, table);
    assert.ok(
      results.latency.every((l) => l.ms.length === 20),
      table,
    );
    assert.ok(results.seed && results.seed.seconds.length === 1, table);
    assert.ok(results.smallWrites?.verified, table);
    assert.ok(results.read && results.read.ph5.length === 1 && results.read.h5py.length === 1, table);
    assert.ok(results.uploadRss && results.uploadRss.uploadMiB === 256, table);
    assert.equal(results.rankMemory.length, 2, table);
    assert.ok(
      results.put?.length === 2 &&
        results.put.every((p) => p.parts === 4 && (['parts', 'single', 'sink', 'h5py'] as const).every((w) => p.seconds[w].length === 1)),
      table,
    );
    assert.ok(results.apiProcesses && results.apiProcesses.sides.map((s) => s.uploadSeconds.length).join() === '1,1', table);

    const md = readFileSync(markdownPath, 'utf8');
    assert.equal(path.dirname(markdownPath), out);
    for (const s of SCENARIOS) assert.match(md, new RegExp(`^\\| ${s} \\|`, 'm'), `no ${s} row in the report`);
    assert.match(md, /QUICK MODE|quick mode/);
    for (const v of ['node', 'HDF5', 'Open MPI', 'h5py', 'redis']) assert.match(md, new RegExp(`${v} \\S`), `no ${v} version`);
    assert.match(md, /Load average/);
    assert.match(md, /!\[[^\]]*\]\(benchmarks\.svg\)/);
    assert.match(table, /bulk .*\| (yes|NO)/);

    // The figure: parsed by an independent XML parser; bars and the scaling lines are there.
    const svg = readFileSync(svgPath, 'utf8');
    const parsed = JSON.parse(
      execFileSync(
        '/usr/bin/python3',
        [
          '-c',
          'import sys, json, xml.etree.ElementTree as ET\n' +
            'root = ET.parse(sys.argv[1]).getroot()\n' +
            'ns = "{http://www.w3.org/2000/svg}"\n' +
            'print(json.dumps({"tag": root.tag, "rects": len(root.findall(ns + "rect")), "polylines": len(root.findall(ns + "polyline")), ' +
            '"texts": [t.text for t in root.findall(ns + "text")]}))',
          svgPath,
        ],
        { encoding: 'utf8' },
      ),
    ) as { tag: string; rects: number; polylines: number; texts: string[] };
    assert.equal(parsed.tag, '{http://www.w3.org/2000/svg}svg', svg.slice(0, 200));
    // Background + one bar per ratio (4 bulk, 2 latency, small writes, read, API memory) + 2 legend swatches.
    assert.ok(parsed.rects >= 1 + 9 + 2, `${parsed.rects} rects`);
    assert.equal(parsed.polylines, 2);
    assert.ok(
      parsed.texts.some((t) => /bulk 2-D tmpfs/.test(t)),
      parsed.texts.join(' / '),
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
