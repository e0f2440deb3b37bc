/**
 * The committed OpenAPI document (openapi/openapi.json) is the one the routes generate,
 * it is served at /openapi.json with Swagger UI at /docs, and it documents every
 * operation fully. Needs no Redis.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { buildApp } from '../../services/api/app.js';
import { OPENAPI_FILE, liveDocument } from '../../services/api/scripts/write-openapi.js';
import { loadConfig } from '../../services/shared/config.js';

function firstDifference(a: string, b: string): string {
  const la = a.split('\n');
  const lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) return `line ${i + 1}: committed ${JSON.stringify(la[i] ?? '<end>')} vs live ${JSON.stringify(lb[i] ?? '<end>')}`;
  }
  return 'none';
}

test('openapi/openapi.json is up to date with the routes (if not: npm run build:ts && npm run openapi)', async () => {
  const committed = await readFile(OPENAPI_FILE, 'utf8');
  const live = await liveDocument();
  assert.ok(committed === live, `openapi/openapi.json differs from the live document; run \`npm run openapi\` (after npm run build:ts). First difference: ${firstDifference(committed, live)}`);
});

test('every operation has an operationId, tags, a summary, and documented problem responses', async () => {
  const doc = JSON.parse(await liveDocument());
  assert.equal(doc.openapi, '3.1.0');
  const ids = new Set<string>();
  for (const [route, methods] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(methods)) {
      const where = `${method.toUpperCase()} ${route}`;
      assert.ok(op.operationId, `${where} has an operationId`);
      assert.ok(!ids.has(op.operationId), `${where}: operationId ${op.operationId} is unique`);
      ids.add(op.operationId);
      assert.ok(op.tags?.length, `${where} has tags`);
      assert.ok(op.summary, `${where} has a summary`);
      for (const [status, response] of Object.entries<any>(op.responses)) {
        assert.ok(response.description && response.description !== 'Default Response', `${where} ${status} is described`);
        if (Number(status) >= 400) {
          assert.equal(response.content['application/problem+json'].schema.$ref, '#/components/schemas/Problem', `${where} ${status} is a problem`);
        }
      }
    }
  }
  assert.deepEqual([...ids].sort(), ['createDataset', 'getDataset', 'getHealth', 'getJob', 'getMetrics', 'getReadiness', 'readDatasetValue', 'writeDatasetValue']);
  const put = doc.paths['/v1/files/{file}/datasets/{path}/value'].put;
  assert.deepEqual(put.requestBody.content['application/octet-stream'].schema.type, 'string');
  assert.deepEqual(put.requestBody.content['application/octet-stream'].schema.format, 'binary');
});

test('the app serves the document at /openapi.json and Swagger UI at /docs, without Redis', async () => {
  const app = await buildApp({ config: loadConfig({ PH5_DATA_DIR: '/nonexistent' }), connect: false, logger: false });
  try {
    const doc = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(doc.statusCode, 200);
    assert.equal(JSON.stringify(doc.json(), null, 2) + '\n', await liveDocument());
    const ui = await app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(ui.statusCode, 200);
    assert.match(ui.body, /swagger/i);
  } finally {
    await app.close();
  }
});
