/**
 * An API process on its own (its own redis-server and data directory, no worker pool), for
 * the benches that measure the API alone: its memory (upload-rss, read-rss) or its accept
 * path (upload-path). Started the way production starts it (API_NODE_FLAGS), answering on
 * loopback once /healthz does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { API_NODE_FLAGS } from '../services/api/node-flags.js';
import { startRedisServer } from '../services/shared/redis-server.js';

const API_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'services', 'api', 'server.js');

export interface ApiAlone {
  url: string;
  /** Its temp directory (removed by stop), and the data directory inside it. */
  dir: string;
  dataDir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface ApiAloneOptions {
  /** Where the temp directory goes (its filesystem is the one measured). */
  parent: string;
  /** A prefix for the temp directory's name. */
  name: string;
  env?: NodeJS.ProcessEnv;
  nodeArgs?: string[];
  /** Runs before the API starts (e.g. writing a file into the data directory). */
  prepare?: (dataDir: string) => Promise<void>;
}

export async function startApiAlone(opts: ApiAloneOptions): Promise<ApiAlone> {
  const dir = await mkdtemp(path.join(opts.parent, `${opts.name}-`));
  const dataDir = path.join(dir, 'data');
  const redis = await startRedisServer(path.join(dir, 'redis'));
  let api: ChildProcess | undefined;
  const stop = async () => {
    if (api && api.exitCode === null && api.signalCode === null) {
      const exited = new Promise((r) => api!.once('exit', r));
      api.kill('SIGTERM');
      await exited;
    }
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await opts.prepare?.(dataDir);
    const port = 20000 + Math.floor(Math.random() * 20000);
    api = spawn(process.execPath, [...API_NODE_FLAGS, ...(opts.nodeArgs ?? []), API_ENTRY], {
      env: {
        ...process.env,
        PH5_DATA_DIR: dataDir,
        PH5_REDIS_URL: redis.url,
        PH5_PORT: String(port),
        PH5_HOST: '127.0.0.1',
        PH5_LOG_LEVEL: 'warn',
        PH5_RATE_LIMIT_PER_MINUTE: '0',
        ...opts.env,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      if (
        await fetch(`${url}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (i > 400) throw new Error('the API did not start');
      await sleep(50);
    }
    return { url, dir, dataDir, process: api, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A process's resident set now and its peak (VmHWM, the kernel's own), in bytes. */
export async function procStatus(pid: number): Promise<{ rss: number; hwm: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/** The value after `--name` on the command line. */
export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
