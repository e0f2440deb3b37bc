/**
 * The bench suite's results turned into rows (scenario, ph5, baseline, ratio, target, met),
 * a plain-text table for the terminal, and the Markdown report with its figure.
 */
import type { SmallWritesResult } from '../small-writes.js';
import type { UploadRssResult } from '../upload-rss.js';
import type { BulkSeries, RankMemory } from './bulk.js';
import type { LatencyResult } from './latency.js';
import type { MachineInfo } from './machine.js';
import type { RatioBar, ScalingLine } from './plot.js';
import type { ReadResult } from './read.js';
import { GiB, MiB, median, percentile } from './stats.js';

export const SCENARIOS = ['bulk', 'latency', 'small-writes', 'read', 'memory', 'scaling'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface SuiteResults {
  quick: boolean;
  reps: number;
  machine: MachineInfo;
  loadBefore: string;
  loadAfter: string;
  /** Load average when each scenario started (the machine is shared). */
  scenarioLoad?: Partial<Record<Scenario, string>>;
  seconds: number;
  bulk: BulkSeries[];
  latency: LatencyResult[];
  seed?: { ranks: number; seconds: number[] };
  smallWrites?: SmallWritesResult;
  read?: ReadResult;
  uploadRss?: UploadRssResult;
  rankMemory: RankMemory[];
  scaling: BulkSeries[];
  /** Scenarios that threw, with the message: reported, not hidden. */
  errors: Partial<Record<Scenario, string>>;
}

export interface Row {
  scenario: Scenario;
  measure: string;
  ph5: string;
  baseline: string;
  ratio: string;
  target: string;
  met: boolean | null;
  /** Where the time went, from the run's own figures (said when a target is missed). */
  why?: string;
  bar?: RatioBar;
}

const s3 = (v: number): string => `${v.toFixed(3)} s`;
const ms1 = (v: number): string => `${v.toFixed(1)} ms`;
const rate = (bytes: number, seconds: number): string => `${(bytes / GiB / seconds).toFixed(2)} GiB/s`;
const size = (bytes: number): string => (bytes >= GiB ? `${bytes / GiB} GiB` : `${bytes / MiB} MiB`);
const yes = (m: boolean | null): string => (m === null ? 'n/a' : m ? 'yes' : 'NO');

/** A rank's growth is "bounded by its slice" when it stays under 1.25 × slice + 64 MiB. */
export function rankMemoryBound(m: RankMemory): number {
  return 1.25 * m.sliceMiB + 64;
}

export function rows(r: SuiteResults): Row[] {
  const out: Row[] = [];
  for (const b of r.bulk) {
    const ph5 = median(b.seconds.ph5 ?? []);
    const h5 = median(b.seconds.h5py ?? []);
    const dd = median(b.seconds.dd ?? []);
    const ratio = ph5 / h5;
    const met = Number.isFinite(ratio) ? ratio <= 1.5 : null;
    out.push({
      scenario: 'bulk',
      measure: `write ${size(b.bytes)} ${b.layout}, ${b.ranks} ranks, ${b.fs}`,
      ph5: `${s3(ph5)} (${rate(b.bytes, ph5)}; upload ${s3(median(b.acceptSeconds))}, worker ${s3(median(b.workerSeconds))})`,
      baseline: `h5py-mpio ${s3(h5)}; dd ${s3(dd)}${sinkBaseline(b)}`,
      ratio: `${ratio.toFixed(2)}× h5py, ${(ph5 / dd).toFixed(2)}× dd${sinkRatio(ph5, b)}`,
      target: '≤ 1.5× h5py (ambition ≤ 1.0×)',
      met,
      why:
        `the upload until 202 (HTTP body streamed to the staging file, fsynced, queued) took ${s3(median(b.acceptSeconds))} ` +
        `(${((median(b.acceptSeconds) / ph5) * 100).toFixed(0)} % of ph5's time) and the pool's job ${s3(median(b.workerSeconds))}, ` +
        `one after the other (no pipelining), against h5py writing from memory in ${s3(h5)}`,
      bar: { label: `bulk ${b.layout} ${b.fs} vs h5py-mpio`, ratio, target: 1.5, met },
    });
  }
  out.push(...uploadVsSinkRows(r.bulk));
  const seed = r.seed ? median(r.seed.seconds) : NaN;
  for (const l of r.latency) {
    const p50 = percentile(l.ms, 50);
    const p99 = percentile(l.ms, 99);
    const targetMs = l.name.startsWith('seed') ? 250 : 20;
    const targetRanks = l.name.startsWith('seed') ? 42 : 4;
    const met = l.ranks === targetRanks ? p50 <= targetMs : null;
    const isSeed = l.name.startsWith('seed');
    out.push({
      scenario: 'latency',
      measure: `${l.name}: ${l.bytes} B write, ${l.ranks} ranks, ${l.jobs} sequential jobs`,
      ph5: `p50 ${ms1(p50)}, p99 ${ms1(p99)}`,
      baseline: isSeed && r.seed ? `seed script whole job (mpirun -n ${r.seed.ranks}): ${s3(seed)}` : '—',
      ratio: isSeed && r.seed ? `${((p50 / 1000) / seed).toFixed(4)}× seed` : '—',
      target: `p50 ≤ ${targetMs} ms at ${targetRanks} ranks`,
      met,
      ...(l.workerMs?.length
        ? {
            why:
              `per job (medians) the pool spent ${ms1(median(l.workerMs))} on it and it waited ${ms1(median(l.queuedMs ?? []))} to be taken; ` +
              `the remaining ${ms1(p50 - median(l.workerMs) - median(l.queuedMs ?? []))} are HTTP, staging, Redis and the long-poll`,
          }
        : {}),
      bar: { label: `latency ${l.ranks} ranks: p50 ÷ ${targetMs} ms`, ratio: p50 / targetMs, target: 1, met },
    });
  }
  const sw = r.smallWrites;
  if (sw) {
    const best = Math.max(...sw.raw.map((x) => x.jobsPerSecond));
    const met = sw.ratio >= 0.5 && sw.ph5.writesPerSecond >= 3000;
    out.push({
      scenario: 'small-writes',
      measure: `${sw.writes} × 1 KiB, ${sw.clients} clients (autocannon), ${sw.ranks} ranks`,
      ph5: `${sw.ph5.writesPerSecond.toFixed(0)} writes/s (${sw.ph5.seconds.toFixed(1)} s; file ${sw.verified ? 'verified' : 'WRONG'})`,
      baseline: `raw BullMQ no-op ${sw.raw.map((x) => `c=${x.concurrency} ${x.jobsPerSecond.toFixed(0)}/s`).join(', ')}`,
      ratio: `${(sw.ratio * 100).toFixed(1)} % of raw`,
      target: '≥ 50 % of raw and ≥ 3,000 writes/s',
      met,
      why:
        `the API accepted ${sw.ph5.acceptedPerSecond.toFixed(0)} req/s (p50 ${sw.ph5.latencyMs.p50} ms) while the pool applied a median ` +
        `${sw.profile.worker.jobsPerEpoch} jobs per epoch in ${sw.profile.worker.totalMs.toFixed(0)} ms (apply ${sw.profile.worker.applyMs.toFixed(0)} ms): ` +
        `the worker, ${(sw.profile.worker.totalMs / Math.max(1, sw.profile.worker.jobsPerEpoch)).toFixed(1)} ms per job, is the limit`,
      bar: { label: 'small writes vs raw BullMQ (time/job)', ratio: best / sw.ph5.writesPerSecond, target: 2, met },
    });
  }
  if (r.read) {
    const ph5 = median(r.read.ph5);
    const h5 = median(r.read.h5py);
    const share = h5 / ph5;
    const met = share >= 0.7;
    out.push({
      scenario: 'read',
      measure: `GET ${size(r.read.sliceBytes)} slice as raw bytes`,
      ph5: `${s3(ph5)} (${rate(r.read.sliceBytes, ph5)})`,
      baseline: `serial h5py ${s3(h5)} (${rate(r.read.sliceBytes, h5)})`,
      ratio: `${(share * 100).toFixed(0)} % of h5py's throughput`,
      target: '≥ 70 % of h5py',
      met,
      bar: { label: 'read slice vs h5py', ratio: ph5 / h5, target: 1 / 0.7, met },
    });
  }
  if (r.uploadRss) {
    const u = r.uploadRss;
    out.push({
      scenario: 'memory',
      measure: `API peak RSS, ${size(u.uploadMiB * MiB)} streamed upload`,
      ph5: `${u.apiVmHwmMiB} MiB peak (${u.apiRssBeforeMiB} MiB before; ${u.MiBps} MiB/s)`,
      baseline: '—',
      ratio: '—',
      target: `≤ ${u.targetMiB} MiB`,
      met: u.met,
      bar: { label: 'API peak RSS ÷ 150 MiB', ratio: u.apiVmHwmMiB / u.targetMiB, target: 1, met: u.met },
    });
  }
  for (const m of r.rankMemory) {
    const growth = m.peakMiB.map((p, i) => p - (m.beforeMiB[i] ?? 0));
    const bound = rankMemoryBound(m);
    const met = growth.every((g) => g <= bound);
    out.push({
      scenario: 'memory',
      measure: `rank peak RSS, bulk ${size(m.bytes)}, ${m.ranks} ranks, ${m.fs}`,
      ph5: `peaks ${m.peakMiB.join(', ')} MiB (before ${m.beforeMiB.join(', ')})`,
      baseline: `slice ${m.sliceMiB} MiB, payload ${m.bytes / MiB} MiB`,
      ratio: `max growth ${(Math.max(...growth) / m.sliceMiB).toFixed(2)}× slice`,
      target: `growth ≤ 1.25 × slice + 64 MiB (${bound.toFixed(0)} MiB)`,
      met,
    });
  }
  const scaling = scalingLines(r);
  for (const l of scaling) {
    if (!l.points.length) continue;
    out.push({
      scenario: 'scaling',
      measure: `${l.label}, ${r.scaling[0] ? size(r.scaling[0].bytes) : ''} 1-D`,
      ph5: l.points.map((p) => `${p.ranks}: ${p.seconds.toFixed(2)} s`).join(', '),
      baseline: '—',
      ratio: '—',
      target: 'none (plotted)',
      met: null,
    });
  }
  for (const [scenario, message] of Object.entries(r.errors)) {
    out.push({ scenario: scenario as Scenario, measure: 'FAILED', ph5: message.split('\n')[0]!.slice(0, 200), baseline: '', ratio: '', target: '', met: false });
  }
  return out;
}

/** The HTTP sink's figures for a bulk row's baseline column (none when the run had no sink). */
function sinkBaseline(b: BulkSeries): string {
  const sink = median(b.seconds.sink ?? []);
  const discard = median(b.seconds.discard ?? []);
  if (!Number.isFinite(sink)) return '';
  return `; HTTP sink (b) write+fsync ${s3(sink)}${Number.isFinite(discard) ? `, (a) discard ${s3(discard)}` : ''}`;
}

function sinkRatio(seconds: number, b: BulkSeries): string {
  const sink = median(b.seconds.sink ?? []);
  return Number.isFinite(sink) ? `, ${(seconds / sink).toFixed(2)}× sink (b)` : '';
}

/**
 * Upload to 202 against the bare node:http sink (b) that writes and fsyncs the same body in
 * the same directory (bench/suite/sink.ts), one row per filesystem over all its layouts:
 * the median of the per-repetition ratios (each pair measured within seconds).
 */
export function uploadVsSinkRows(bulk: BulkSeries[]): Row[] {
  const out: Row[] = [];
  for (const fs of [...new Set(bulk.map((b) => b.fs))]) {
    const series = bulk.filter((b) => b.fs === fs && (b.seconds.sink?.length ?? 0) > 0 && b.acceptSeconds.length > 0);
    if (!series.length) continue;
    const accept = series.flatMap((b) => b.acceptSeconds);
    const sink = series.flatMap((b) => b.seconds.sink!);
    const discard = series.flatMap((b) => b.seconds.discard ?? []);
    const paired = series.flatMap((b) => b.acceptSeconds.slice(0, b.seconds.sink!.length).map((a, i) => a / b.seconds.sink![i]!));
    const ratio = median(paired);
    const met = Number.isFinite(ratio) ? ratio <= 1.25 : null;
    const bytes = series[0]!.bytes;
    out.push({
      scenario: 'bulk',
      measure: `upload to 202 vs sink (b), ${size(bytes)}, ${fs}`,
      ph5: `${s3(median(accept))} (${rate(bytes, median(accept))})`,
      baseline: `HTTP sink (b) write+fsync ${s3(median(sink))} (${rate(bytes, median(sink))})${discard.length ? `; (a) discard ${s3(median(discard))}` : ''}`,
      ratio: `${ratio.toFixed(2)}× sink (b) (median of ${paired.length} paired)${discard.length ? `, ${(median(accept) / median(discard)).toFixed(2)}× sink (a)` : ''}`,
      target: '≤ 1.25× sink (b)',
      met,
      why:
        'the upload until 202 is the body received by fastify, staged in batches (pwritev), fsynced, renamed, the staging ' +
        'directory fsynced and the job queued in Redis; the sink (b) receives, writes and fsyncs the same body with plain node:http',
      bar: { label: `upload to 202 ${fs} vs HTTP sink (b)`, ratio, target: 1.25, met },
    });
  }
  return out;
}

export function scalingLines(r: SuiteResults): ScalingLine[] {
  const pick = (w: 'ph5' | 'h5py') =>
    r.scaling.map((s) => ({ ranks: s.ranks, seconds: median(s.seconds[w] ?? []) })).filter((p) => Number.isFinite(p.seconds));
  return [
    { label: `ph5 (${r.scaling[0]?.fs ?? ''})`, color: '#1f6fb4', points: pick('ph5') },
    { label: `h5py-mpio (${r.scaling[0]?.fs ?? ''})`, color: '#e08a1e', points: pick('h5py') },
  ];
}

export function textTable(rs: Row[]): string {
  const head = ['scenario', 'measure', 'ph5', 'baseline', 'ratio', 'target', 'met'];
  const body = rs.map((x) => [x.scenario, x.measure, x.ph5, x.baseline, x.ratio, x.target, yes(x.met)]);
  const widths = head.map((h, i) => Math.min(70, Math.max(h.length, ...body.map((b) => b[i]!.length))));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-+-'), ...body.map(line)].join('\n');
}

export function markdown(r: SuiteResults, svgName: string): string {
  const rs = rows(r);
  const m = r.machine;
  const md: string[] = [];
  md.push('# ph5 benchmarks');
  md.push('');
  md.push(
    `Generated by \`npm run bench${r.quick ? ' -- --quick' : ''}\` (bench/suite.ts) on ${m.date.slice(0, 16).replace('T', ' ')} UTC; ` +
      `${r.quick ? '**quick mode: small sizes, few repetitions — not meaningful figures**' : `medians of ${r.reps} repetitions`}, ` +
      `every baseline measured in the same run. Suite runtime ${(r.seconds / 60).toFixed(1)} min.`,
  );
  md.push('');
  md.push(`![ph5 against its baselines, and bulk-write time against ranks](${svgName})`);
  md.push('');
  md.push('## Machine');
  md.push('');
  if (m.commit) md.push(`- ph5 commit: ${m.commit}`);
  md.push(`- CPU: ${m.cpu}, ${m.cores} cores; RAM ${m.ramGiB} GiB; ${m.kernel}`);
  md.push(`- Versions: ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  md.push(
    `- Load average (1/5/15 min) before: ${r.loadBefore}; after: ${r.loadAfter}. The machine is shared with other ` +
      'sessions: absolute times are noisy; read the ratios, measured side by side.',
  );
  if (r.scenarioLoad && Object.keys(r.scenarioLoad).length) {
    md.push(`- Load average when each scenario started: ${Object.entries(r.scenarioLoad).map(([k, v]) => `${k} ${v}`).join('; ')}.`);
  }
  md.push('');
  md.push('## Results');
  md.push('');
  md.push('| scenario | measure | ph5 | baseline | ratio | target | met |');
  md.push('|---|---|---|---|---|---|---|');
  for (const x of rs) md.push(`| ${[x.scenario, x.measure, x.ph5, x.baseline, x.ratio, x.target, yes(x.met)].map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`);
  md.push('');
  const met = rs.filter((x) => x.met === true).map((x) => `${x.scenario} (${x.measure})`);
  const missed = rs.filter((x) => x.met === false).map((x) => `${x.scenario} (${x.measure}: ${x.ph5}; target ${x.target})${x.why ? ` — ${x.why}` : ''}`);
  md.push('## Targets');
  md.push('');
  md.push(`- Met: ${met.length ? met.join('; ') : 'none'}.`);
  md.push(`- Not met: ${missed.length ? '' : 'none.'}`);
  for (const x of missed) md.push(`  - ${x}`);
  md.push('');
  md.push('## How each scenario is measured');
  md.push('');
  md.push(
    '- **bulk**: one `application/octet-stream` PUT of the whole float64 array (element i = i) to a real stack ' +
      '(API process, Redis, worker pool under mpirun), timed from the request start to the job `completed` seen by a ' +
      'long-poll; "upload" is the part until the `202` (body streamed, staged, fsynced, queued), "worker" the job\'s own ' +
      'time in the pool. Baselines in the same run and directory: Debian h5py-mpio (`driver="mpio"`, collective, same ' +
      'ranks and layout, first-axis blocks) writing from memory, timed file create → close; `dd if=/dev/zero ' +
      'conv=fdatasync` of the same size; the HTTP sink (bench/suite/sink.ts, a bare `node:http` server in its own ' +
      'process, no fastify) receiving the same body with the same client, (a) discarding it, (b) writing it to a file in ' +
      'the same directory and fsyncing file and directory before answering: the wire\'s ceilings for any Node service ' +
      'here. Order rotates each repetition; every file is checked by serial h5py, deleted, ' +
      'then `sync`. tmpfs = `/dev/shm`, disk = the OS temp dir.',
  );
  md.push(
    '- **latency**: sequential writes, each waited for (long-poll) before the next; p50/p99 over all jobs after 5 ' +
      'warm-up jobs. "seed" = the tutorial\'s 42-element int32 write (JSON body) on 42 ranks; the baseline is the ' +
      'tutorial script\'s whole job (`mpirun -n 42 --oversubscribe python3 hdf5_parallel.py`), which is what a user ' +
      'pays per write without ph5.',
  );
  md.push('- **small-writes**: bench/small-writes.ts (autocannon, 32 connections) against raw BullMQ no-op jobs on the same Redis.');
  md.push('- **read**: `GET value?select=` of a slice as raw bytes, streamed and counted, against serial h5py reading the same slice of the same file (open → read → close; imports outside the clock).');
  md.push('- **memory**: bench/upload-rss.ts (API VmHWM during one streamed upload; no worker); ranks\' VmHWM from `/proc/<pid>/status` of the pool\'s mpirun children, before the first and after the last bulk write of that stack (both layouts).');
  md.push('- **scaling**: the bulk write (1-D) on stacks of 1, 2, 4, 8 ranks, with h5py-mpio at the same rank counts. The machine has ' +
      `${m.cores} cores: beyond that, ranks are oversubscribed and time can only grow.`);
  md.push('');
  md.push('## Raw samples (seconds unless noted)');
  md.push('');
  for (const b of [...r.bulk, ...r.scaling]) {
    md.push(`- bulk ${b.fs} ${b.layout} ${b.ranks} ranks: ${Object.entries(b.seconds).map(([w, xs]) => `${w} [${xs.map((x) => x.toFixed(3)).join(', ')}]`).join('; ')}`);
  }
  for (const l of r.latency) md.push(`- latency ${l.name}: min ${ms1(Math.min(...l.ms))}, p50 ${ms1(percentile(l.ms, 50))}, p90 ${ms1(percentile(l.ms, 90))}, p99 ${ms1(percentile(l.ms, 99))}, max ${ms1(Math.max(...l.ms))}`);
  if (r.seed) md.push(`- seed script, ${r.seed.ranks} ranks: [${r.seed.seconds.map((x) => x.toFixed(2)).join(', ')}]`);
  if (r.read) md.push(`- read: ph5 [${r.read.ph5.map((x) => x.toFixed(3)).join(', ')}]; h5py [${r.read.h5py.map((x) => x.toFixed(3)).join(', ')}]`);
  if (r.smallWrites) {
    const p = r.smallWrites.profile.worker;
    md.push(
      `- small-writes: API accepted ${r.smallWrites.ph5.acceptedPerSecond.toFixed(0)} req/s (p50 ${r.smallWrites.ph5.latencyMs.p50} ms); ` +
        `worker median ${p.jobsPerEpoch} jobs/epoch, ${p.totalMs.toFixed(0)} ms/epoch (apply ${p.applyMs.toFixed(0)} ms)`,
    );
  }
  if (r.uploadRss) md.push(`- upload-rss: ${JSON.stringify(r.uploadRss)}`);
  md.push('');
  return md.join('\n');
}

export function ratioBars(r: SuiteResults): RatioBar[] {
  return rows(r).flatMap((x) => (x.bar ? [x.bar] : []));
}
