/**
 * Runs a redis-server of our own: for `npm start` (the embedded default) and for tests.
 * Production settings always: AOF on with `appendfsync always` (an accepted job survives a
 * kill -9 of Redis), `noeviction` (Redis must refuse writes rather than drop queued jobs).
 * It listens on a unix socket only, so it clashes with no port and is reachable only from
 * this machine. It runs in a session (process group) of its own: a terminal's Ctrl-C goes
 * to the whole foreground group, and Redis must outlive it until the pool has drained
 * (`npm start` stops it last).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { exited } from './child-exit.js';

/**
 * How every Redis that holds ph5's queue runs: an append-only file fsynced on every write
 * before Redis answers (a job the API acknowledged with 202 survives a kill -9 of Redis or a
 * power cut, not only a clean restart; the queue's few thousand small commands per second
 * keep up with it easily), no eviction (a queue must refuse rather than drop), no RDB snapshots.
 */
export const DURABLE_QUEUE_ARGS: readonly string[] = ['--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction', '--save', ''];

export interface RedisServer {
  /** `unix:///...` URL for PH5_REDIS_URL. */
  url: string;
  socket: string;
  dir: string;
  readonly process: ChildProcess;
  /** SIGKILL, for crash tests. */
  kill(): Promise<void>;
  /** Start again on the same socket and data (AOF replay). */
  restart(): Promise<void>;
  /** SIGTERM: Redis flushes the AOF and exits. */
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  stdio?: 'ignore' | 'inherit';
  /**
   * Appended to the production settings (later arguments win in redis-server): tests use it
   * to stand up a deliberately misconfigured Redis. Nothing in ph5 itself passes any.
   */
  extraArgs?: string[];
}

export async function startRedisServer(dir: string, opts: RedisServerOptions | 'ignore' | 'inherit' = {}): Promise<RedisServer> {
  const { stdio = 'ignore', extraArgs = [] } = typeof opts === 'string' ? { stdio: opts } : opts;
  await mkdir(dir, { recursive: true });
  const socket = path.join(dir, 'redis.sock');
  let proc: ChildProcess;

  const launch = async () => {
    await rm(socket, { force: true });
    proc = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--unixsocketperm', '700', '--dir', dir, ...DURABLE_QUEUE_ARGS, ...extraArgs], {
      stdio: ['ignore', stdio, 'inherit'],
      detached: true,
    });
    for (let i = 0; i < 1000; i++) {
      if (existsSync(socket)) return;
      if (proc.exitCode !== null) throw new Error(`redis-server exited with code ${proc.exitCode} (is it installed? run npm run setup)`);
      await sleep(10);
    }
    throw new Error('redis-server did not create its socket within 10 s');
  };

  await launch();
  return {
    url: `unix://${socket}`,
    socket,
    dir,
    get process() {
      return proc;
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
    restart: launch,
    async stop() {
      proc.kill('SIGTERM');
      await exited(proc);
    },
  };
}
