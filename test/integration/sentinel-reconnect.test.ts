/**
 * A failover announced while a client is reconnecting must not end the client
 * (services/shared/sentinel-connector.ts). Real redis-server and a real sentinel on loopback:
 * the client's connection is killed server-side, and the moment it starts reconnecting (asking
 * the sentinel for the primary) its failover detector fires, as `+switch-master` makes it do.
 * ioredis's own connector gives the client up for good there (status `end`: the stall seen
 * in test/integration/sentinel-failover.test.ts); ph5's must reconnect.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { redisOptions } from '../../services/shared/redis.js';
import { FailoverSafeSentinelConnector } from '../../services/shared/sentinel-connector.js';
import { freePort } from '../helpers/stack.js';

const require = createRequire(import.meta.url);
const { default: IoredisSentinelConnector } = require('ioredis/built/connectors/SentinelConnector/index.js') as { default: unknown };

let dir: string;
const procs: ChildProcess[] = [];
let url: string;
let admin: Redis;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ph5-sentinel-reconnect-'));
  const port = await freePort();
  const sentinelPort = await freePort();
  procs.push(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir], { stdio: 'ignore' }));
  const conf = path.join(dir, 'sentinel.conf');
  await writeFile(conf, [`port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor ph5 127.0.0.1 ${port} 1`, ''].join('\n'));
  procs.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
  admin = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
  await until('redis-server', async () => (await admin.ping()) === 'PONG');
  const sentinel = new Redis({ host: '127.0.0.1', port: sentinelPort, lazyConnect: true, maxRetriesPerRequest: 1 });
  sentinel.on('error', () => {});
  await until('the sentinel', async () => Array.isArray(await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'ph5')));
  sentinel.disconnect();
  url = `redis+sentinel://127.0.0.1:${sentinelPort}/ph5`;
});

after(async () => {
  admin?.disconnect();
  for (const p of procs) p.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** Connects, cuts the connection, and fires the failover detector as the reconnect starts. What became of the client? */
async function failoverDuringReconnect(Connector: unknown): Promise<'ready' | 'end'> {
  const name = `probe-${Math.random().toString(36).slice(2)}`;
  const client = new Redis({ ...redisOptions(url, 'consumer'), Connector: Connector as RedisOptions['Connector'], connectionName: name });
  client.on('error', () => {});
  try {
    await until('the client to be ready', async () => client.status === 'ready');
    const connector = (client as unknown as { connector: { failoverDetector?: { disconnect(): void } | null } }).connector;
    await until('its failover detector', async () => Boolean(connector.failoverDetector));
    const detector = connector.failoverDetector!;
    const outcome = new Promise<'ready' | 'end'>((resolve) => {
      client.once('connecting', () => {
        // The reconnect is asking the sentinel for the primary now: the switch is announced.
        detector.disconnect();
        client.once('ready', () => resolve('ready'));
        client.once('end', () => resolve('end'));
      });
    });
    await admin.call('CLIENT', 'KILL', 'ID', String(await clientId(name)));
    return await Promise.race([outcome, sleep(15_000, 'end' as const)]);
  } finally {
    client.disconnect();
  }
}

async function clientId(name: string): Promise<number> {
  const list = String(await admin.call('CLIENT', 'LIST'));
  const line = list.split('\n').find((l) => l.includes(` name=${name} `));
  if (!line) throw new Error(`no client named ${name}`);
  return Number(/^id=(\d+)/.exec(line)![1]);
}

test("ioredis's own sentinel connector gives the client up (why ph5 has its own)", async () => {
  assert.equal(await failoverDuringReconnect(IoredisSentinelConnector), 'end');
});

test("with ph5's connector (redisOptions) the client reconnects", async () => {
  assert.equal(redisOptions(url, 'producer').Connector, FailoverSafeSentinelConnector);
  assert.equal(await failoverDuringReconnect(FailoverSafeSentinelConnector), 'ready');
  // And it still answers.
  const client = new Redis(redisOptions(url, 'producer'));
  client.on('error', () => {});
  await until('a fresh client', async () => client.status === 'ready');
  assert.equal(await client.ping(), 'PONG');
  client.disconnect();
});

test('a deliberate disconnect during a connect still ends the client', async () => {
  const client = new Redis({ ...redisOptions(url, 'consumer'), lazyConnect: true });
  client.on('error', () => {});
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  void client.connect().catch(() => {});
  client.disconnect();
  await Promise.race([ended, sleep(5_000).then(() => assert.fail('the client kept connecting after disconnect()'))]);
  await sleep(500);
  assert.equal(client.status, 'end');
});
