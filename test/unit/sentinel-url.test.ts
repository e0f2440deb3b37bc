/**
 * PH5_REDIS_URL in Sentinel form (`redis+sentinel://…/<primary name>`) becomes ioredis's
 * sentinel options, for both kinds of client; plain URLs are unchanged.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isReadonlyError, parseSentinelUrl, redisOptions } from '../../services/shared/redis.js';

const cases: Array<{ url: string; want: Record<string, unknown> }> = [
  {
    url: 'redis+sentinel://s1:26379,s2:26380,s3/mymaster',
    want: {
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
        { host: 's3', port: 26379 },
      ],
      name: 'mymaster',
      db: 0,
      role: 'master',
    },
  },
  { url: 'redis+sentinel://10.0.0.1:5000/ph5/3', want: { sentinels: [{ host: '10.0.0.1', port: 5000 }], name: 'ph5', db: 3 } },
  { url: 'redis+sentinel://:s%40cret@h1,h2/q', want: { password: 's@cret', name: 'q', sentinelPassword: undefined } },
  { url: 'redis+sentinel://ph5:pw@h1/q?sentinelPassword=spw', want: { username: 'ph5', password: 'pw', sentinelPassword: 'spw' } },
  {
    url: 'redis+sentinel://[fd00::1]:26379,[fd00::2]/q',
    want: {
      sentinels: [
        { host: 'fd00::1', port: 26379 },
        { host: 'fd00::2', port: 26379 },
      ],
    },
  },
  { url: 'rediss+sentinel://h1/q', want: { enableTLSForSentinelMode: true, tls: {} } },
];

test('sentinel URLs become ioredis sentinel options', () => {
  for (const { url, want } of cases) {
    const got = parseSentinelUrl(url) as Record<string, unknown>;
    for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k], v, `${url}: ${k}`);
    assert.equal(got.failoverDetector, true, url);
  }
});

test('malformed sentinel URLs are refused with the password hidden', () => {
  for (const url of ['redis+sentinel://h1', 'redis+sentinel://h1:x/q', 'redis+sentinel://:pw@h1:99999/q', 'redis+sentinel:///q']) {
    assert.throws(
      () => parseSentinelUrl(url),
      (err: Error) => !err.message.includes('pw') || err.message.includes('***'),
      url,
    );
  }
});

test('both roles carry the sentinel options; only sentinel clients reconnect on READONLY', () => {
  const producer = redisOptions('redis+sentinel://h1,h2/q', 'producer');
  const consumer = redisOptions('redis+sentinel://h1,h2/q', 'consumer');
  assert.equal(producer.name, 'q');
  assert.equal(producer.enableOfflineQueue, false);
  assert.equal(consumer.maxRetriesPerRequest, null);
  const readonly = new Error("READONLY You can't write against a read only replica.");
  assert.equal(isReadonlyError(readonly), true);
  // A consumer's refused command is resent on the new primary (2); a producer's is not (1).
  assert.equal(consumer.reconnectOnError!(readonly), 2);
  assert.equal(producer.reconnectOnError!(readonly), 1);
  assert.equal(producer.reconnectOnError!(new Error('ERR wrong number of arguments')), false);
  assert.equal(redisOptions('redis://h:6380/2', 'producer').reconnectOnError, undefined);
  assert.deepEqual(redisOptions('redis://h:6380/2', 'consumer').port, 6380);
});
