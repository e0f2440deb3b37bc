/** PH5_FILE_SYNC: on unless set to 'off'; anything else stops the worker at start. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileSync, loadWorkerSettings } from '../../services/worker/settings.js';

test('the file sync is on by default and off only when asked', () => {
  assert.equal(fileSync({}), true);
  assert.equal(fileSync({ PH5_FILE_SYNC: '' }), true);
  assert.equal(fileSync({ PH5_FILE_SYNC: 'on' }), true);
  assert.equal(fileSync({ PH5_FILE_SYNC: 'off' }), false);
  assert.equal(loadWorkerSettings({}).fileSync, true);
  assert.equal(loadWorkerSettings({ PH5_FILE_SYNC: 'off' }).fileSync, false);
});

test('a value that is neither on nor off is refused with the setting named', () => {
  for (const bad of ['0', 'false', 'OFF', 'no', ' off']) {
    assert.throws(() => fileSync({ PH5_FILE_SYNC: bad }), /PH5_FILE_SYNC must be 'on' or 'off'/, bad);
    assert.throws(() => loadWorkerSettings({ PH5_FILE_SYNC: bad }), /PH5_FILE_SYNC/, bad);
  }
});
