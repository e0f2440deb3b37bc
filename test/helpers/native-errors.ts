/**
 * Assertions about the native addon's failures, for the tests that load it in-process.
 */
import assert from 'node:assert/strict';
import { leakedObjectCount, Ph5NativeError } from '../../native/lib/index.js';

/**
 * Awaits `fn`, which must fail with a Ph5NativeError of `code` (and a message matching
 * `match`), leaving no HDF5 id open behind it.
 */
export async function rejectsNative(fn: () => Promise<unknown>, code: string, match?: RegExp): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof Ph5NativeError, `expected a Ph5NativeError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (match) assert.match(e.message, match);
    assert.equal(leakedObjectCount(), 0, `no HDF5 id left open after: ${e.message}`);
    return;
  }
  assert.fail(`expected ${code}`);
}
