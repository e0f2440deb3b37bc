/**
 * Large writes as row-block parts, and fast streamed uploads (Node only).
 *
 * A big array costs, sent as one request, the upload and then the pool's write, one after
 * the other. Sent as parts — one `PUT …/value?select=[a:b, :…]` per block of rows, a few at
 * once over their own connections — each part is staged, queued and applied as soon as it
 * arrives, so the pool writes part k while part k+1 uploads. Each part is atomic (a reader
 * sees all of its rows or none); the whole is not (a reader may see some parts applied and
 * not others; a failed part leaves the parts already applied in place). Every part carries
 * an Idempotency-Key (`<upload id>-<part>`), so a part retried after a lost answer gets its
 * original job, not a second one.
 *
 * Bodies are streamed from the file straight to the socket with node:http (large reads, no
 * per-chunk Transform, no WHATWG stream bridge): fetch with a streamed body costs several
 * times the wire's speed in CPU.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { components } from './api-types.js';

type Job = components['schemas']['Job'];
type Problem = components['schemas']['Problem'];

/** Read size of the file streams: large, so the upload is a few hundred reads per GiB. */
export const READ_BUFFER_BYTES = 4 * 1024 * 1024;

/** Defaults chosen by measurement (bench/suite/put.ts; docs/api.md, Large writes in parts). */
export const PART_DEFAULTS = {
  /** Writes larger than this go in parts. */
  partsAbove: 64 * 1024 * 1024,
  /** Size of a part (rounded down to whole rows). */
  partBytes: 32 * 1024 * 1024,
  /** Parts in flight at once (connections). */
  connections: 3,
  /** Attempts per part on a network error, 5xx, 429 or a key still in progress. */
  attempts: 4,
};

/** One block of rows: `rows` is [first, end) of dimension 0; `offset` its first byte in the payload. */
export interface PartPlan {
  index: number;
  rows: [number, number];
  offset: number;
  bytes: number;
}

/**
 * Splits `rows` rows of `rowBytes` bytes into parts of whole rows of at most `partBytes`
 * (at least one row each); the last part may be shorter.
 */
export function planParts(rows: number, rowBytes: number, partBytes: number): PartPlan[] {
  if (!Number.isSafeInteger(rows) || rows < 0 || !(rowBytes > 0)) throw new Error(`cannot split ${rows} rows of ${rowBytes} bytes`);
  const perPart = Math.max(1, Math.floor(partBytes / rowBytes));
  const parts: PartPlan[] = [];
  for (let first = 0, index = 0; first < rows; first += perPart, index++) {
    const end = Math.min(rows, first + perPart);
    parts.push({ index, rows: [first, end], offset: first * rowBytes, bytes: (end - first) * rowBytes });
  }
  return parts;
}

/** The HSDS selection of rows [a, b) of a dataset of `ndim` dimensions: `[a:b]`, `[a:b,:,:]`. */
export function selectRows(rows: [number, number], ndim: number): string {
  return `[${[`${rows[0]}:${rows[1]}`, ...Array<string>(Math.max(0, ndim - 1)).fill(':')].join(',')}]`;
}

/** Row ranges as text, adjacent ones merged: `0:100, 200:250` (or `none`). */
export function describeRows(ranges: [number, number][]): string {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged.length ? merged.map(([a, b]) => `${a}:${b}`).join(', ') : 'none';
}

/** `64M`, `64MiB`, `1G`, `512k`, `4096` → bytes (binary units); NaN when it is not a size. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) return NaN;
  const power = ['', 'k', 'm', 'g', 't'].indexOf(m[2]!.toLowerCase());
  const n = Number(m[1]) * 1024 ** power;
  return Number.isSafeInteger(n) ? n : Math.floor(n);
}

/** Whether a failed attempt may be retried with the same key. */
export function retryable(status: number | null, code?: string): boolean {
  if (status === null) return true; // no answer: network error, connection cut
  if (status === 429 || status >= 500) return true;
  return status === 409 && code === 'PH5_ERR_IDEMPOTENCY_IN_PROGRESS';
}

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A request with a streamed body over node:http; resolves with the whole (small) answer. */
export function sendStream(
  url: URL,
  opts: {
    method: string;
    headers: Record<string, string>;
    body: Readable | Buffer | null;
    agent?: http.Agent;
    onBytes?: (n: number) => void;
    signal?: AbortSignal;
  },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : http;
    let settled = false;
    let answered = false;
    const body = opts.body;
    const finish = (err: Error | null, answer?: HttpAnswer) => {
      if (settled) return;
      settled = true;
      // A body the server did not read to the end (a refusal, a replayed part) is closed,
      // and so is its connection (it is in the middle of a request).
      if (body && !Buffer.isBuffer(body) && !body.readableEnded) {
        body.destroy();
        req.destroy();
      }
      if (err) reject(err);
      else resolve(answer!);
    };
    const req = lib.request(
      url,
      { method: opts.method, headers: opts.headers, ...(opts.agent ? { agent: opts.agent } : {}), ...(opts.signal ? { signal: opts.signal } : {}) },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (err) => finish(err));
        res.on('close', () => {
          if (!res.complete) finish(new Error('the connection closed before the answer ended'));
        });
        // The server may answer before it has read the body (a refusal, a replayed part):
        // stop sending; the write side's errors after this are expected.
        if (body && !Buffer.isBuffer(body)) body.unpipe(req);
      },
    );
    // Once an answer is coming, a write error (EPIPE, ECONNRESET from a server that closed
    // after answering early) is not the outcome: the answer is.
    req.on('error', (err) => {
      if (!answered) finish(err);
    });
    if (body === null) req.end();
    else if (Buffer.isBuffer(body)) {
      req.end(body, () => opts.onBytes?.(body.length));
    } else {
      if (opts.onBytes) body.on('data', (c: Buffer) => opts.onBytes!(c.length));
      body.on('error', (err) => {
        finish(err);
        req.destroy(err);
      });
      body.pipe(req);
    }
  });
}

/** A file's bytes [start, start+length) as a stream with large reads. */
export function fileRange(file: string, start: number, length: number): Readable {
  return createReadStream(file, { start, end: start + length - 1, highWaterMark: READ_BUFFER_BYTES });
}

function problemOf(answer: HttpAnswer): Partial<Problem> | undefined {
  try {
    return JSON.parse(answer.body.toString('utf8')) as Partial<Problem>;
  } catch {
    return undefined;
  }
}

export interface PartedWriteOptions {
  /** e.g. http://127.0.0.1:8080 */
  baseUrl: string;
  token?: string | undefined;
  file: string;
  /** HDF5 path of the dataset (it must exist, or its creation be accepted). */
  path: string;
  /** The dataset's shape: dimension 0 is split into row blocks. */
  shape: number[];
  /** Bytes per element of the payload. */
  itemsize: number;
  /** The payload: a file (bytes from `offset`, C order, shape × itemsize), or a buffer. */
  source: { file: string; offset?: number } | { buffer: Buffer };
  /** The payload's dtype when it differs from the dataset's in byte order (e.g. a .npy's `>f8`). */
  dtype?: string | undefined;
  partBytes?: number;
  connections?: number;
  attempts?: number;
  /** A fresh id per upload by default; part k's Idempotency-Key is `<uploadId>-<k>`. */
  uploadId?: string;
  /** Bytes sent so far over all parts (retried bytes are taken back), and the total. */
  onProgress?: (sent: number, total: number) => void;
  /** Each part as it is accepted (its job) or given up (its error). */
  onPart?: (part: PartOutcome) => void;
}

export interface PartOutcome {
  index: number;
  rows: [number, number];
  bytes: number;
  /** `accepted`: the part's job was queued; `refused`/`error`: it was not (nothing of it is staged); `skipped`: never sent, after another part failed. */
  status: 'accepted' | 'refused' | 'error' | 'skipped';
  job?: Job;
  attempts: number;
  /** HTTP status of the last attempt (null: no answer). */
  httpStatus?: number | null;
  code?: string;
  message?: string;
}

export interface PartedUpload {
  uploadId: string;
  file: string;
  path: string;
  bytes: number;
  parts: PartOutcome[];
  /** True when every part was accepted. */
  accepted: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends the payload as row-block parts, `connections` at a time, each retried (same
 * Idempotency-Key) on a network error, a 5xx, a 429 or a key still in progress. After a
 * part fails for good no new part starts; those in flight finish. Resolves once every part
 * is accepted or given up: it does not wait for the jobs (waitForParts does).
 */
export async function writeInParts(opts: PartedWriteOptions): Promise<PartedUpload> {
  const ndim = opts.shape.length;
  if (ndim === 0) throw new Error('a scalar dataset cannot be written in parts');
  const rowBytes = opts.shape.slice(1).reduce((a, b) => a * b, 1) * opts.itemsize;
  const plan = planParts(opts.shape[0]!, rowBytes, opts.partBytes ?? PART_DEFAULTS.partBytes);
  const total = plan.reduce((a, p) => a + p.bytes, 0);
  const uploadId = opts.uploadId ?? randomUUID();
  const connections = Math.max(1, opts.connections ?? PART_DEFAULTS.connections);
  const attempts = Math.max(1, opts.attempts ?? PART_DEFAULTS.attempts);
  const base = opts.baseUrl.replace(/\/+$/, '');
  const lib = base.startsWith('https:') ? https : http;
  const agent = new lib.Agent({ keepAlive: true, maxSockets: connections });
  const outcomes: PartOutcome[] = plan.map((p) => ({ index: p.index, rows: p.rows, bytes: p.bytes, status: 'skipped', attempts: 0 }));
  let sent = 0;
  let stop = false;
  let next = 0;

  const sendPart = async (p: PartPlan): Promise<void> => {
    const out = outcomes[p.index]!;
    const url = new URL(`${base}/v1/files/${encodeURIComponent(opts.file)}/datasets/${encodeURIComponent(opts.path.replace(/^\/+/, ''))}/value`);
    url.searchParams.set('select', selectRows(p.rows, ndim));
    if (opts.dtype) url.searchParams.set('dtype', opts.dtype);
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      'content-length': String(p.bytes),
      'idempotency-key': `${uploadId}-${p.index}`,
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
    };
    for (;;) {
      out.attempts++;
      let counted = 0;
      const body =
        'buffer' in opts.source
          ? opts.source.buffer.subarray(p.offset, p.offset + p.bytes)
          : fileRange(opts.source.file, (opts.source.offset ?? 0) + p.offset, p.bytes);
      let answer: HttpAnswer | null = null;
      let netError: Error | null = null;
      try {
        answer = await sendStream(url, {
          method: 'PUT',
          headers,
          body,
          agent,
          onBytes: (n) => {
            counted += n;
            sent += n;
            opts.onProgress?.(sent, total);
          },
        });
      } catch (err) {
        netError = err as Error;
      }
      if (answer && answer.status === 202) {
        const job = (JSON.parse(answer.body.toString('utf8')) as { job: Job }).job;
        // A replayed part answered before reading its body: count it as sent.
        sent += p.bytes - counted;
        opts.onProgress?.(sent, total);
        Object.assign(out, { status: 'accepted', job, httpStatus: 202 });
        delete out.code;
        delete out.message;
        opts.onPart?.(out);
        return;
      }
      sent -= counted;
      opts.onProgress?.(sent, total);
      const problem = answer ? problemOf(answer) : undefined;
      out.httpStatus = answer ? answer.status : null;
      out.code = problem?.code ?? (netError as { code?: string } | null)?.code;
      out.message = problem?.detail ?? netError?.message ?? `HTTP ${answer?.status}`;
      if (!retryable(out.httpStatus, problem?.code) || out.attempts >= attempts || stop) {
        out.status = answer ? 'refused' : 'error';
        opts.onPart?.(out);
        stop = true;
        return;
      }
      const after = Number(answer?.headers['retry-after']);
      await sleep(Number.isFinite(after) && after > 0 ? Math.min(after, 30) * 1000 : 250 * 2 ** (out.attempts - 1));
    }
  };

  const lane = async () => {
    while (!stop && next < plan.length) await sendPart(plan[next++]!);
  };
  try {
    await Promise.all(Array.from({ length: Math.min(connections, plan.length) }, lane));
  } finally {
    agent.destroy();
  }
  return { uploadId, file: opts.file, path: opts.path, bytes: total, parts: outcomes, accepted: outcomes.every((o) => o.status === 'accepted') };
}

export interface PartsResult {
  /** Every part accepted and every job completed. */
  completed: boolean;
  /** Rows whose part's job completed: in the file. */
  written: [number, number][];
  /** Rows not written: parts refused, given up, skipped, or whose job failed. */
  notWritten: [number, number][];
  jobs: { id: string; rows: [number, number]; state: Job['state']; error?: Job['error'] }[];
}

/**
 * Waits for the jobs of an upload's accepted parts (`wait(id)` long-polls one job until it
 * ends, e.g. waitForJob) and says which rows are in the file and which are not.
 */
export async function waitForParts(
  upload: PartedUpload,
  wait: (id: string) => Promise<Job>,
  onJob?: (job: Job, done: number, total: number) => void,
  parallel = 8,
): Promise<PartsResult> {
  const accepted = upload.parts.filter((p) => p.status === 'accepted');
  const jobs: PartsResult['jobs'] = [];
  let next = 0;
  let done = 0;
  const lane = async () => {
    while (next < accepted.length) {
      const part = accepted[next++]!;
      const job = await wait(part.job!.id);
      jobs.push({ id: job.id, rows: part.rows, state: job.state, ...(job.error ? { error: job.error } : {}) });
      onJob?.(job, ++done, accepted.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, accepted.length) }, lane));
  jobs.sort((a, b) => a.rows[0] - b.rows[0]);
  const written = jobs.filter((j) => j.state === 'completed').map((j) => j.rows);
  const notWritten = [
    ...upload.parts.filter((p) => p.status !== 'accepted').map((p) => p.rows),
    ...jobs.filter((j) => j.state !== 'completed').map((j) => j.rows),
  ];
  return { completed: upload.accepted && notWritten.length === 0, written, notWritten, jobs };
}
