/**
 * Entry point of the API process: `node dist/services/api/server.js`. Configuration comes
 * from the environment (services/shared/config.ts). Shuts down gracefully on SIGINT/SIGTERM
 * (in-flight requests finish, Redis connections close).
 */
import closeWithGrace from 'close-with-grace';
import { loadConfig } from '../shared/config.js';
import { buildApp } from './app.js';
import { DOCS_PREFIX } from './plugins/external/swagger-ui.js';

const config = loadConfig();
const app = await buildApp({ config });

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'shutting down after an error');
  else app.log.info(`${signal ?? 'close'} received, shutting down`);
  await app.close();
});

await app.listen({ host: config.host, port: config.port });
const shownHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : config.port;
const base = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
app.log.info({ api: base, docs: `${base}${DOCS_PREFIX}`, openapi: `${base}/openapi.json`, dataDir: config.dataDir }, 'ph5 API listening');
process.stderr.write(`[ph5] API: ${base}   docs: ${base}${DOCS_PREFIX}   OpenAPI: ${base}/openapi.json\n`);
