/**
 * ph5's own records of a queued job, kept beside BullMQ's job and never inside it (BullMQ
 * owns its job hash; rewriting it would tie ordering to BullMQ's storage format). One hash
 * per job, `ph5:jobmarks:<id>`:
 *
 * - `seq`: the job's per-file sequence number (file-state.ts), written by the same
 *   MULTI/EXEC that adds the job (producer.ts), so the number exists if and only if the job does.
 * - `cancelled`: `1` once a client cancelled the job while it was still waiting (cancel.ts).
 *
 * Lifetime: no expiry while the job may still run (a lost number would let it run out of
 * order). The commit that moves the file's cursor past the number (file-state.ts) gives the
 * hash JOB_MARKS_TTL_S, longer than BullMQ keeps any finished job's record, so a job
 * redelivered after a crash still finds its number. A cancelled job without a number (added
 * by another producer) gets the TTL at once.
 *
 * Readers see the marks as `data.seq` / `data.cancelled` of the job they are handed: the
 * adapter fills them in after reading the job (never writes them to BullMQ).
 */
import type { Redis } from 'ioredis';
import type { JobData } from '../jobs.js';

export const JOB_MARKS_PREFIX = 'ph5:jobmarks:';

/** Five weeks: BullMQ keeps a failed job's record four (producer.ts JOB_OPTIONS). */
export const JOB_MARKS_TTL_S = 5 * 7 * 24 * 3600;

export function jobMarksKey(id: string): string {
  return `${JOB_MARKS_PREFIX}${id}`;
}

export interface JobMarks {
  seq?: number;
  cancelled?: true;
}

/** Marks from an HMGET of `seq`, `cancelled` (absent or unreadable fields: none). */
export function parseJobMarks(seq: string | null | undefined, cancelled: string | null | undefined): JobMarks {
  const marks: JobMarks = {};
  const n = Number(seq);
  if (seq != null && Number.isSafeInteger(n) && n > 0) marks.seq = n;
  if (cancelled === '1') marks.cancelled = true;
  return marks;
}

/** The marks of these jobs, in one round trip. */
export async function readJobMarks(redis: Redis, ids: string[]): Promise<JobMarks[]> {
  if (ids.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hmget(jobMarksKey(id), 'seq', 'cancelled');
  const replies = (await pipeline.exec()) ?? [];
  return ids.map((_, i) => {
    const [err, fields] = replies[i] ?? [new Error('no reply'), null];
    if (err) throw err;
    const [seq, cancelled] = (fields as Array<string | null>) ?? [];
    return parseJobMarks(seq, cancelled);
  });
}

/**
 * Shows the marks as the job's `seq` / `cancelled`. A job without marks keeps what its data
 * says: jobs queued by ph5 before the marks existed carried both inside BullMQ's data.
 */
export function applyJobMarks(data: JobData, marks: JobMarks): void {
  if (!data || typeof data !== 'object') return;
  if (marks.seq !== undefined) data.seq = marks.seq;
  if (marks.cancelled) data.cancelled = true;
}
