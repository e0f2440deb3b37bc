/**
 * The "HTTP sink": the wire as a baseline (issue 15). A bare `node:http` server, no fastify,
 * in its own process (the client and the server do not share an event loop, as with the
 * real API), that receives one request body and either
 *
 *   (a) `discard`: drops every chunk as it arrives, or
 *   (b) `durable`: writes it to a new file in a directory on the filesystem under test, in
 *       large writes (a WriteStream with an 8 MiB buffer: Node's fs coalesces what arrives
 *       while a write is in flight into one writev), fsyncs the file and then its directory,
 *       and only then answers,
 *
 * answering `202` with a Location (as ph5 does). These are the ceilings of any Node
 * service on this machine: (a) is what receiving the bytes costs, (b) what receiving and
 * storing them durably costs with plain Node. Timed by the client from the request's first
 * byte to the answer, with the bulk scenario's own client (service.ts `submit`).
 *
 *   const sink = await startSink(dir);
 *   const seconds = await sink.receive('durable', body);   // the file is removed afterwards
 *   await sink.stop();
 *
 * The same module is the child's entry: `node sink.js --serve <dir>` (the parent forks it).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { API_NODE_FLAGS } from '../../services/api/node-flags.js';
import { submit } from './service.js';

export type SinkMode = 'discard' | 'durable';

export interface HttpSink {
  url: string;
  /** Where the durable sink writes its files. */
  dir: string;
  /** Sends `body` to the sink; seconds from the request's first byte to the 202. */
  receive(mode: SinkMode, body: Buffer): Promise<number>;
  stop(): Promise<void>;
}

/** What the durable sink writes with: large writes, coalesced while one is in flight. */
const SINK_WRITE_BUFFER = 8 * 1024 * 1024;

async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The child: a node:http server answering POST /discard and POST /durable. */
function serve(dir: string): void {
  let n = 0;
  const server = http.createServer((req, res) => {
    const answer = (status: number, location?: string, text = '') => {
      res.writeHead(status, { 'content-type': 'text/plain', ...(location ? { location } : {}) });
      res.end(text);
    };
    if (req.method !== 'POST' || (req.url !== '/discard' && req.url !== '/durable')) {
      req.resume();
      return answer(404, undefined, 'POST /discard or /durable');
    }
    if (req.url === '/discard') {
      req.on('data', () => {});
      req.on('end', () => answer(202, '/discard'));
      return;
    }
    const name = `sink-${process.pid}-${++n}.bin`;
    const file = path.join(dir, name);
    pipeline(req, createWriteStream(file, { flags: 'wx', highWaterMark: SINK_WRITE_BUFFER, flush: true }))
      .then(() => fsyncPath(dir))
      .then(
        () => answer(202, `/durable/${name}`),
        (err: Error) => {
          rm(file, { force: true }).catch(() => {});
          answer(500, undefined, err.message);
        },
      );
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send!({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  process.on('disconnect', () => process.exit(0));
}

/** Forks the sink process (with the API's node flags) writing into `dir`. */
export async function startSink(dir: string): Promise<HttpSink> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--serve', dir], {
    execArgv: [...API_NODE_FLAGS],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the HTTP sink exited (${code}) before listening`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    dir,
    async receive(mode, body) {
      const t0 = performance.now();
      const { location } = await submit(url, 'POST', `/${mode}`, body);
      const seconds = (performance.now() - t0) / 1000;
      if (mode === 'durable') await rm(path.join(dir, path.basename(location)), { force: true });
      return seconds;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--serve') {
  serve(process.argv[3]!);
}
