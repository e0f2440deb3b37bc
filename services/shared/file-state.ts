/**
 * The persistent per-file state that orders writes, shared by API and worker. One Redis hash
 * per file (`ph5:file:{project/file}`, never expiring):
 *
 * - `accepted`: the last per-file sequence number handed out. The API gives every job the
 *   next one in the same MULTI/EXEC that adds the job to the queue (shared/queue/producer.ts;
 *   the job's number is kept in ph5's marks of the job, shared/queue/job-marks.ts), so a
 *   number exists if and only if its job does: no gaps a worker would wait on forever.
 * - `applied`: the cursor. Every job with seq <= applied has been applied to the file (or
 *   has failed for good). Moved only by the file's lease holder, atomically with the fencing
 *   check, after the epoch's data is flushed and the file closed, and BEFORE the jobs are
 *   completed in BullMQ: a job redelivered after a crash with seq <= applied is completed
 *   without writing again (writing it again would undo later writes that overlap it).
 * - `job:<seq>`: the id of the job with that number, until it is applied: a pool waiting
 *   for a predecessor it does not hold looks it up and moves it to the head of the queue.
 *   The commit that moves the cursor past it also starts the expiry of the job's marks.
 * - `failed:<seq>`: why a job that counts as applied failed (so a redelivery fails it again).
 * - `fence`: the fencing counter of the file's write lease (file-lock.ts), monotonic.
 * - `dirty`: the fence of the holder that has (or had) the file open for writing; cleared by
 *   its commit. Found set by the next holder: that one died mid-epoch, recover first.
 * - `hung`: JSON `{seq: count}`: how many times each job not yet applied was in an epoch
 *   phase that passed its deadline (watchdog.ts). Entries go once the cursor passes them.
 * - `applying`: `<first>-<last>@<pool>`: the seqs the epoch in progress applies (set as it
 *   starts, cleared by its commit). A job is running only while a live pool applies it.
 */
import type { Redis } from 'ioredis';
import { keys } from './jobs.js';
import { JOB_MARKS_PREFIX, JOB_MARKS_TTL_S } from './queue/job-marks.js';

export function fileStateKey(project: string, file: string): string {
  return `ph5:file:{${project}/${file}}`;
}

/**
 * KEYS[1] = lock hash, KEYS[2] = file state. ARGV: now, token, fence, expectedApplied,
 * newApplied, the prefix of a job's marks' key and their TTL once applied, then (seq, reason)
 * pairs of jobs that failed for good. Fenced: nothing changes unless the caller still holds
 * the lease with this fence.
 */
const COMMIT = `
local w = redis.call('HMGET', KEYS[1], 'writer', 'writerExpires', 'writerFence')
if not (w[1] == ARGV[2] and tonumber(w[2]) > tonumber(ARGV[1]) and w[3] == ARGV[3]) then return 0 end
local cur = tonumber(redis.call('HGET', KEYS[2], 'applied') or '0')
if ARGV[5] ~= '' then
  if cur ~= tonumber(ARGV[4]) then return -1 end
  redis.call('HSET', KEYS[2], 'applied', ARGV[5])
  for s = cur + 1, tonumber(ARGV[5]) do
    local id = redis.call('HGET', KEYS[2], 'job:' .. s)
    if id then redis.call('EXPIRE', ARGV[6] .. id, ARGV[7]) end
    redis.call('HDEL', KEYS[2], 'job:' .. s)
  end
end
for i = 8, #ARGV, 2 do
  redis.call('HSET', KEYS[2], 'failed:' .. ARGV[i], ARGV[i + 1])
end
if redis.call('HGET', KEYS[2], 'dirty') == ARGV[3] then redis.call('HDEL', KEYS[2], 'dirty') end
redis.call('HDEL', KEYS[2], 'applying')
local hung = redis.call('HGET', KEYS[2], 'hung')
if hung then
  local applied = tonumber(redis.call('HGET', KEYS[2], 'applied') or '0')
  local left, any = {}, false
  for s, n in pairs(cjson.decode(hung)) do
    if tonumber(s) > applied then left[s] = n; any = true end
  end
  if any then redis.call('HSET', KEYS[2], 'hung', cjson.encode(left)) else redis.call('HDEL', KEYS[2], 'hung') end
end
return 1
`;

/** KEYS[1] = file state, KEYS[2] = the watchdog counter; ARGV = seqs of the jobs in a phase that hung: one more hang each. */
const RECORD_HANG = `
redis.call('INCR', KEYS[2])
local raw = redis.call('HGET', KEYS[1], 'hung')
local hung = raw and cjson.decode(raw) or {}
for i = 1, #ARGV do hung[ARGV[i]] = (tonumber(hung[ARGV[i]]) or 0) + 1 end
redis.call('HSET', KEYS[1], 'hung', cjson.encode(hung))
return 1
`;

export interface Cursor {
  /** Highest seq applied (or failed for good); 0 before any. */
  applied: number;
  /** Highest seq handed out. */
  accepted: number;
  /** Jobs (by seq) that were in a phase that hung, and how many times. */
  hung: Map<number, number>;
}

export async function readCursor(redis: Redis, project: string, file: string): Promise<Cursor> {
  const [applied, accepted, hung] = await redis.hmget(fileStateKey(project, file), 'applied', 'accepted', 'hung');
  return { applied: Number(applied ?? 0), accepted: Number(accepted ?? 0), hung: parseHung(hung ?? null) };
}

function parseHung(raw: string | null): Map<number, number> {
  const out = new Map<number, number>();
  if (!raw) return out;
  try {
    for (const [seq, n] of Object.entries(JSON.parse(raw) as Record<string, unknown>)) {
      if (Number.isSafeInteger(Number(seq)) && Number.isSafeInteger(n)) out.set(Number(seq), n as number);
    }
  } catch {
    /* an unreadable record counts as none: the watchdog still bounds every hang */
  }
  return out;
}

/** Counts one more hang for each of these jobs (not fenced: a count, read at the next epoch). */
export async function recordHang(redis: Redis, project: string, file: string, seqs: number[]): Promise<void> {
  await redis.eval(RECORD_HANG, 2, fileStateKey(project, file), keys.watchdogFired, ...seqs.map(String));
}

/** The `applying` field's value (see the header). */
export function applyingMark(first: number, last: number, pool: string): string {
  return `${first}-${last}@${pool}`;
}

/** Parses an `applying` field: null when absent or unreadable. */
export function parseApplying(raw: string | null | undefined): { first: number; last: number; pool: string } | null {
  const m = raw ? /^(\d+)-(\d+)@(.+)$/.exec(raw) : null;
  return m ? { first: Number(m[1]), last: Number(m[2]), pool: m[3]! } : null;
}

/** The reason a job that counts as applied failed, or null when it succeeded. */
export async function recordedFailure(redis: Redis, project: string, file: string, seq: number): Promise<string | null> {
  return redis.hget(fileStateKey(project, file), `failed:${seq}`);
}

/** The ids of the jobs stamped with these numbers (null where applied or unknown), in one round trip. */
export async function jobsWithSeqs(redis: Redis, project: string, file: string, seqs: number[]): Promise<Array<string | null>> {
  if (seqs.length === 0) return [];
  return redis.hmget(fileStateKey(project, file), ...seqs.map((s) => `job:${s}`));
}

export type CommitOutcome = 'committed' | 'lease-lost' | 'cursor-moved';

/**
 * Moves the cursor from `expected` to `through` (when through > expected), records final
 * failures, and clears the dirty mark — only if the lease with `fence` is still held.
 */
export async function commitEpoch(
  redis: Redis,
  lease: { lockKey: string; token: string; fence: number },
  project: string,
  file: string,
  expected: number,
  through: number | null,
  failures: Array<{ seq: number; reason: string }>,
): Promise<CommitOutcome> {
  const args: (string | number)[] = [
    Date.now(),
    lease.token,
    String(lease.fence),
    expected,
    through !== null && through > expected ? through : '',
    JOB_MARKS_PREFIX,
    JOB_MARKS_TTL_S,
  ];
  for (const f of failures) args.push(f.seq, f.reason);
  const r = await redis.eval(COMMIT, 2, lease.lockKey, fileStateKey(project, file), ...args);
  return r === 1 ? 'committed' : r === -1 ? 'cursor-moved' : 'lease-lost';
}
