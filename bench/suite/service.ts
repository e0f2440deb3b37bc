/**
 * Talking to a running ph5 stack the way a user's program would: plain HTTP (node:http for
 * bodies too big for fetch's comfort), jobs waited for by long-polling their URL.
 */
import http from 'node:http';

export interface Accepted {
  /** The job's URL path (from Location). */
  location: string;
}

/** Sends one request with a body (bytes or JSON) and expects 202 + Location. */
export function submit(base: string, method: string, url: string, body: unknown): Promise<Accepted> {
  const bytes = Buffer.isBuffer(body);
  const payload = bytes ? body : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${url}`, {
      method,
      headers: { 'content-type': bytes ? 'application/octet-stream' : 'application/json', 'content-length': String(payload.length) },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const location = res.headers.location;
        if (res.statusCode !== 202 || !location) reject(new Error(`${method} ${url}: ${res.statusCode} ${text.slice(0, 500)}`));
        else resolve({ location });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export interface FinishedJob {
  state: 'completed' | 'failed';
  result?: { timings?: { queuedMs: number; openMs: number; applyMs: number; closeMs: number; totalMs: number } };
  error?: unknown;
}

/** Long-polls a job until it ends; a failed job is an error (a benchmark of failures measures nothing). */
export async function waitJob(base: string, location: string, timeoutMs = 30 * 60_000): Promise<FinishedJob> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${base}${location}?wait=60`);
    const job = (await res.json()) as FinishedJob & { state: string };
    if (res.status !== 200) throw new Error(`GET ${location}: ${res.status} ${JSON.stringify(job)}`);
    if (job.state === 'failed') throw new Error(`job ${location} failed: ${JSON.stringify(job.error)}`);
    if (job.state === 'completed') return job;
    if (Date.now() > deadline) throw new Error(`job ${location} still ${job.state}`);
  }
}

export async function run(base: string, method: string, url: string, body?: unknown): Promise<FinishedJob> {
  if (body === undefined) {
    const res = await fetch(`${base}${url}`, { method });
    const location = res.headers.get('location');
    if (res.status !== 202 || !location) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    return waitJob(base, location);
  }
  return waitJob(base, (await submit(base, method, url, body)).location);
}

/**
 * GET of raw bytes, consumed as it streams in (no copy kept); returns the byte count and
 * the first and last 8 bytes, for checking what came back.
 */
export function getBytes(base: string, url: string): Promise<{ bytes: number; head: Buffer; tail: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${url}`, { headers: { accept: 'application/octet-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`GET ${url}: ${res.statusCode}`));
      }
      let bytes = 0;
      let head = Buffer.alloc(0);
      let tail = Buffer.alloc(0);
      res.on('data', (chunk: Buffer) => {
        if (head.length < 8) head = Buffer.concat([head, chunk.subarray(0, 8 - head.length)]);
        tail = Buffer.concat([tail, chunk.subarray(Math.max(0, chunk.length - 8))]).subarray(-8);
        bytes += chunk.length;
      });
      res.on('end', () => resolve({ bytes, head, tail }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}
