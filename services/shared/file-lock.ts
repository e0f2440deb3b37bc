/**
 * Readers/writer coordination for one HDF5 file, kept in Redis.
 *
 * The mpio driver takes no flock and sets no open-for-write flag, so a serial reader (the
 * API) could open a file while the ranks are writing it and see half-updated metadata.
 * ph5 coordinates that itself: the worker holds the file's write side for the whole time
 * the file is open for writing, the API holds the read side while it reads. A waiting
 * writer blocks new readers, so a steady stream of reads cannot starve the queue.
 *
 * Both sides are leases with a TTL, renewed while held, so a crashed holder frees the
 * file after at most the TTL.
 *
 * Fencing checks without a Redis round trip each: a write lease can only be lost by
 * expiring (no one else can take or delete it before writerExpires), and writerExpires is
 * at least `ttl` after the moment the holder last sent a renewal or check that Redis
 * confirmed. So within CONFIRMED_FRACTION of the TTL of that moment (a monotonic clock:
 * a paused process sees the time it lost) the lease is known to be held, and `check()`
 * answers from memory; after that it asks Redis. The margin (2/3 of the TTL) covers
 * clock differences between hosts, whose clocks stamp the expiry. The commit of an epoch
 * is fenced in Redis regardless (file-state.ts), and `check({ fresh: true })` always asks.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { fileStateKey } from './file-state.js';
import { InputError } from './input-error.js';

const DEFAULT_TTL_MS = 30_000;

/** How much of the TTL after a confirmation `check()` trusts without asking Redis. */
export const CONFIRMED_FRACTION = 1 / 3;

// KEYS[1] = lock hash, KEYS[2] = readers zset. ARGV: now, token, ttl
// The hash holds `writer` (token), `writerExpires`, `waiting` (token of a writer in line),
// `waitingExpires`.
const TRY_READ = `
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local w = redis.call('HMGET', KEYS[1], 'writer', 'writerExpires', 'waiting', 'waitingExpires')
if w[1] and tonumber(w[2]) > now then return 0 end
if w[3] and tonumber(w[4]) > now then return 0 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]) * 2)
return 1
`;

// KEYS[1] = lock hash, KEYS[2] = readers zset, KEYS[3] = the file's persistent state hash
// (see file-state.ts), which keeps the fence counter: it must never go back, so it does not
// live in the lock hash, which expires.
// Returns {fence, previousDirty} when granted (fence > 0), {0, false} otherwise. On grant the
// file is marked dirty with the new fence: the commit of the epoch clears the mark, so a
// holder that dies with the file open leaves it for the next holder to see (and recover).
const TRY_WRITE = `
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local w = redis.call('HMGET', KEYS[1], 'writer', 'writerExpires', 'waiting', 'waitingExpires')
if w[1] and w[1] ~= ARGV[2] and tonumber(w[2]) > now then return {0, false} end
if w[3] and w[3] ~= ARGV[2] and tonumber(w[4]) > now then return {0, false} end
if redis.call('ZCARD', KEYS[2]) > 0 then
  redis.call('HSET', KEYS[1], 'waiting', ARGV[2], 'waitingExpires', now + ttl)
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  return {0, false}
end
local fence = redis.call('HINCRBY', KEYS[3], 'fence', 1)
local dirty = redis.call('HGET', KEYS[3], 'dirty')
redis.call('HSET', KEYS[3], 'dirty', fence)
redis.call('HSET', KEYS[1], 'writer', ARGV[2], 'writerExpires', now + ttl, 'writerFence', fence)
redis.call('HDEL', KEYS[1], 'waiting', 'waitingExpires')
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return {fence, dirty}
`;

/** The fencing check: is `token` still the writer, with this fence, and unexpired? */
export const CHECK_WRITE = `
local w = redis.call('HMGET', KEYS[1], 'writer', 'writerExpires', 'writerFence')
if w[1] == ARGV[2] and tonumber(w[2]) > tonumber(ARGV[1]) and w[3] == ARGV[3] then return 1 end
return 0
`;

const RENEW_WRITE = `
local now = tonumber(ARGV[1])
if redis.call('HGET', KEYS[1], 'writer') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'writerExpires', now + tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
return 1
`;

const RELEASE_WRITE = `
if redis.call('HGET', KEYS[1], 'writer') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'writer', 'writerExpires', 'writerFence')
end
if redis.call('HGET', KEYS[1], 'waiting') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'waiting', 'waitingExpires')
end
return 1
`;

export interface WriteLease {
  token: string;
  /** Fencing token: grows with every grant of this file's write side, never reused. */
  fence: number;
  /** The fence of an earlier holder that never committed (crashed with the file open), or null. */
  previousDirty: number | null;
  /** Redis keys of the lease (lock hash), for fenced scripts run by the holder. */
  lockKey: string;
  /** true until a renewal or check finds the lease gone. */
  readonly held: boolean;
  /**
   * Fencing check: true while the lease is held. Answered from memory within a safe
   * fraction of the TTL after Redis last confirmed the lease (see above), else by an
   * atomic check in Redis (always with `fresh`); false also marks the lease lost.
   */
  check(opts?: { fresh?: boolean }): Promise<boolean>;
  release(): Promise<void>;
}

export class FileLocks {
  readonly #redis: Redis;
  readonly #ttlMs: number;

  constructor(redis: Redis, ttlMs = DEFAULT_TTL_MS) {
    this.#redis = redis;
    this.#ttlMs = ttlMs;
  }

  #keys(project: string, file: string): [string, string, string] {
    const base = `ph5:lock:{${project}/${file}}`;
    return [base, `${base}:readers`, fileStateKey(project, file)];
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** Runs `fn` while no writer has the file open. Times out with 503 PH5_ERR_FILE_BUSY. */
  async withRead<T>(project: string, file: string, fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
    const keys = this.#keys(project, file);
    const token = randomUUID();
    const deadline = Date.now() + timeoutMs;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      const ok = await this.#redis.eval(TRY_READ, 2, keys[0], keys[1], Date.now(), token, this.#ttlMs);
      if (ok === 1) break;
      if (Date.now() > deadline) {
        throw new InputError('PH5_ERR_FILE_BUSY', `File '${file}' is being written; try again shortly.`, 503);
      }
      await sleep(delay);
    }
    const renew = setInterval(() => {
      this.#redis.zadd(keys[1], Date.now() + this.#ttlMs, token).catch(() => {});
    }, this.#ttlMs / 3);
    renew.unref();
    try {
      return await fn();
    } finally {
      clearInterval(renew);
      await this.#redis.zrem(keys[1], token).catch(() => {});
    }
  }

  /**
   * Waits until no reader or other writer holds the file, then holds the write side,
   * renewing it until released. `onLost` is called if a renewal finds the lease gone.
   */
  async acquireWrite(project: string, file: string, onLost: () => void = () => {}): Promise<WriteLease> {
    const token = randomUUID();
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      const lease = await this.tryAcquireWrite(project, file, onLost, token);
      if (lease) return lease;
      await sleep(delay);
    }
  }

  /**
   * One attempt at the write side: the lease, or null when a reader or another writer has
   * the file (a refused writer is put in line, which keeps new readers out meanwhile).
   * Retries must pass the same `token`: the place in line belongs to it.
   */
  async tryAcquireWrite(project: string, file: string, onLost: () => void = () => {}, token: string = randomUUID()): Promise<WriteLease | null> {
    const keys = this.#keys(project, file);
    const sentAt = performance.now();
    const [fence, dirty] = (await this.#redis.eval(TRY_WRITE, 3, ...keys, Date.now(), token, this.#ttlMs)) as [number, string | null];
    if (!fence) return null;
    let held = true;
    // When the last request Redis confirmed was sent (the expiry it set is later than that + ttl).
    let confirmedAt = sentAt;
    const trusted = this.#ttlMs * CONFIRMED_FRACTION;
    const lost = () => {
      if (!held) return;
      held = false;
      clearInterval(renew);
      onLost();
    };
    const renew = setInterval(() => {
      const sent = performance.now();
      this.#redis
        .eval(RENEW_WRITE, 1, keys[0], Date.now(), token, this.#ttlMs)
        .then((ok) => {
          if (ok !== 1) lost();
          else if (held) confirmedAt = Math.max(confirmedAt, sent);
        })
        .catch(() => {});
    }, this.#ttlMs / 4);
    renew.unref();
    return {
      token,
      fence,
      previousDirty: dirty ? Number(dirty) : null,
      lockKey: keys[0],
      get held() {
        return held;
      },
      check: async (opts?: { fresh?: boolean }) => {
        if (!held) return false;
        if (!opts?.fresh && performance.now() - confirmedAt < trusted) return true;
        const sent = performance.now();
        const ok = await this.#redis.eval(CHECK_WRITE, 1, keys[0], Date.now(), token, String(fence));
        if (ok !== 1) lost();
        else if (held) confirmedAt = Math.max(confirmedAt, sent);
        return held;
      },
      release: async () => {
        held = false;
        clearInterval(renew);
        await this.#redis.eval(RELEASE_WRITE, 1, keys[0], token);
      },
    };
  }
}
