/**
 * The read scenario's client: one HTTP/1.1 GET over a plain socket whose body is read
 * straight into one array of the body's size (socket reads land in it, no copy), as a
 * numpy client reading into a preallocated array would, and as h5py's read lands in its
 * own array: both sides end with the slice in their own memory.
 *
 * Why not node:http: its client reads the socket 64 KiB at a time and runs every read
 * through the HTTP parser and a stream 'data' event; for a 256 MiB body that is ~4,000
 * trips through JS and costs the client more than the server's whole answer (measured:
 * a bare node:http server sending 256 MiB from memory was received in ~1.8–2.5× the time
 * by node:http as by this client). The scenario measures the service, so the client
 * should not be the bottleneck.
 */
import net from 'node:net';

export interface ReadAnswer {
  status: number;
  headers: Record<string, string>;
  /** The body (exactly Content-Length bytes). */
  body: Buffer;
  /** ms from the request until the answer's headers were in (the server's lease, open and first piece). */
  headersMs: number;
}

/** The largest socket read (the kernel hands over at most what it has). */
const READ_BYTES = 4 * 1024 * 1024;

/** GET `url` with `accept`; the answer must carry a Content-Length (every binary read does). */
export function readInto(url: string, accept = 'application/octet-stream'): Promise<ReadAnswer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    let status = 0;
    let headers: Record<string, string> = {};
    let body: Buffer | null = null;
    let received = 0;
    const t0 = performance.now();
    let headersMs = 0;
    const scratch = Buffer.allocUnsafe(64 * 1024);
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      socket.destroy();
      if (err) reject(err);
      else resolve({ status, headers, body: body!, headersMs });
    };
    const socket = net.connect({
      host: u.hostname,
      port: Number(u.port),
      onread: {
        // Until the headers are in: a scratch buffer; then straight into the body's array.
        buffer: () => (body ? body.subarray(received, Math.min(body.length, received + READ_BYTES)) : scratch),
        callback: (n: number, buf: Uint8Array) => {
          if (body && buf.buffer === body.buffer) {
            received += n;
          } else {
            head = Buffer.concat([head, Buffer.from(buf.buffer, buf.byteOffset, n)]);
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) return true;
            headersMs = performance.now() - t0;
            const lines = head.subarray(0, end).toString('latin1').split('\r\n');
            status = Number(lines[0]!.split(' ')[1]);
            headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
            const length = Number(headers['content-length']);
            if (!Number.isSafeInteger(length)) {
              finish(new Error(`GET ${url}: ${status}, no Content-Length`));
              return false;
            }
            body = Buffer.allocUnsafeSlow(length);
            received = head.copy(body, 0, end + 4);
          }
          if (received >= body.length) finish(null);
          return true;
        },
      },
    });
    socket.on('error', finish);
    socket.on('end', () => finish(new Error(`GET ${url}: connection closed after ${received} of ${body?.length ?? '?'} body bytes`)));
    socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nAccept: ${accept}\r\nConnection: close\r\n\r\n`);
  });
}
