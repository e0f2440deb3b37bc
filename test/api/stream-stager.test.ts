/**
 * The streamed-body stager (services/api/lib/stream-stager.ts) over a real socket:
 * a node:http server hands each request body to receiveBody with a real staged-file writer
 * (the native one and Node's fs fallback, each), and a real client sends bodies that are
 * exact, too long, too short (chunked, ending early) or aborted. Every refusal carries its
 * PH5_ERR_* code and, once the writer is discarded, leaves no file; a body written in many
 * small batches with one in flight (back-pressure) arrives byte for byte; what a stalled
 * client has sent reaches the file without waiting for a full batch.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { createStagedFileWriter, receiveBody, type ReceiveOptions } from '../../services/api/lib/stream-stager.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-stream-stager-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Outcome {
  file: string;
  error?: { code?: string; message: string };
}

/** A server staging each body under a new name with the given writer; outcomes by URL. */
function stagingServer(native: boolean, opts: ReceiveOptions) {
  let n = 0;
  const outcomes = new Map<string, Promise<Outcome>>();
  const server = http.createServer((req, res) => {
    const file = path.join(dir, `${native ? 'native' : 'fs'}-${++n}.partial`);
    const expected = Number(req.headers['x-expected']);
    const outcome = (async (): Promise<Outcome> => {
      const writer = await createStagedFileWriter(file, native);
      try {
        await receiveBody(req, expected, writer, opts);
        await writer.finish();
        return { file };
      } catch (err) {
        await writer.discard();
        const e = err as NodeJS.ErrnoException;
        return { file, error: { ...(e.code ? { code: e.code } : {}), message: e.message } };
      }
    })();
    outcomes.set(req.url!, outcome);
    void outcome.then((o) => {
      res.writeHead(o.error ? 400 : 200, o.error ? { connection: 'close' } : {});
      res.end(o.error?.code ?? 'ok');
    });
  });
  return { server, outcomes };
}

function body(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >> 9)) & 0xff;
  return b;
}

for (const native of [true, false]) {
  describe(`receiveBody into the ${native ? 'native' : 'Node fs'} writer, over a socket`, () => {
    const { server, outcomes } = stagingServer(native, { batchBytes: 256 * 1024, maxInFlight: 1, idleFlushMs: 50 });
    let base = '';
    before(async () => {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    /** Sends `data` in pieces (chunked when `length` is undefined); `abortAfter` destroys the request. */
    const send = (url: string, expected: number, data: Buffer, o: { length?: number; abortAfter?: number } = {}) =>
      new Promise<number>((resolve) => {
        const headers: Record<string, string> = { 'x-expected': String(expected) };
        if (o.length !== undefined) headers['content-length'] = String(o.length);
        const req = http.request(`${base}${url}`, { method: 'PUT', headers });
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', () => resolve(0));
        const piece = 100_000;
        void (async () => {
          for (let at = 0; at < data.length; at += piece) {
            if (o.abortAfter !== undefined && at >= o.abortAfter) {
              await sleep(100);
              req.destroy();
              return;
            }
            if (!req.write(data.subarray(at, at + piece))) await new Promise((r) => req.once('drain', r));
          }
          req.end();
        })();
      });

    test('an exact body, in many batches with one in flight, arrives byte for byte', async () => {
      const data = body(5_000_000 + 17);
      assert.equal(await send('/exact', data.length, data, { length: data.length }), 200);
      const o = await outcomes.get('/exact')!;
      assert.equal(o.error, undefined);
      assert.deepEqual(readFileSync(o.file), data);
    });

    test('a body longer than expected is refused as soon as it is, and leaves no file', async () => {
      const data = body(3_000_000);
      await send('/long', 1_000_000, data, { length: data.length });
      const o = await outcomes.get('/long')!;
      assert.equal(o.error?.code, 'PH5_ERR_BODY_LENGTH');
      assert.match(o.error.message, /longer than the selection needs \(1000000 bytes\)/);
      assert.equal(existsSync(o.file), false);
    });

    test('a body that ends short (chunked) is refused at its end, and leaves no file', async () => {
      const data = body(700_000);
      await send('/short', 1_000_000, data);
      const o = await outcomes.get('/short')!;
      assert.equal(o.error?.code, 'PH5_ERR_BODY_LENGTH');
      assert.match(o.error.message, /has 700000 bytes; the selection needs 1000000/);
      assert.equal(existsSync(o.file), false);
    });

    test('an aborted upload is refused with PH5_ERR_BODY_ABORTED, and leaves no file', async () => {
      const data = body(2_000_000);
      await send('/aborted', data.length, data, { length: data.length, abortAfter: 900_000 });
      const o = await outcomes.get('/aborted')!;
      assert.equal(o.error?.code, 'PH5_ERR_BODY_ABORTED');
      assert.equal(existsSync(o.file), false);
    });

    test('what a stalled client has sent reaches the file without waiting for a full batch', async () => {
      const total = 1_000_000;
      const first = 100_000; // less than a batch (256 KiB)
      const data = body(total);
      const req = http.request(`${base}/stalled`, { method: 'PUT', headers: { 'x-expected': String(total), 'content-length': String(total) } });
      const answered = new Promise<number>((r) => req.on('response', (res) => (res.resume(), r(res.statusCode ?? 0))));
      req.write(data.subarray(0, first));
      let size = 0;
      for (let i = 0; i < 100 && size < first; i++) {
        await sleep(20);
        const o = outcomes.get('/stalled');
        if (!o) continue;
        const f = path.join(dir, `${native ? 'native' : 'fs'}-${outcomes.size}.partial`);
        size = existsSync(f) ? statSync(f).size : 0;
      }
      assert.equal(size, first, 'the stalled upload’s bytes are on disk');
      req.end(data.subarray(first));
      assert.equal(await answered, 200);
      assert.deepEqual(readFileSync((await outcomes.get('/stalled')!).file), data);
    });
  });
}
