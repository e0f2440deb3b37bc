/**
 * Entry point of the API process: `node --max-semi-space-size=8 dist/services/api/server.js`
 * (the flags are API_NODE_FLAGS in node-flags.ts; `npm start`, the tests' stack and the
 * Docker image pass them). Configuration comes
 * from the environment (services/shared/config.ts). Shuts down gracefully on SIGINT/SIGTERM
 * (in-flight requests finish, Redis connections close).
 */
import closeWithGrace from 'close-with-grace';
import { loadConfig } from '../shared/config.js';
import { checkRedisSettings, RedisSettingsError } from '../shared/redis.js';
import { buildApp } from './app.js';
import { DOCS_PREFIX } from './plugins/external/swagger-ui.js';
import { isLoopback } from './tokens.js';

const config = loadConfig();
const app = await buildApp({ config });

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'shutting down after an error');
  else app.log.info(`${signal ?? 'close'} received, shutting down`);
  await app.close();
});

// Without tokens anyone who can connect acts as admin of the default project: only
// processes on this machine may connect then, whatever PH5_HOST says.
let host = config.host;
if (!app.authEnabled) {
  if (!isLoopback(host)) {
    app.log.warn(`PH5_HOST=${host} ignored: auth is off (no PH5_TOKENS_FILE / PH5_TOKENS), so the API listens on 127.0.0.1 only`);
    host = '127.0.0.1';
  }
  const banner = `[ph5] WARNING: authentication is OFF (no PH5_TOKENS_FILE or PH5_TOKENS). Every local client acts as admin of project '${config.defaultProject}'. Listening on loopback only.\n`;
  process.stderr.write(banner);
  app.log.warn('authentication is off; listening on loopback only');
}

await app.listen({ host, port: config.port });

// The queue must keep what the API accepts: warn about a Redis without AOF or with
// eviction (refuse with PH5_REDIS_STRICT=1). Not awaited before listening: an unreachable
// Redis must not keep the API from answering (it answers 503 until Redis is there).
if (config.redisUrl) {
  const strict = process.env.PH5_REDIS_STRICT === '1';
  checkRedisSettings(config.redisUrl, { strict, warn: (msg) => app.log.warn(msg) }).catch(async (err: unknown) => {
    if (err instanceof RedisSettingsError) {
      app.log.error(err.message);
      await app.close();
      process.exit(1);
    }
    app.log.warn({ err: (err as Error).message }, 'could not check the Redis settings (is it up?)');
  });
}
const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : config.port;
const base = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
app.log.info({ api: base, docs: `${base}${DOCS_PREFIX}`, openapi: `${base}/openapi.json`, dataDir: config.dataDir }, 'ph5 API listening');
process.stderr.write(`[ph5] API: ${base}   docs: ${base}${DOCS_PREFIX}   OpenAPI: ${base}/openapi.json\n`);

