/**
 * Replicated acceptance: with a primary and replicas (Redis Sentinel), Redis answers a write
 * once the PRIMARY has it; replication to the replicas follows asynchronously. If the
 * primary's host dies in between, Sentinel promotes a replica that never saw the job, and a
 * job the API answered 202 for is gone. So, when configured (PH5_REDIS_MIN_REPLICAS > 0), the
 * API sends `WAIT <minReplicas> <waitMs>` after an accept's writes and answers 202 only if
 * enough replicas acknowledged them; otherwise 503 PH5_ERR_NOT_REPLICATED. The job may still
 * exist then (it is on the primary, and may yet reach a replica): a client retries with the
 * same Idempotency-Key, which answers with the original job if it survived.
 *
 * WAIT counts the writes of the CONNECTION it is sent on, so it must go on the connection
 * that carried the job's transaction (the API's producer client). Two consequences:
 * - if that connection was replaced in between (a reconnect, e.g. to the new primary after a
 *   failover), a WAIT on the new one knows nothing of the job and would confirm it falsely;
 *   an accept therefore takes a mark (the connection's generation) before its writes and is
 *   confirmed only if the WAIT's answer came on the same generation;
 * - WAIT blocks its connection until it returns, so concurrent accepts share WAITs: one is in
 *   flight at a time, and every accept that finished its writes meanwhile waits for the next
 *   one, which is sent after their writes and so covers them all (one replication round trip
 *   per batch of accepts, not per accept).
 */
import type { Redis } from 'ioredis';
import type { ReplicationSettings } from './config.js';

export class NotReplicatedError extends Error {
  readonly code = 'PH5_ERR_NOT_REPLICATED';
  readonly statusCode = 503;
}

/** What one accept's WAIT found. */
export interface WaitOutcome {
  /** Replicas that acknowledged (WAIT's answer); null when the WAIT failed or timed out client-side. */
  acked: number | null;
  /** The WAIT was answered on the connection that carried the accept's writes. */
  sameConnection: boolean;
}

/** Why an accept is not confirmed, or null when it is. Pure: the table in test/unit/replicated-accept.test.ts. */
export function notReplicatedReason(outcome: WaitOutcome, minReplicas: number): string | null {
  if (minReplicas <= 0) return null;
  if (!outcome.sameConnection) return 'the connection to Redis was replaced (failover or reconnect) before replication was confirmed';
  if (outcome.acked === null) return 'the wait for Redis replicas failed';
  if (outcome.acked < minReplicas) return `${outcome.acked} of ${minReplicas} required Redis replica(s) confirmed it in time`;
  return null;
}

/** A client-side bound on top of WAIT's own timeout: a primary whose link is cut never answers. */
const CLIENT_GRACE_MS = 1_000;

export class ReplicatedAcceptance {
  readonly #client: Redis;
  readonly #settings: ReplicationSettings;
  /** The producer connection's generation: +1 every time it closes. */
  #generation = 0;
  #inFlight: Promise<number> | null = null;
  #next: Promise<number> | null = null;
  readonly #marks = new WeakMap<object, number>();

  constructor(client: Redis, settings: ReplicationSettings) {
    this.#client = client;
    this.#settings = settings;
    if (this.enabled) client.on('close', () => this.#generation++);
  }

  get enabled(): boolean {
    return this.#settings.minReplicas > 0;
  }

  /** Taken before an accept's writes are sent; handed to confirm(). */
  mark(): number {
    return this.#generation;
  }

  /** Remembers the mark taken before an accepted job's writes, for confirmJob. */
  wrote(job: object, mark: number): void {
    if (this.enabled) this.#marks.set(job, mark);
  }

  /** confirm() for a job handed to wrote() (one never handed is not confirmed). */
  confirmJob(job: object): Promise<void> {
    return this.confirm(this.#marks.get(job) ?? -1);
  }

  /** Resolves once the writes sent since `mark` reached enough replicas; else NotReplicatedError. */
  async confirm(mark: number): Promise<void> {
    if (!this.enabled) return;
    const acked = await this.#wait().catch(() => null);
    const reason = notReplicatedReason({ acked, sameConnection: this.#generation === mark }, this.#settings.minReplicas);
    if (reason !== null) {
      throw new NotReplicatedError(
        `The job was written to the Redis primary, but ${reason}; it may or may not survive a failover. ` +
          'Retry the request with the same Idempotency-Key: if the job exists you get it back, else it is queued again.',
      );
    }
  }

  /** A WAIT sent after every write already sent on the connection (see the file comment). */
  #wait(): Promise<number> {
    if (this.#inFlight === null) return this.#send();
    this.#next ??= this.#inFlight
      .catch(() => {})
      .then(() => {
        this.#next = null;
        return this.#send();
      });
    return this.#next;
  }

  #send(): Promise<number> {
    const { minReplicas, waitMs } = this.#settings;
    let timer: NodeJS.Timeout | undefined;
    const answer = (this.#client.call('WAIT', minReplicas, waitMs) as Promise<number>).then(Number);
    const bounded = Promise.race([
      answer,
      new Promise<number>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer to WAIT')), waitMs + CLIENT_GRACE_MS);
        timer.unref();
      }),
    ]).finally(() => {
      clearTimeout(timer);
      if (this.#inFlight === bounded) this.#inFlight = null;
    });
    answer.catch(() => {});
    this.#inFlight = bounded;
    return bounded;
  }
}
