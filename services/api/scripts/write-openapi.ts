/**
 * Writes the committed OpenAPI document (openapi/openapi.json) from the route schemas,
 * without connecting to anything: `npm run openapi`.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../shared/config.js';
import { buildApp } from '../app.js';

export const OPENAPI_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'openapi', 'openapi.json');

export async function liveDocument(): Promise<string> {
  const app = await buildApp({ config: loadConfig({}), connect: false, logger: false });
  await app.ready();
  const doc = JSON.stringify(app.swagger(), null, 2) + '\n';
  await app.close();
  return doc;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeFile(OPENAPI_FILE, await liveDocument());
  console.log(`wrote ${OPENAPI_FILE}`);
}
