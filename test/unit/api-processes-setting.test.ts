/** PH5_API_PROCESSES: how many API processes serve the port (services/shared/config.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiProcesses, DEFAULT_API_PROCESSES, MAX_AUTO_API_PROCESSES } from '../../services/shared/config.js';

test('PH5_API_PROCESSES: a count, auto (one per core, at most 4), or the default', () => {
  const table: Array<[string | undefined, number, number]> = [
    // [value, cores, processes]
    [undefined, 2, DEFAULT_API_PROCESSES],
    ['', 8, DEFAULT_API_PROCESSES],
    ['1', 8, 1],
    ['3', 2, 3], // an explicit count is taken as given, even above the cores
    [' 2 ', 1, 2],
    ['auto', 1, 1],
    ['auto', 2, 2],
    ['auto', 64, MAX_AUTO_API_PROCESSES],
  ];
  for (const [value, cores, want] of table) {
    const env = value === undefined ? {} : { PH5_API_PROCESSES: value };
    assert.equal(apiProcesses(env, cores), want, `PH5_API_PROCESSES=${JSON.stringify(value)} on ${cores} cores`);
  }
  assert.equal(MAX_AUTO_API_PROCESSES, 4);
});

test('PH5_API_PROCESSES refuses what is not a count >= 1 or auto', () => {
  for (const bad of ['0', '-1', '1.5', 'two', 'AUTO', '2x']) {
    assert.throws(() => apiProcesses({ PH5_API_PROCESSES: bad }, 2), /PH5_API_PROCESSES must be an integer >= 1/, bad);
  }
});
