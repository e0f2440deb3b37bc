/**
 * Entry point of the API process: `node --max-semi-space-size=8 dist/services/api/server.js`
 * (the flags are API_NODE_FLAGS in node-flags.ts; `npm start`, the tests' stack and the
 * Docker image pass them). Configuration comes
 * from the environment (services/shared/config.ts). Shuts down gracefully on SIGINT/SIGTERM
 * (in-flight requests finish, Redis connections close).
 *
 * With PH5_API_PROCESSES > 1 this process becomes the primary of that many API processes
 * sharing the port (cluster-primary.ts), each of which runs this file again as a worker.
 */
import cluster from 'node:cluster';
import closeWithGrace from 'close-with-grace';
import { apiProcesses, loadConfig, type Config } from '../shared/config.js';
import { checkRedisSettings, RedisSettingsError } from '../shared/redis.js';
import { buildApp } from './app.js';
import { runPrimary } from './cluster-primary.js';
import { isApiWorker, onShutdownRequest, printsBanners } from './cluster-worker.js';
import { DOCS_PREFIX } from './plugins/external/swagger-ui.js';
import { isLoopback } from './tokens.js';

const config = loadConfig();
const processes = apiProcesses();
if (cluster.isPrimary && processes > 1) await primary(config, processes);
else await serve(config);

/** The primary of several API processes: forks and supervises them, serves nothing itself. */
async function primary(config: Config, processes: number): Promise<void> {
  const say = (msg: string) => process.stderr.write(`[ph5] ${msg}\n`);
  const p = runPrimary({ processes, log: say });
  // After runPrimary: its signal handlers are in place once this is printed.
  say(`API: ${processes} processes on port ${config.port} (PH5_API_PROCESSES), primary pid ${process.pid}`);
  // Checked once, here, rather than in every worker (see below for why it is not awaited).
  if (config.redisUrl) {
    checkRedisSettings(config.redisUrl, { strict: config.redisStrict, warn: say }).catch((err: unknown) => {
      if (err instanceof RedisSettingsError) {
        say(err.message);
        p.stop(1);
      } else say(`could not check the Redis settings (is it up?): ${(err as Error).message}`);
    });
  }
  process.exit(await p.finished);
}

/** One API process: the whole app, listening. */
async function serve(config: Config): Promise<void> {
  const app = await buildApp({ config });

  let closing = false;
  const grace = closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    closing = true;
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info(`${signal ?? 'close'} received, shutting down`);
    await app.close();
  });
  // Tests only: which API process answered (several share the port).
  if (config.debugPidHeader) {
    // On the raw response: streamed answers (events) write their head themselves.
    app.addHook('onRequest', async (_request, reply) => {
      reply.raw.setHeader('x-ph5-pid', String(process.pid));
    });
  }

  // Without tokens anyone who can connect acts as admin of the default project: only
  // processes on this machine may connect then, whatever PH5_HOST says.
  let host = config.host;
  if (!app.authEnabled) {
    if (!isLoopback(host)) {
      app.log.warn(`PH5_HOST=${host} ignored: auth is off (no PH5_TOKENS_FILE / PH5_TOKENS), so the API listens on 127.0.0.1 only`);
      host = '127.0.0.1';
    }
    const banner = `[ph5] WARNING: authentication is OFF (no PH5_TOKENS_FILE or PH5_TOKENS). Every local client acts as admin of project '${config.defaultProject}'. Listening on loopback only.\n`;
    if (printsBanners()) {
      process.stderr.write(banner);
      app.log.warn('authentication is off; listening on loopback only');
    }
  }

  await app.listen({ host, port: config.port });
  // One of several API processes: the primary's stop arrives as a message, perhaps already
  // during start-up (then it is honoured now). A terminal's Ctrl-C may have reached this
  // process too: then it is closing already and that is that.
  onShutdownRequest(() => {
    if (!closing) void grace.close();
  });

  // The queue must keep what the API accepts: warn about a Redis without AOF or with
  // eviction (refuse with PH5_REDIS_STRICT=1). Not awaited before listening: an unreachable
  // Redis must not keep the API from answering (it answers 503 until Redis is there).
  // Several API processes: their primary checks, once.
  if (config.redisUrl && !isApiWorker()) {
    checkRedisSettings(config.redisUrl, { strict: config.redisStrict, warn: (msg) => app.log.warn(msg) }).catch(async (err: unknown) => {
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
  if (printsBanners()) process.stderr.write(`[ph5] API: ${base}   docs: ${base}${DOCS_PREFIX}   OpenAPI: ${base}/openapi.json\n`);
}
