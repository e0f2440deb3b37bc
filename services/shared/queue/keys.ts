/**
 * Where BullMQ keeps a shard queue's records in Redis, from BullMQ's own key builder
 * (QueueKeys, public API): this adapter's Lua needs a few of them (a job's hash, the lists
 * of waiting jobs, the event stream). test/integration/bullmq-contract.test.ts pins what
 * they hold for the BullMQ version in package.json.
 */
import { QueueKeys } from 'bullmq';
import { QUEUE_PREFIX, queueOfJobId } from '../jobs.js';

const queueKeys = new QueueKeys(QUEUE_PREFIX);

/** A BullMQ key of a queue: `type` is a job id (its hash) or a list name ('wait', 'events', ...). */
export function bullKey(queue: string, type: string): string {
  return queueKeys.toKey(queue, type);
}

/** The hash of a job, in its shard's queue; an id no ph5 job can have: a key that never exists. */
export function jobHashKey(id: string): string {
  const queue = queueOfJobId(id);
  return queue === null ? `${QUEUE_PREFIX}:no-such-queue:${id}` : bullKey(queue, id);
}
