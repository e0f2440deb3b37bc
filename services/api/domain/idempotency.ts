/**
 * Idempotency-Key on job-creating requests (today: PUT …/value). A client that sends a
 * large write as row-block parts over several connections must be able to retry a part
 * whose 202 it never saw (the connection dropped after the server answered) without
 * queueing the same write twice. With `Idempotency-Key: <key>`:
 *
 * - the first request with the key reserves it (SET NX, in ph5's own Redis key scoped to the
 *   project, `ph5:idem:{project}:<sha256(key)>`) together with a fingerprint of the request
 *   (route, file, dataset, selection, dtype, media type, length); when its job is queued the
 *   reservation becomes `{fingerprint, job id}` for IDEMPOTENCY_TTL_S;
 * - a later request with the same key and the same fingerprint is answered 202 with the
 *   ORIGINAL job (its state now), without reading its body and without a new job;
 * - the same key with a different request → 409 PH5_ERR_IDEMPOTENCY_KEY;
 * - the same key while the first request is still being received or staged → 409
 *   PH5_ERR_IDEMPOTENCY_IN_PROGRESS (retry in a few seconds);
 * - a request that fails (refused, aborted upload) releases its reservation, so its retry
 *   runs as a fresh request. If the API process dies between queueing and recording (or a
 *   Redis failover undoes the record), the reservation lapses within PENDING_TTL_S and a
 *   retry then queues the write again (the same bytes into the same rows: the file ends
 *   the same).
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import createError from '@fastify/error';
import { InputError } from '../../shared/input-error.js';
import type { Ph5Job } from './jobs.js';

/** How long a key answers with its job: a day, like common payment APIs. */
export const IDEMPOTENCY_TTL_S = 24 * 3600;
/**
 * How long a reservation whose request never finished blocks the key. The request renews it
 * every PENDING_RENEW_MS while it runs (an upload may take long), so a reservation orphaned
 * by a dead API process, or by a Redis failover that undid its release or its commit, lapses
 * within this time and the client's retry then runs afresh.
 */
export const PENDING_TTL_S = 30;
const PENDING_RENEW_MS = 10_000;
export const IDEMPOTENCY_HEADER = 'idempotency-key';

export const idempotencyErrors = {
  KeyReused: createError('PH5_ERR_IDEMPOTENCY_KEY', '%s', 409),
  InProgress: createError('PH5_ERR_IDEMPOTENCY_IN_PROGRESS', '%s', 409),
};

/** Printable ASCII, 1..255 characters (what the IETF draft and common APIs accept). */
export function checkIdempotencyKey(key: string): string {
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
    throw new InputError(
      'PH5_ERR_VALIDATION',
      'Idempotency-Key must be 1 to 255 printable ASCII characters without spaces (e.g. a UUID, or an upload id and a part number).',
    );
  }
  return key;
}

/** The Redis key of an idempotency key: per project, the user's key hashed (bounded, no odd bytes). */
export function idempotencyRedisKey(project: string, key: string): string {
  return `ph5:idem:{${project}}:${createHash('sha256').update(key).digest('hex')}`;
}

/** What makes two requests "the same request": everything that decides what gets written. */
export function requestFingerprint(parts: {
  route: string;
  file: string;
  path: string;
  select?: string | undefined;
  dtype?: string | undefined;
  contentType?: string | undefined;
  contentLength?: string | undefined;
}): string {
  const mediaType = (parts.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const fields = [parts.route, parts.file, parts.path, parts.select ?? '', parts.dtype ?? '', mediaType, parts.contentLength ?? ''];
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

interface Stored {
  fingerprint: string;
  /** Absent while the first request is in progress. */
  jobId?: string;
}

export type IdempotentStart = { kind: 'replay'; job: Ph5Job } | { kind: 'fresh'; commit(jobId: string): Promise<void>; release(): Promise<void> };

/**
 * Starts a request that carries an Idempotency-Key (null without one): either the original
 * job to answer with, or a reservation to commit (with the job queued) or release (failure).
 */
export async function beginIdempotent(
  app: FastifyInstance,
  request: FastifyRequest,
  project: string,
  fingerprint: string,
  again = false,
): Promise<IdempotentStart | null> {
  const header = request.headers[IDEMPOTENCY_HEADER];
  if (header === undefined) return null;
  const key = checkIdempotencyKey(Array.isArray(header) ? header.join(',') : header);
  const redis = app.redis;
  const redisKey = idempotencyRedisKey(project, key);
  const mine: Stored = { fingerprint };
  const reserved = await redis.set(redisKey, JSON.stringify(mine), 'EX', PENDING_TTL_S, 'NX');
  if (reserved === 'OK') {
    let open = true;
    const renew = setInterval(() => void redis.expire(redisKey, PENDING_TTL_S).catch(() => {}), PENDING_RENEW_MS).unref();
    return {
      kind: 'fresh',
      commit: async (jobId: string) => {
        open = false;
        clearInterval(renew);
        await redis.set(redisKey, JSON.stringify({ fingerprint, jobId } satisfies Stored), 'EX', IDEMPOTENCY_TTL_S);
      },
      release: async () => {
        if (!open) return;
        open = false;
        clearInterval(renew);
        // Only our own pending reservation (another request may have taken the key since it lapsed).
        const now = await redis.get(redisKey);
        if (now === JSON.stringify(mine)) await redis.del(redisKey);
      },
    };
  }
  const raw = await redis.get(redisKey);
  const stored = raw ? (JSON.parse(raw) as Stored) : null;
  if (!stored) {
    // Released between our SET and GET: the first request failed; this one may try again (once).
    if (again) throw new idempotencyErrors.InProgress(`A request with Idempotency-Key '${key}' is being retried concurrently; retry in a few seconds.`);
    return beginIdempotent(app, request, project, fingerprint, true);
  }
  if (stored.fingerprint !== fingerprint) {
    throw new idempotencyErrors.KeyReused(
      `Idempotency-Key '${key}' was used for a different request (another dataset, selection, dtype or body length); use a new key for a new request.`,
    );
  }
  if (!stored.jobId) throw new idempotencyErrors.InProgress(`A request with Idempotency-Key '${key}' is still being received; retry in a few seconds.`);
  const job = await app.jobs.get(stored.jobId, project);
  if (!job) {
    // The job is gone (finished and removed after its retention): the key is spent.
    throw new idempotencyErrors.KeyReused(`Idempotency-Key '${key}' named job ${stored.jobId}, which no longer exists; use a new key.`);
  }
  return { kind: 'replay', job };
}
