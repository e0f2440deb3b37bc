/** The committed OpenAPI document is the one the routes generate. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { OPENAPI_FILE, liveDocument } from '../../services/api/scripts/write-openapi.js';

test('openapi/openapi.json matches the live document (run `npm run openapi` after changing routes)', async () => {
  const committed = await readFile(OPENAPI_FILE, 'utf8');
  const live = await liveDocument();
  assert.equal(committed, live, 'openapi/openapi.json is stale: run `npm run build:ts && npm run openapi`');
  const doc = JSON.parse(live);
  assert.equal(doc.openapi, '3.1.0');
  for (const [route, methods] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      assert.ok(op.operationId, `${method} ${route} has an operationId`);
      assert.ok(op.tags?.length, `${method} ${route} has tags`);
    }
  }
});
