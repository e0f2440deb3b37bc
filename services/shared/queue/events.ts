/**
 * The events of every shard queue on ONE blocking Redis connection. BullMQ's QueueEvents
 * reads one queue's event stream per connection; with SHARDS queues that would be SHARDS
 * blocking connections per API process. So this reads BullMQ's event streams itself:
 * all of them with one XREAD, emitting what QueueEvents emits (`completed`, `failed`,
 * `progress`, ... with `{ jobId, ... }`), so listeners are written as for QueueEvents. The
 * streams' key and entry shape are BullMQ's, pinned by test/integration/bullmq-contract.test.ts.
 *
 * Each stream is read from its last entry at start (XREVRANGE), then from the last id seen,
 * so no event between two reads is skipped (reading from `$` every time would skip them).
 * Events are hints for the API (a slow poll backs every waiter up), so a gap while Redis is
 * away is harmless.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { allQueueNames } from '../jobs.js';
import { bullKey } from './keys.js';

const BLOCK_MS = 10_000;

export class ShardEvents extends EventEmitter {
  readonly #client: Redis;
  readonly #streams = allQueueNames().map((q) => bullKey(q, 'events'));
  #closing = false;
  readonly #done: Promise<void>;
  /** Settles when close() is called: a read in flight is not waited for. */
  readonly #closed: Promise<'closed'>;
  #markClosed!: () => void;

  constructor(connection: RedisOptions) {
    super();
    this.setMaxListeners(0);
    this.#client = new Redis({ ...connection, maxRetriesPerRequest: null });
    this.#client.on('error', () => {});
    this.#closed = new Promise((resolve) => (this.#markClosed = () => resolve('closed')));
    this.#done = this.#consume();
  }

  async #startIds(): Promise<string[]> {
    const pipeline = this.#client.pipeline();
    for (const key of this.#streams) pipeline.xrevrange(key, '+', '-', 'COUNT', 1);
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([err, entries]) => (!err && Array.isArray(entries) && entries.length ? String((entries[0] as [string, string[]])[0]) : '0-0'));
  }

  async #consume(): Promise<void> {
    let ids: string[] | null = null;
    while (!this.#closing) {
      try {
        // While Redis is away, ioredis keeps a command queued until it comes back, and
        // disconnect() does not reject it: close() must not wait for it (it hung the API's
        // shutdown for as long as Redis stayed down).
        const start: string[] | 'closed' = ids ?? (await Promise.race([this.#startIds(), this.#closed]));
        if (start === 'closed') return;
        const current: string[] = start;
        ids = current;
        const reply = await Promise.race([this.#client.xread('BLOCK', BLOCK_MS, 'STREAMS', ...this.#streams, ...current), this.#closed]);
        if (reply === 'closed') return;
        for (const [key, entries] of reply ?? []) {
          const i = this.#streams.indexOf(key);
          for (const [id, fields] of entries) {
            current[i] = id;
            this.#dispatch(fields, id);
          }
        }
      } catch {
        if (this.#closing) return;
        await Promise.race([sleep(1_000), this.#closed]);
      }
    }
  }

  #dispatch(fields: string[], id: string): void {
    const args: Record<string, unknown> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) args[fields[i]!] = fields[i + 1];
    const { event, ...rest } = args;
    try {
      // As QueueEvents does: these fields are JSON or numbers in the stream.
      if (event === 'progress' && typeof rest.data === 'string') rest.data = JSON.parse(rest.data);
      if (event === 'completed' && typeof rest.returnvalue === 'string') rest.returnvalue = JSON.parse(rest.returnvalue);
    } catch {
      /* left as the string it is */
    }
    if (event === 'delayed') rest.delay = Number(rest.delay);
    if (typeof event === 'string') this.emit(event, rest, id);
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#markClosed();
    this.#client.disconnect();
    await this.#done;
  }
}
