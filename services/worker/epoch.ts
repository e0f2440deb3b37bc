/**
 * Turns the ordered jobs of one file into the steps of one epoch (pure; unit-tested).
 *
 * Order is kept: steps follow the jobs' order, and within a job its ops' order. Two
 * writes are coalesced into one collective H5Dwrite only when they are next to each other
 * in that order, target the same dataset with the same payload dtype, and their selections
 * are row blocks that touch along the first axis with identical other dimensions: such
 * selections are disjoint, so merging them cannot change which write wins anywhere.
 * Writes larger than `maxStepBytes` are split into row blocks, so a rank never holds more
 * than its share of one block, and progress can be reported between blocks. A run of
 * writes to one dataset whose row blocks are pairwise disjoint is sorted by row and
 * coalesced (mergeDisjointRuns): order only matters where writes overlap. The blocks of
 * such a run that still do not touch become one step too, a union of row blocks (`parts`),
 * written by one collective H5Dwrite: each collective call costs every rank the same
 * fixed price (agreement, two-phase I/O setup), whatever its size. A point write is a step
 * of its own, never split or coalesced; a write of no elements has no step.
 */
import { parseDtype } from '../shared/dtype.js';
import type { JobData } from '../shared/jobs.js';
import { COORDINATE_BYTES } from '../shared/points.js';
import { elementCount, type Hyperslab } from '../shared/selection.js';
import type { Step, WriteStep } from './protocol.js';

export interface EpochJob {
  data: JobData;
  /** A coalesced step holding this job failed once: write it alone from now on. */
  alone?: boolean;
}

export interface PlanOptions {
  maxStepBytes: number;
}

export const DEFAULT_MAX_STEP_BYTES = 64 * 1024 * 1024;

function rowBlocks(hs: Hyperslab): boolean {
  return hs.count.length > 0 && (hs.count[0] === 1 || hs.stride[0] === 1);
}

function sameTail(a: Hyperslab, b: Hyperslab): boolean {
  if (a.count.length !== b.count.length) return false;
  for (let d = 1; d < a.count.length; d++) {
    if (a.start[d] !== b.start[d] || a.stride[d] !== b.stride[d] || a.count[d] !== b.count[d]) return false;
  }
  return true;
}

/** The merged step if `next` can join `prev`, else null. */
function coalesce(prev: WriteStep, next: WriteStep, maxBytes: number): WriteStep | null {
  if (prev.points || next.points) return null;
  if (prev.path !== next.path || prev.payloadDtype !== next.payloadDtype) return null;
  if (prev.bytes + next.bytes > maxBytes) return null;
  const a = prev.hyperslab;
  const b = next.hyperslab;
  if (!rowBlocks(a) || !rowBlocks(b) || !sameTail(a, b)) return null;
  const merged = (first: WriteStep, second: WriteStep): WriteStep => ({
    op: 'write',
    path: prev.path,
    payloadDtype: prev.payloadDtype,
    hyperslab: {
      start: [...first.hyperslab.start],
      stride: [1, ...first.hyperslab.stride.slice(1)],
      count: [first.hyperslab.count[0]! + second.hyperslab.count[0]!, ...first.hyperslab.count.slice(1)],
    },
    segments: [...first.segments, ...second.segments],
    bytes: prev.bytes + next.bytes,
    jobs: [...new Set([...prev.jobs, ...next.jobs])],
  });
  if (b.start[0] === a.start[0]! + a.count[0]!) return merged(prev, next);
  if (a.start[0] === b.start[0]! + b.count[0]!) return merged(next, prev);
  return null;
}

/** Splits one write into row blocks of at most maxBytes (at least one row each). */
function split(step: WriteStep, itemSize: number, maxBytes: number): WriteStep[] {
  const hs = step.hyperslab;
  if (step.bytes <= maxBytes || hs.count.length === 0 || step.points) return [step];
  const rowBytes = elementCount(hs.count.slice(1)) * itemSize;
  const rowsPer = Math.max(1, Math.floor(maxBytes / rowBytes));
  const seg = step.segments[0]!;
  const out: WriteStep[] = [];
  for (let row = 0; row < hs.count[0]!; row += rowsPer) {
    const rows = Math.min(rowsPer, hs.count[0]! - row);
    out.push({
      ...step,
      hyperslab: { start: [hs.start[0]! + row * hs.stride[0]!, ...hs.start.slice(1)], stride: [...hs.stride], count: [rows, ...hs.count.slice(1)] },
      segments: [{ staged: seg.staged, offset: seg.offset + row * rowBytes, bytes: rows * rowBytes }],
      bytes: rows * rowBytes,
    });
  }
  return out;
}

/** The rows [first, end) of a row-block write. */
function rowSpan(s: WriteStep): [number, number] {
  return [s.hyperslab.start[0]!, s.hyperslab.start[0]! + s.hyperslab.count[0]!];
}

/**
 * In a run of consecutive writes to one dataset whose row blocks are pairwise disjoint,
 * the order cannot change the result, so the run is sorted by row and the blocks that
 * now touch are coalesced. Concurrent clients writing different rows of one dataset arrive
 * interleaved; this turns their epoch into a few large collective writes instead of one
 * per request. A run with any overlap keeps its order (the later write must win).
 */
function mergeDisjointRuns(steps: Step[], maxBytes: number, movable: (s: WriteStep) => boolean): Step[] {
  const out: Step[] = [];
  const joins = (first: WriteStep, s: Step): s is WriteStep =>
    s.op === 'write' &&
    !s.points &&
    movable(s) &&
    s.path === first.path &&
    s.payloadDtype === first.payloadDtype &&
    rowBlocks(s.hyperslab) &&
    sameTail(first.hyperslab, s.hyperslab);
  for (let i = 0; i < steps.length;) {
    const first = steps[i]!;
    if (first.op !== 'write' || first.points || !movable(first) || !rowBlocks(first.hyperslab)) {
      out.push(first);
      i++;
      continue;
    }
    let j = i + 1;
    while (j < steps.length && joins(first, steps[j]!)) j++;
    const run = steps.slice(i, j) as WriteStep[];
    i = j;
    const sorted = [...run].sort((a, b) => rowSpan(a)[0] - rowSpan(b)[0]);
    const disjoint = sorted.every((w, k) => k === 0 || rowSpan(w)[0] >= rowSpan(sorted[k - 1]!)[1]);
    if (run.length < 2 || !disjoint) {
      out.push(...run);
      continue;
    }
    const merged: WriteStep[] = [];
    for (const w of sorted) {
      const prev = merged[merged.length - 1];
      const joined = prev ? coalesce(prev, w, maxBytes) : null;
      if (joined) merged[merged.length - 1] = joined;
      else merged.push(w);
    }
    out.push(...unite(merged, maxBytes));
  }
  return out;
}

/** At most this many blocks in one union (HDF5's cost of building a selection grows with it). */
export const MAX_PARTS = 256;

/**
 * Disjoint row blocks of one dataset, sorted by row (a coalesced run), as few union steps
 * as `maxBytes` and MAX_PARTS allow.
 */
function unite(blocks: WriteStep[], maxBytes: number): WriteStep[] {
  const out: WriteStep[] = [];
  let group: WriteStep[] = [];
  let bytes = 0;
  const flush = () => {
    if (group.length === 1) out.push(group[0]!);
    else if (group.length > 1) {
      const parts = group.map((w) => ({ start: [...w.hyperslab.start], stride: [1, ...w.hyperslab.stride.slice(1)], count: [...w.hyperslab.count] }));
      out.push({
        op: 'write',
        path: group[0]!.path,
        payloadDtype: group[0]!.payloadDtype,
        hyperslab: parts[0]!,
        parts,
        segments: group.flatMap((w) => w.segments),
        bytes,
        jobs: [...new Set(group.flatMap((w) => w.jobs))].sort((a, b) => a - b),
      });
    }
    group = [];
    bytes = 0;
  };
  for (const w of blocks) {
    if (group.length > 0 && (bytes + w.bytes > maxBytes || group.length >= MAX_PARTS)) flush();
    group.push(w);
    bytes += w.bytes;
  }
  flush();
  return out;
}

export function planSteps(jobs: EpochJob[], opts: PlanOptions = { maxStepBytes: DEFAULT_MAX_STEP_BYTES }): Step[] {
  const steps: Step[] = [];
  jobs.forEach((job, index) => {
    for (const op of job.data.ops) {
      if (op.op === 'createDataset') {
        steps.push({ op: 'createDataset', create: op, jobs: [index] });
        continue;
      }
      if (op.op === 'deleteFile') continue; // done by rank 0 after the epoch (pipeline/epoch-runner.ts)
      if (op.op !== 'write') {
        steps.push({ op: 'meta', meta: op, jobs: [index] });
        continue;
      }
      // A write of no elements (an empty selection) changes nothing: it has no step.
      if (elementCount(op.hyperslab.count) === 0) continue;
      const offset = op.stagedOffset ?? 0;
      const coordBytes = op.points ? op.points.count * op.points.rank * COORDINATE_BYTES : 0;
      const whole: WriteStep = {
        op: 'write',
        path: op.path,
        payloadDtype: op.payloadDtype,
        hyperslab: op.hyperslab,
        segments: [{ staged: op.staged, offset: offset + coordBytes, bytes: op.bytes }],
        bytes: op.bytes,
        ...(op.points ? { points: { rank: op.points.rank, coords: { staged: op.staged, offset, bytes: coordBytes } } } : {}),
        jobs: [index],
      };
      for (const piece of split(whole, parseDtype(op.payloadDtype).size, opts.maxStepBytes)) {
        const prev = steps[steps.length - 1];
        const prevAlone = prev?.jobs.some((j) => jobs[j]!.alone);
        const joined = prev?.op === 'write' && !job.alone && !prevAlone ? coalesce(prev, piece, opts.maxStepBytes) : null;
        if (joined) steps[steps.length - 1] = joined;
        else steps.push(piece);
      }
    }
  });
  return mergeDisjointRuns(steps, opts.maxStepBytes, (w) => !w.jobs.some((j) => jobs[j]!.alone));
}
