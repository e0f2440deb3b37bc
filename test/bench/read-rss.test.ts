/**
 * The JSON-read memory benchmark, once at 64 MiB (so it cannot rot), and what it proves
 * about streaming: a JSON read of 8 Mi float64 (a 134 MiB answer) raises the API's peak
 * RSS by far less than the answer's size — the answer is encoded and sent piece by piece,
 * never built whole. (A memory bound, not a timing.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runReadRss } from '../../bench/read-rss.js';

test('a JSON read of 64 MiB of float64 raises the API’s peak RSS by far less than the answer', { timeout: 300_000 }, async () => {
  const r = await runReadRss(64 * 1024 * 1024);
  assert.equal(r.elements, 8 * 1024 * 1024);
  assert.ok(r.jsonMiB > 100, JSON.stringify(r));
  assert.ok(r.growthMiB <= r.targetGrowthMiB && r.growthMiB < r.jsonMiB, JSON.stringify(r));
});
