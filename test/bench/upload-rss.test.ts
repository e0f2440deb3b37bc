/**
 * The upload-memory benchmark in its quick mode, once (so it cannot rot), and what it
 * proves about streaming: a 256 MiB binary upload raises the API's peak RSS by far less
 * than the body's size — the body goes to the staging area as it arrives, never whole into
 * memory. (A memory bound, not a timing: the machine's load does not change it.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runUploadRss } from '../../bench/upload-rss.js';

test('a 256 MiB streamed upload raises the API’s peak RSS by far less than its size', { timeout: 300_000 }, async () => {
  const r = await runUploadRss(256 * 1024 * 1024);
  assert.equal(r.uploadMiB, 256);
  assert.ok(r.apiVmHwmMiB - r.apiRssBeforeMiB < 96, JSON.stringify(r));
  assert.ok(r.MiBps > 0, JSON.stringify(r));
});
