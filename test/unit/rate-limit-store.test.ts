/**
 * Where the API counts the rate limit (PH5_RATE_LIMIT_STORE): the setting's parsing, and the
 * decision it makes with whether this process is one of several node:cluster processes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig, rateLimitStore } from '../../services/shared/config.js';
import { countsInRedis } from '../../services/api/plugins/external/rate-limit.js';

test('PH5_RATE_LIMIT_STORE: auto when unset, the named store otherwise, an error for anything else', () => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, 'auto'],
    ['', 'auto'],
    ['auto', 'auto'],
    ['process', 'process'],
    ['redis', 'redis'],
    [' redis ', 'redis'],
  ];
  for (const [value, want] of cases) {
    const env = value === undefined ? {} : { PH5_RATE_LIMIT_STORE: value };
    assert.equal(rateLimitStore(env), want, `PH5_RATE_LIMIT_STORE=${JSON.stringify(value)}`);
    assert.equal(loadConfig(env).limits.rateLimitStore, want);
  }
  for (const bad of ['Redis', 'memory', 'cluster', '1']) {
    assert.throws(() => rateLimitStore({ PH5_RATE_LIMIT_STORE: bad }), /PH5_RATE_LIMIT_STORE must be auto, process or redis/, bad);
  }
});

test('the count is in Redis when the setting says redis, or says auto in one of several cluster processes', () => {
  const cases: Array<[store: 'auto' | 'process' | 'redis', clusterWorker: boolean, inRedis: boolean]> = [
    ['auto', false, false], // one API process: in memory, no round trip
    ['auto', true, true], // PH5_API_PROCESSES > 1: shared by the processes
    ['process', false, false],
    ['process', true, false], // asked for: each process counts alone
    ['redis', false, true], // an API server among several hosts
    ['redis', true, true],
  ];
  for (const [store, clusterWorker, inRedis] of cases) {
    assert.equal(countsInRedis(store, clusterWorker), inRedis, `${store}, cluster worker: ${clusterWorker}`);
  }
});
