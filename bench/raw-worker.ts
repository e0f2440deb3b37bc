/**
 * The raw-BullMQ side of bench/small-writes.ts, in its own process as ph5's worker is: a
 * BullMQ Worker whose processor does nothing, on the same Redis, with the same job options.
 *   node dist/bench/raw-worker.js <redis-url> <queue> <concurrency>
 * Prints "ready" once it consumes, and exits on SIGTERM after closing the worker.
 */
import { Worker } from 'bullmq';
import { redisOptions } from '../services/shared/redis.js';

export const RAW_PREFIX = 'ph5bench';

async function main(): Promise<void> {
  const [url, queue, concurrency] = process.argv.slice(2);
  if (!url || !queue) throw new Error('usage: raw-worker.js <redis-url> <queue> <concurrency>');
  const worker = new Worker(queue, async () => undefined, {
    connection: redisOptions(url, 'consumer'),
    prefix: RAW_PREFIX,
    concurrency: Number(concurrency ?? 1),
  });
  worker.on('error', (err) => process.stderr.write(`raw worker: ${err.message}\n`));
  await worker.waitUntilReady();
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => void worker.close().then(() => process.exit(0)));
}

if (process.argv[1]?.endsWith('raw-worker.js')) {
  main().catch((err: unknown) => {
    process.stderr.write(`raw worker: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
