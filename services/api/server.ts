/**
 * Entry point of the API process: `node dist/services/api/server.js`.
 * Configuration from the environment (services/shared/config.ts).
 */
import closeWithGrace from 'close-with-grace';
import { loadConfig } from '../shared/config.js';
import { buildApp } from './app.js';

const config = loadConfig();
const app = await buildApp({ config });

closeWithGrace({ delay: 10_000 }, async ({ err }) => {
  if (err) app.log.error({ err }, 'closing after an error');
  await app.close();
});

await app.listen({ host: config.host, port: config.port });
const base = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
app.log.info(`ph5 API on ${base}  (docs: ${base}/docs, OpenAPI: ${base}/openapi.json, data: ${config.dataDir})`);
process.stderr.write(`[ph5] API on ${base} — interactive docs at ${base}/docs\n`);
