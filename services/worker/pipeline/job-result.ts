/** What a completed job answers (JobResult): its ops' decomposition over the ranks, and timings. */
import { decompose } from '../../shared/decompose.js';
import { parseDtype } from '../../shared/dtype.js';
import { formatSelection } from '../../shared/selection.js';
import type { JobData, JobResult, OpResult } from '../../shared/jobs.js';
import type { Plan, RankReport } from '../protocol.js';

/** The result of planned job `j` of an epoch that started at `started`. */
export function jobResult(data: JobData, j: number, plan: Plan, reports: RankReport[], started: number, size: number, pool: string): JobResult {
  const mySteps = plan.steps.map((s, i) => (s.jobs.includes(j) ? i : -1)).filter((i) => i >= 0);
  const stepReports = reports.flatMap((r) => mySteps.map((i) => r.steps[i] ?? {}));
  const ops: OpResult[] = data.ops.map((op) => {
    if (op.op !== 'write') return { op: op.op, path: op.path };
    // A variable-length string write is made by rank 0 alone (apply.ts serialStringWrite).
    const slices = decompose(op.hyperslab, parseDtype(op.payloadDtype).size, parseDtype(op.dtype).kind === 'string' ? 1 : size);
    return {
      op: op.op,
      path: op.path,
      bytes: op.bytes,
      collective: stepReports.every((o) => o.collective !== false),
      noCollectiveCause: [...new Set(stepReports.flatMap((o) => o.noCollectiveCause ?? []))],
      decomposition: slices.map((s) => ({
        rank: s.rank,
        rows: s.rows,
        // A point write's share: a range of its list of points, e.g. points[0:5].
        select: s.hyperslab ? (op.points ? `points[${s.rowStart}:${s.rowStart + s.rows}]` : formatSelection(s.hyperslab)) : null,
        bytes: s.byteLength,
      })),
    };
  });
  const max = (pick: (r: RankReport) => number) => Math.max(0, ...reports.map(pick));
  return {
    ranks: size,
    pool,
    ops,
    timings: {
      queuedMs: Math.max(0, started - data.acceptedAt),
      openMs: max((r) => r.openMs),
      applyMs: max((r) => r.applyMs),
      closeMs: max((r) => r.closeMs),
      totalMs: Date.now() - started,
    },
  };
}

/** The result of a job found applied already (redelivered after a crash): nothing written now. */
export function replayedResult(data: JobData, size: number, pool: string): JobResult {
  return {
    ranks: size,
    pool,
    ops: data.ops.map((op) => ({ op: op.op, path: op.path })),
    timings: { queuedMs: 0, openMs: 0, applyMs: 0, closeMs: 0, totalMs: 0 },
  };
}
