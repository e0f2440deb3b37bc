/**
 * Redis production settings: the Redis ph5 starts itself keeps every acknowledged job (AOF
 * with fsync always, noeviction), and an external Redis that could lose jobs is warned
 * about, or refused with PH5_REDIS_STRICT=1, also where CONFIG is disabled. All against
 * real redis-server processes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { Queue } from 'bullmq';
import { checkRedisSettings, inspectRedisSettings, RedisSettingsError, redisOptions } from '../../services/shared/redis.js';
import { startRedisServer, type RedisServer } from '../../services/shared/redis-server.js';
import { startRedis } from '../helpers/redis.js';

const WORKER_CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'services', 'cli', 'worker.js');
const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function redisWith(extraArgs: string[]): Promise<RedisServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ph5-redis-bad-'));
  const server = await startRedisServer(dir, { extraArgs });
  cleanup.push(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return server;
}

test("ph5's own Redis: AOF with fsync always, noeviction, nothing to warn about", async () => {
  const redis = await startRedis();
  cleanup.push(() => redis.stop());
  const report = await inspectRedisSettings(redis.url);
  assert.equal(report.appendonly, true);
  assert.equal(report.appendfsync, 'always');
  assert.equal(report.maxmemoryPolicy, 'noeviction');
  assert.deepEqual(report.problems, []);
  assert.deepEqual(report.notes, []);
});

test('a job accepted before a kill -9 of Redis is still there after the restart', async () => {
  const redis = await startRedis();
  cleanup.push(() => redis.stop());
  const queue = new Queue('survivor', { connection: redisOptions(redis.url, 'consumer'), prefix: 'ph5test' });
  const added = await Promise.all(Array.from({ length: 50 }, (_, i) => queue.add('j', { i })));
  await redis.kill();
  await redis.restart();
  const counts = await queue.getJobCounts('waiting');
  assert.equal(counts.waiting, 50);
  assert.deepEqual((await queue.getJob(added[49]!.id!))?.data, { i: 49 });
  await queue.close();
});

test('AOF off and an evicting policy: a loud warning, or a clear refusal when strict', async () => {
  const redis = await redisWith(['--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru']);
  const warnings: string[] = [];
  const report = await checkRedisSettings(redis.url, { warn: (m) => warnings.push(m) });
  assert.equal(report.appendonly, false);
  assert.equal(report.maxmemoryPolicy, 'allkeys-lru');
  assert.equal(report.problems.length, 2);
  const text = warnings.join('\n');
  assert.match(text, /WARNING/);
  assert.match(text, /appendonly no/);
  assert.match(text, /allkeys-lru/);

  await assert.rejects(checkRedisSettings(redis.url, { strict: true, warn: () => {} }), (err: unknown) => {
    assert.ok(err instanceof RedisSettingsError);
    assert.equal(err.code, 'PH5_ERR_REDIS_SETTINGS');
    assert.match(err.message, /AOF persistence is off/);
    assert.match(err.message, /noeviction/);
    return true;
  });
});

test('with CONFIG disabled (managed Redis), the settings are read from INFO', async () => {
  const redis = await redisWith(['--appendonly', 'no', '--maxmemory-policy', 'volatile-lru', '--rename-command', 'CONFIG', '']);
  const report = await inspectRedisSettings(redis.url);
  assert.equal(report.appendonly, false);
  assert.equal(report.maxmemoryPolicy, 'volatile-lru');
  assert.equal(report.problems.length, 2);
  assert.ok(
    report.notes.some((n) => /CONFIG is disabled/.test(n)),
    report.notes.join('; '),
  );
});

test('npm run worker with PH5_REDIS_STRICT=1 refuses an unsafe Redis before launching any rank', async () => {
  const redis = await redisWith(['--maxmemory-policy', 'allkeys-random']);
  const child = spawn(process.execPath, [WORKER_CLI], {
    env: { ...process.env, PH5_REDIS_URL: redis.url, PH5_REDIS_STRICT: '1', PH5_RANKS: '2', PH5_DATA_DIR: os.tmpdir() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 1, output);
  assert.match(output, /not safe for ph5's queue/);
  assert.match(output, /allkeys-random/);
  assert.doesNotMatch(output, /pool of 2 ranks/);
});
