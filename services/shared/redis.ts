/**
 * Redis connection options for the two kinds of clients ph5 has. BullMQ needs
 * `maxRetriesPerRequest: null` on blocking (worker) connections; the API's producer uses
 * `enableOfflineQueue: false` so a request fails fast with 503 instead of hanging while
 * Redis is down.
 *
 * Also the startup check of an external Redis's durability settings (AOF, noeviction):
 * see checkRedisSettings and docs/configuration.md#redis.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { FailoverSafeSentinelConnector } from './sentinel-connector.js';

export type RedisRole = 'producer' | 'consumer';

export function redisOptions(url: string, role: RedisRole): RedisOptions {
  const sentinel = isSentinelUrl(url);
  const base: RedisOptions =
    url.startsWith('unix://') || url.startsWith('/') ? { path: url.replace(/^unix:\/\//, '') } : sentinel ? parseSentinelUrl(url) : parseTcpUrl(url);
  // After a failover the old primary may come back as a replica while a connection still
  // points at it: its writes are refused with READONLY. Reconnecting asks the sentinels for
  // the new primary. A consumer's command is resent there (it was refused, not run); a
  // producer's is not (the request fails with 503 and its client retries).
  // FailoverSafeSentinelConnector: ioredis's own gives a client up for good when the
  // sentinels announce the failover while it is reconnecting (sentinel-connector.ts).
  const failover: RedisOptions = sentinel
    ? {
        Connector: FailoverSafeSentinelConnector as unknown as RedisOptions['Connector'],
        reconnectOnError: (err) => (isReadonlyError(err) ? (role === 'consumer' ? 2 : 1) : false),
      }
    : {};
  if (role === 'consumer') return { ...base, ...failover, maxRetriesPerRequest: null };
  return { ...base, ...failover, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 };
}

export function isReadonlyError(err: Error): boolean {
  return err.message.startsWith('READONLY');
}

export function isSentinelUrl(url: string): boolean {
  return /^rediss?\+sentinel:\/\//.test(url);
}

/**
 * `redis+sentinel://[user:password@]host1:26379,host2:26379,host3/mymaster[/db]`: the
 * primary named `mymaster`, found through any of the listed sentinels (port 26379 when
 * omitted); user and password are the data nodes' (sentinels are asked without one unless
 * `?sentinelPassword=` gives theirs); `rediss+sentinel://` uses TLS to both.
 * ioredis asks the sentinels for the current primary on every (re)connect and follows
 * `+switch-master` (failoverDetector), so a failover needs no process restart.
 */
export function parseSentinelUrl(url: string): RedisOptions {
  const m = /^(rediss?)\+sentinel:\/\/(?:([^@/]*)@)?([^/?]+)\/([^/?]+)(?:\/(\d+))?\/?(?:\?(.*))?$/.exec(url);
  if (!m) throw new Error(`Unsupported Redis Sentinel URL '${redactUrl(url)}': expected redis+sentinel://host1:26379,host2:26379/<primary name>[/db]`);
  const [, scheme, userinfo, hostList, name, db, query] = m;
  const sentinels = hostList!.split(',').map((hp) => parseHostPort(hp, url));
  const params = new URLSearchParams(query ?? '');
  const colon = userinfo?.indexOf(':') ?? -1;
  const username = userinfo ? decodeURIComponent(colon >= 0 ? userinfo.slice(0, colon) : userinfo) : '';
  const password = userinfo && colon >= 0 ? decodeURIComponent(userinfo.slice(colon + 1)) : '';
  const sentinelPassword = params.get('sentinelPassword') ?? '';
  const tls = scheme === 'rediss';
  return {
    sentinels,
    name: decodeURIComponent(name!),
    role: 'master',
    db: db ? Number(db) : 0,
    failoverDetector: true,
    // A sentinel that accepts the connection but never answers (its host overloaded, half
    // booted) must not hold a reconnect forever: ioredis moves on to the next sentinel.
    sentinelCommandTimeout: 2_000,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(sentinelPassword ? { sentinelPassword } : {}),
    ...(tls ? { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
  };
}

function parseHostPort(hp: string, url: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hp.trim());
  if (!m) throw new Error(`Bad sentinel address '${hp}' in '${redactUrl(url)}'`);
  const port = m[2] ? Number(m[2]) : 26379;
  if (port < 1 || port > 65535) throw new Error(`Bad sentinel port in '${hp}' (${redactUrl(url)})`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

function parseTcpUrl(url: string): RedisOptions {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`Unsupported Redis URL '${url}'`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db,
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** What ph5 found out about a Redis's durability settings, and what is wrong with them. */
export interface RedisSettingsReport {
  /** `true`/`false` when known; `undefined` when neither CONFIG nor INFO told us. */
  appendonly: boolean | undefined;
  appendfsync: string | undefined;
  maxmemoryPolicy: string | undefined;
  /** Settings that can lose accepted jobs: AOF off, an eviction policy other than noeviction. */
  problems: string[];
  /** Weaker points worth knowing (fsync once a second, settings that could not be read). */
  notes: string[];
}

export class RedisSettingsError extends Error {
  readonly code = 'PH5_ERR_REDIS_SETTINGS';
}

/**
 * Reads an external Redis's durability settings. CONFIG GET first; managed services often
 * disable or rename CONFIG, so INFO (persistence, memory) is the fallback, which reports
 * the same two facts.
 */
export async function inspectRedisSettings(url: string): Promise<RedisSettingsReport> {
  const client = new Redis({ ...redisOptions(url, 'producer'), lazyConnect: true, enableOfflineQueue: true });
  client.on('error', () => {}); // reported through the awaited calls below
  try {
    await client.connect();
    let appendonly: boolean | undefined;
    let appendfsync: string | undefined;
    let maxmemoryPolicy: string | undefined;
    const notes: string[] = [];
    try {
      const pairs = (await client.call('CONFIG', 'GET', '*')) as string[];
      const config = new Map<string, string>();
      for (let i = 0; i + 1 < pairs.length; i += 2) config.set(pairs[i]!, pairs[i + 1]!);
      if (config.has('appendonly')) appendonly = config.get('appendonly') === 'yes';
      appendfsync = config.get('appendfsync');
      maxmemoryPolicy = config.get('maxmemory-policy');
    } catch {
      notes.push('CONFIG is disabled on this Redis; settings read from INFO instead');
      const info = await client.info().catch(() => '');
      const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
      const aof = field('aof_enabled');
      if (aof !== undefined) appendonly = aof === '1';
      maxmemoryPolicy = field('maxmemory_policy');
    }
    const problems: string[] = [];
    if (appendonly === false) problems.push('AOF persistence is off (appendonly no): a Redis restart loses every queued job');
    if (maxmemoryPolicy !== undefined && maxmemoryPolicy !== 'noeviction') {
      problems.push(`maxmemory-policy is '${maxmemoryPolicy}': under memory pressure Redis silently deletes queued jobs (set noeviction)`);
    }
    if (appendonly === undefined) notes.push('could not tell whether AOF is on');
    if (maxmemoryPolicy === undefined) notes.push('could not read maxmemory-policy');
    if (appendonly && appendfsync !== undefined && appendfsync !== 'always') {
      notes.push(`appendfsync is '${appendfsync}': a crash of the Redis host can lose up to a second of accepted jobs (ph5's own Redis uses 'always')`);
    }
    return { appendonly, appendfsync, maxmemoryPolicy, problems, notes };
  } finally {
    client.disconnect();
  }
}

/**
 * Startup check for a Redis ph5 did not start itself (PH5_REDIS_URL): problems are warned
 * about loudly, or refused with RedisSettingsError when `strict` (PH5_REDIS_STRICT=1).
 */
export async function checkRedisSettings(url: string, opts: { strict?: boolean; warn?: (msg: string) => void } = {}): Promise<RedisSettingsReport> {
  const warn = opts.warn ?? ((msg: string) => process.stderr.write(`${msg}\n`));
  const report = await inspectRedisSettings(url);
  for (const note of report.notes) warn(`[ph5] note: Redis at ${redactUrl(url)}: ${note}`);
  if (report.problems.length === 0) return report;
  const lines = report.problems.map((p) => `  - ${p}`).join('\n');
  if (opts.strict) {
    throw new RedisSettingsError(
      `Redis at ${redactUrl(url)} is not safe for ph5's queue:\n${lines}\n` +
        'Fix it (redis-server --appendonly yes --maxmemory-policy noeviction), or unset PH5_REDIS_STRICT to run anyway.',
    );
  }
  warn(
    `[ph5] WARNING: Redis at ${redactUrl(url)} can lose accepted jobs:\n${lines}\n` +
      '[ph5] WARNING: fix with: redis-server --appendonly yes --maxmemory-policy noeviction (PH5_REDIS_STRICT=1 refuses to start).',
  );
  return report;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
