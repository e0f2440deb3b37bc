/**
 * The committed OpenAPI document (openapi/openapi.json) is the one the routes generate,
 * it is served at /openapi.json with Swagger UI at /docs, and it documents every
 * operation fully. Needs no Redis.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { buildApp } from '../../services/api/app.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLIENT_TYPES_FILE, OPENAPI_FILE, clientTypes, liveDocument } from '../../services/api/scripts/write-openapi.js';
import { loadConfig } from '../../services/shared/config.js';
import { assertContractKept, watchContract } from '../helpers/contract.js';

function firstDifference(a: string, b: string): string {
  const la = a.split('\n');
  const lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) return `line ${i + 1}: committed ${JSON.stringify(la[i] ?? '<end>')} vs live ${JSON.stringify(lb[i] ?? '<end>')}`;
  }
  return 'none';
}

/** Whether an operation shows an example somewhere (parameters, body or answers). */
function hasExample(node: unknown): boolean {
  if (!node || typeof node !== 'object') return false;
  if ('example' in node || ('examples' in node && Array.isArray(node.examples))) return true;
  return Object.values(node).some(hasExample);
}

test('openapi/openapi.json is up to date with the routes (if not: npm run build:ts && npm run openapi)', async () => {
  const committed = await readFile(OPENAPI_FILE, 'utf8');
  const live = await liveDocument();
  assert.ok(
    committed === live,
    `openapi/openapi.json differs from the live document; run \`npm run openapi\` (after npm run build:ts). First difference: ${firstDifference(committed, live)}`,
  );
});

test('services/client/api-types.ts is what openapi-typescript generates from the document (if not: npm run openapi)', async () => {
  const committed = await readFile(CLIENT_TYPES_FILE, 'utf8');
  const generated = await clientTypes(await liveDocument());
  assert.ok(committed === generated, `api-types.ts is stale; run \`npm run openapi\`. First difference: ${firstDifference(committed, generated)}`);
});

test('the committed document passes Redocly lint (recommended rules, redocly.yaml) with no error and no warning', async () => {
  const root = path.dirname(path.dirname(OPENAPI_FILE));
  const { stdout, stderr } = await promisify(execFile)(path.join(root, 'node_modules', '.bin', 'redocly'), ['lint', '--format=stylish', OPENAPI_FILE], {
    cwd: root,
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
    timeout: 120_000,
  }).catch((err: { stdout: string; stderr: string }) => assert.fail(`redocly lint failed:\n${err.stdout}\n${err.stderr}`));
  const output = `${stdout}\n${stderr}`;
  assert.doesNotMatch(output, /\b(error|warning)\b\s+\S/, output);
  assert.match(output, /valid/i);
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
      assert.ok(hasExample(op), `${where} shows an example`);
      if (route.startsWith('/v1/')) {
        assert.deepEqual(op.security, [{ bearerAuth: [] }], `${where} declares bearer auth`);
        for (const status of ['400', '401', '404', '429', '503']) {
          if (status === '404' && op.operationId.startsWith('create')) continue; // creating needs nothing to exist
          assert.ok(op.responses[status], `${where} documents ${status}`);
        }
      }
      for (const [status, response] of Object.entries<any>(op.responses)) {
        assert.ok(response.description && response.description !== 'Default Response', `${where} ${status} is described`);
        if (Number(status) >= 400) {
          assert.equal(response.content['application/problem+json'].schema.$ref, '#/components/schemas/Problem', `${where} ${status} is a problem`);
        }
      }
    }
  }
  assert.deepEqual([...ids].sort(), [
    'cancelJob',
    'createDataset',
    'createFile',
    'createGroup',
    'deleteDataset',
    'deleteDatasetAttribute',
    'deleteFile',
    'deleteFileAttribute',
    'deleteGroup',
    'deleteGroupAttribute',
    'getDataset',
    'getDatasetAttribute',
    'getFile',
    'getFileAttribute',
    'getGroup',
    'getGroupAttribute',
    'getHealth',
    'getJob',
    'getMetrics',
    'getReadiness',
    'listDatasetAttributes',
    'listFileAttributes',
    'listFiles',
    'listGroupAttributes',
    'listJobs',
    'listWorkers',
    'putDatasetAttribute',
    'putFileAttribute',
    'putGroupAttribute',
    'readDatasetPoints',
    'readDatasetValue',
    'resizeDataset',
    'streamJobEvents',
    'submitBatch',
    'writeDatasetValue',
  ]);
  const put = doc.paths['/v1/files/{file}/datasets/{path}/value'].put;
  assert.deepEqual(put.requestBody.content['application/octet-stream'].schema.type, 'string');
  assert.deepEqual(put.requestBody.content['application/octet-stream'].schema.format, 'binary');
});

test('the app serves the document at /openapi.json and Swagger UI at /docs, without Redis', async () => {
  const app = await buildApp({ config: loadConfig({ PH5_DATA_DIR: '/nonexistent' }), connect: false, logger: false });
  watchContract(app);
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
  assertContractKept(app);
});
