/**
 * The `ph5` commands. Every request goes through the typed client (services/client), so
 * the CLI is held to the published contract like any other client.
 */
import { createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  PART_DEFAULTS,
  createPh5Client,
  describeRows,
  parseSize,
  sendStream,
  waitForJob,
  waitForParts,
  writeInParts,
  type Job,
  type PartsResult,
  type Ph5Client,
  type Problem,
} from '../client/index.js';
import { fileRange } from '../client/parts.js';
import { parseDtype } from '../shared/dtype.js';
import { npyDescr, parseNpyHeader, type NpyHeader } from '../shared/npy.js';
import { Progress, formatBytes } from './progress.js';

export const EXIT = { ok: 0, jobFailed: 1, usage: 2, refused: 3, server: 4 } as const;

export class UsageError extends Error {}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export interface CommandOptions {
  url: string;
  token: string | undefined;
  json: boolean;
  progress: boolean;
  select: string | undefined;
  /** A point selection (JSON list of coordinates), for get and put. */
  points?: string | undefined;
  dtype: string | undefined;
  shape: string | undefined;
  output: string | undefined;
  state: string | undefined;
  file: string | undefined;
  limit: string | undefined;
  wait: boolean;
  /** Large puts in row-block parts (--no-parts: one request). */
  parts: boolean;
  partSize: string | undefined;
  partsAbove: string | undefined;
  connections: string | undefined;
}

/** `FILE:/path` → file and HDF5 path; `FILE` alone → path null. */
export function parseTarget(text: string | undefined, needPath: boolean): { file: string; path: string | null } {
  if (!text) throw new UsageError('missing FILE:/path');
  const i = text.indexOf(':');
  const file = i < 0 ? text : text.slice(0, i);
  const path = i < 0 ? null : text.slice(i + 1) || '/';
  if (!file) throw new UsageError(`'${text}': no file name before ':'`);
  if (needPath && (path === null || path === '/')) throw new UsageError(`'${text}': name the dataset, as FILE:/path/to/dataset`);
  return { file, path };
}

/** Turns an unsuccessful answer into the right error (4xx: refused, with its problem). */
function fail(what: string, response: Response, error: unknown): never {
  const p = error as Partial<Problem> | undefined;
  const detail = p && typeof p === 'object' && p.code ? `${p.code}: ${p.detail}` : `${response.status} ${response.statusText}`;
  throw new CliError(`${what}: ${detail}`, response.status >= 400 && response.status < 500 ? EXIT.refused : EXIT.server);
}

/** Network failures (server down, DNS) as exit 4 with a clear message. */
function reachable(url: string): typeof fetch {
  return async (input, init) => {
    try {
      return await fetch(input, init);
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(
        `cannot reach ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message} (is the server running? --url / PH5_URL)`,
        EXIT.server,
      );
    }
  };
}

export async function runCommand(command: string, args: string[], o: CommandOptions): Promise<number> {
  if (command === 'up') {
    await import('./up.js'); // runs the stack until Ctrl-C; exits the process itself
    return new Promise<number>(() => {});
  }
  if (command === 'worker') {
    const { runWorker } = await import('./worker.js');
    return runWorker();
  }
  const client = createPh5Client({ baseUrl: o.url, token: o.token, fetch: reachable(o.url) });
  switch (command) {
    case 'put':
      return put(client, args, o);
    case 'get':
      return get(client, args, o);
    case 'ls':
      return ls(client, args, o);
    case 'jobs':
      return jobs(client, o);
    case 'wait':
      return waitCommand(client, args, o);
    case 'watch':
      return watch(client, args, o);
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

const encodePath = (p: string) => p.replace(/^\/+/, '');

/** The header of a .npy file (read from its first bytes), or null when it is not one. */
async function npyHeaderOf(file: string): Promise<NpyHeader | null> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    if (bytesRead < 6 || buf.subarray(0, 6).toString('latin1') !== '\x93NUMPY') return null;
    return parseNpyHeader(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

async function put(client: Ph5Client, args: string[], o: CommandOptions): Promise<number> {
  const target = parseTarget(args[0], true);
  const source = args[1];
  if (!source) throw new UsageError('put needs a SOURCE: a .npy file, a raw file, or - for stdin');
  const h5path = target.path!;
  const stdin = source === '-';
  const npy = stdin ? null : await npyHeaderOf(source);
  const size = stdin ? undefined : (await stat(source)).size;
  const parting = partSettings(o);

  // Create the dataset when it does not exist, from the .npy header or --dtype/--shape.
  let dataset: { dtype: string; shape: number[] } | null = null;
  const info = await client.GET('/v1/files/{file}/datasets/{path}', { params: { path: { file: target.file, path: encodePath(h5path) } } });
  if (info.response.status === 404) {
    if (o.points !== undefined) throw new UsageError(`${target.file}:${h5path} does not exist: --points writes into an existing dataset`);
    const dtype = npy ? npy.dtype : o.dtype ? parseDtype(o.dtype) : null;
    const shape = npy ? npy.shape : o.shape ? o.shape.split(',').map((s) => Number(s.trim())) : null;
    // A 0 in the shape (an empty .npy) makes an empty dataset.
    if (!dtype || !shape || shape.some((n) => !Number.isSafeInteger(n) || n < 0)) {
      throw new UsageError(`${target.file}:${h5path} does not exist: give a .npy file, or --dtype and --shape to create it`);
    }
    const dtypeName = o.dtype ?? (npy ? npyDescr(npy.dtype) : undefined)!;
    const created = await client.POST('/v1/files/{file}/datasets', {
      params: { path: { file: target.file } },
      body: { path: h5path, dtype: dtypeName, shape },
    });
    if (!created.data) fail(`creating ${target.file}:${h5path}`, created.response, created.error);
    if (o.progress) process.stderr.write(`created ${target.file}:${h5path} (${dtypeName}, [${shape.join(', ')}])\n`);
    dataset = { dtype: dtypeName, shape };
  } else if (!info.data) {
    fail(`${target.file}:${h5path}`, info.response, info.error);
  } else {
    // Enums and compounds come as objects: their canonical text is their JSON (shared/dtype.ts parseDtype).
    dataset = { dtype: typeof info.data.dtype === 'string' ? info.data.dtype : JSON.stringify(info.data.dtype), shape: info.data.shape };
  }

  const plan = partedPlan({ stdin, select: o.select ?? o.points, npy, size, dataset, payloadDtype: npy ? undefined : o.dtype, parting });
  if (plan) return putInParts(client, target.file, h5path, source, plan, parting, o);

  // One request: the file (or stdin) streamed to the socket.
  const bar = new Progress(`upload ${target.file}:${h5path}`, size ?? 0, { enabled: o.progress && size !== undefined });
  let sent = 0;
  const input = stdin ? process.stdin : fileRange(source, 0, size!);
  const url = valueUrl(o.url, target.file, h5path, {
    ...(o.select ? { select: o.select } : {}),
    ...(o.points !== undefined ? { points: o.points } : {}),
    ...(!npy && o.dtype ? { dtype: o.dtype } : {}),
  });
  const headers: Record<string, string> = {
    'content-type': npy ? 'application/x-npy' : 'application/octet-stream',
    ...(size !== undefined ? { 'content-length': String(size) } : {}),
    ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
  };
  const answer = await sendStream(url, {
    method: 'PUT',
    headers,
    body: input,
    onBytes: (n) => {
      sent += n;
      bar.update(sent);
    },
  }).catch((err: Error & { code?: string }) => {
    throw new CliError(`cannot reach ${o.url}: ${err.code ?? err.message} (is the server running? --url / PH5_URL)`, EXIT.server);
  });
  const parsed = parseJson(answer.body);
  if (answer.status !== 202) failAnswer(`writing ${target.file}:${h5path}`, answer.status, parsed);
  bar.done(`${formatBytes(sent)} sent`);
  const job = (parsed as { job: Job }).job;
  if (!o.wait) return report(job, o);
  return report(await follow(client, job.id, o), o);
}

interface PartSettings {
  enabled: boolean;
  partsAbove: number;
  partBytes: number;
  connections: number;
}

function partSettings(o: CommandOptions): PartSettings {
  const size = (flag: string, text: string | undefined, fallback: number): number => {
    if (text === undefined) return fallback;
    const n = parseSize(text);
    if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} '${text}': give a size such as 32M, 1G or 4096`);
    return n;
  };
  const connections = o.connections === undefined ? PART_DEFAULTS.connections : Number(o.connections);
  if (!Number.isInteger(connections) || connections < 1 || connections > 64)
    throw new UsageError(`--connections '${o.connections}': give a number from 1 to 64`);
  return {
    enabled: o.parts,
    partsAbove: size('--parts-above', o.partsAbove, PART_DEFAULTS.partsAbove),
    partBytes: size('--part-size', o.partSize, PART_DEFAULTS.partBytes),
    connections,
  };
}

interface PartedPlan {
  shape: number[];
  itemsize: number;
  /** Where the array's bytes start in the file (after a .npy header). */
  offset: number;
  /** ?dtype= of each part: the .npy's (byte order kept) or --dtype's. */
  dtype: string | undefined;
}

/**
 * Whether a put goes in parts: a file (not stdin) holding exactly the whole dataset
 * (no --select), larger than --parts-above, with at least two rows. Anything else goes as
 * one request, and the server checks it (and refuses it with its problem) as before.
 */
export function partedPlan(p: {
  stdin: boolean;
  select: string | undefined;
  npy: NpyHeader | null;
  size: number | undefined;
  dataset: { dtype: string; shape: number[] } | null;
  payloadDtype: string | undefined;
  parting: PartSettings;
}): PartedPlan | null {
  if (!p.parting.enabled || p.stdin || p.select || p.size === undefined || !p.dataset || p.size <= p.parting.partsAbove) return null;
  const shape = p.dataset.shape;
  if (shape.length === 0 || shape[0]! < 2) return null;
  const elements = shape.reduce((a, b) => a * b, 1);
  let payload;
  try {
    payload = p.npy ? p.npy.dtype : parseDtype(p.payloadDtype ?? p.dataset.dtype);
  } catch {
    return null;
  }
  const datasetDtype = parseDtype(p.dataset.dtype);
  if (payload.kind !== datasetDtype.kind || payload.size !== datasetDtype.size) return null;
  const offset = p.npy ? p.npy.dataOffset : 0;
  if (p.npy && (p.npy.fortranOrder || p.npy.shape.reduce((a, b) => a * b, 1) !== elements)) return null;
  if (p.size - offset !== elements * payload.size) return null;
  return { shape, itemsize: payload.size, offset, dtype: p.npy ? npyDescr(p.npy.dtype) : p.payloadDtype };
}

/** put in parts: one bar over the whole upload, then the parts' jobs; rows written and not on failure. */
async function putInParts(
  client: Ph5Client,
  file: string,
  h5path: string,
  source: string,
  plan: PartedPlan,
  parting: PartSettings,
  o: CommandOptions,
): Promise<number> {
  const total = plan.shape.reduce((a, b) => a * b, 1) * plan.itemsize;
  const bar = new Progress(`upload ${file}:${h5path}`, total, { enabled: o.progress });
  const started = performance.now();
  const upload = await writeInParts({
    baseUrl: o.url,
    token: o.token,
    file,
    path: h5path,
    shape: plan.shape,
    itemsize: plan.itemsize,
    source: { file: source, offset: plan.offset },
    dtype: plan.dtype,
    partBytes: parting.partBytes,
    connections: parting.connections,
    onProgress: (sent) => bar.update(sent),
  });
  const uploadMs = Math.round(performance.now() - started);
  const failedPart = upload.parts.find((p) => p.status === 'refused' || p.status === 'error');
  bar.done(
    upload.accepted
      ? `${formatBytes(total)} sent in ${upload.parts.length} parts`
      : `part ${failedPart?.index} (rows ${describeRows([failedPart!.rows])}) failed`,
  );
  const accepted = upload.parts.filter((p) => p.status === 'accepted');
  const jobList = accepted.map((p) => ({ id: p.job!.id, rows: p.rows, state: p.job!.state }));
  if (!o.wait && upload.accepted) {
    if (o.json) process.stdout.write(`${JSON.stringify({ uploadId: upload.uploadId, state: 'accepted', parts: upload.parts.length, jobs: jobList })}\n`);
    else process.stdout.write(`${jobList.length} jobs accepted (${upload.parts.length} parts): ${jobList.map((j) => j.id).join(' ')}\n`);
    return EXIT.ok;
  }
  const jobsBar = new Progress(`jobs of ${file}:${h5path}`, Math.max(1, accepted.length), { enabled: o.progress && o.wait });
  const result: PartsResult = o.wait
    ? await waitForParts(
        upload,
        (id) => waitForJob(client, id, 24 * 3600_000),
        (_job, done) => jobsBar.update(done),
      )
    : { completed: false, written: [], notWritten: upload.parts.filter((p) => p.status !== 'accepted').map((p) => p.rows), jobs: jobList };
  if (o.wait) jobsBar.done(result.completed ? 'completed' : 'failed');
  const summary = {
    uploadId: upload.uploadId,
    state: result.completed ? 'completed' : 'failed',
    parts: upload.parts.length,
    uploadMs,
    rowsWritten: describeRows(result.written),
    rowsNotWritten: describeRows(result.notWritten),
    jobs: result.jobs,
  };
  if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (result.completed) {
    if (!o.json) process.stdout.write(`${new Set(result.jobs.map((j) => j.id)).size} jobs completed (${upload.parts.length} parts of ${file}:${h5path})\n`);
    return EXIT.ok;
  }
  // Which rows are in the file, which are not, and why.
  const failedJob = result.jobs.find((j) => j.state === 'failed');
  const why = failedPart
    ? `part ${failedPart.index} (rows ${describeRows([failedPart.rows])}) was not accepted after ${failedPart.attempts} attempt(s): ${failedPart.code ? `${failedPart.code}: ` : ''}${failedPart.message}`
    : failedJob
      ? `job ${failedJob.id} (rows ${describeRows([failedJob.rows])}) failed: ${failedJob.error?.code}: ${failedJob.error?.message}`
      : 'not every part was accepted';
  process.stderr.write(
    `ph5: ${file}:${h5path} written in part: ${why}\n  rows written: ${describeRows(result.written)}\n  rows NOT written: ${describeRows(result.notWritten)}\n  (each part is atomic; run the same put again to write them all)\n`,
  );
  if (failedPart) return failedPart.httpStatus && failedPart.httpStatus >= 400 && failedPart.httpStatus < 500 ? EXIT.refused : EXIT.server;
  return EXIT.jobFailed;
}

function valueUrl(base: string, file: string, h5path: string, query: Record<string, string>): URL {
  const url = new URL(`${base.replace(/\/+$/, '')}/v1/files/${encodeURIComponent(file)}/datasets/${encodeURIComponent(encodePath(h5path))}/value`);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return url;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** An unsuccessful answer of a request made without openapi-fetch: as fail(). */
function failAnswer(what: string, status: number, body: unknown): never {
  const p = body as Partial<Problem> | undefined;
  const detail = p && typeof p === 'object' && p.code ? `${p.code}: ${p.detail}` : `HTTP ${status}`;
  throw new CliError(`${what}: ${detail}`, status >= 400 && status < 500 ? EXIT.refused : EXIT.server);
}

/** Waits for a job, showing its progress; the finished job. */
async function follow(client: Ph5Client, id: string, o: CommandOptions): Promise<Job> {
  const bar = new Progress(`job ${id.slice(0, 8)}`, 100, { enabled: o.progress, percent: true });
  for (;;) {
    const r = await client.GET('/v1/jobs/{id}', { params: { path: { id }, query: { wait: 2 } } });
    if (!r.data) fail(`job ${id}`, r.response, r.error);
    const job = r.data;
    bar.update(job.state === 'completed' ? 100 : job.progress);
    if (job.state === 'completed' || job.state === 'failed') {
      bar.done(job.state);
      return job;
    }
  }
}

function report(job: Job, o: CommandOptions): number {
  if (o.json) process.stdout.write(`${JSON.stringify(job)}\n`);
  else if (job.state === 'failed') process.stderr.write(`job ${job.id} failed: ${job.error?.code}: ${job.error?.message}\n`);
  else process.stdout.write(`job ${job.id} ${job.state}\n`);
  return job.state === 'failed' ? EXIT.jobFailed : EXIT.ok;
}

async function get(client: Ph5Client, args: string[], o: CommandOptions): Promise<number> {
  const target = parseTarget(args[0], true);
  const params = {
    path: { file: target.file, path: encodePath(target.path!) },
    query: { ...(o.select ? { select: o.select } : {}), ...(o.points !== undefined ? { points: o.points } : {}) },
  };
  if (!o.output) {
    const r = await client.GET('/v1/files/{file}/datasets/{path}/value', { params });
    if (!r.data) fail(`reading ${args[0]}`, r.response, r.error);
    process.stdout.write(`${JSON.stringify(o.json ? r.data : (r.data as { data: unknown }).data)}\n`);
    return EXIT.ok;
  }
  const npy = o.output.endsWith('.npy');
  const r = await client.GET('/v1/files/{file}/datasets/{path}/value', {
    params,
    headers: { accept: npy ? 'application/x-npy' : 'application/octet-stream' },
    parseAs: 'stream',
  });
  if (!r.response.ok) fail(`reading ${args[0]}`, r.response, r.error);
  const total = Number(r.response.headers.get('content-length') ?? 0);
  const bar = new Progress(`download ${args[0]}`, total, { enabled: o.progress && total > 0 });
  let got = 0;
  await pipeline(
    // An empty selection's raw answer has no body at all (Content-Length: 0).
    r.data ? Readable.fromWeb(r.data as never) : Readable.from([]),
    new Transform({
      transform(chunk: Buffer, _enc, done) {
        got += chunk.length;
        bar.update(got);
        done(null, chunk);
      },
    }),
    createWriteStream(o.output),
  );
  bar.done(`${formatBytes(got)} → ${o.output}`);
  if (o.json)
    process.stdout.write(
      `${JSON.stringify({ output: o.output, bytes: got, dtype: r.response.headers.get('x-ph5-dtype'), shape: r.response.headers.get('x-ph5-shape') })}\n`,
    );
  return EXIT.ok;
}

interface Node {
  path: string;
  kind: string;
  dtype?: string;
  shape?: number[];
  maxshape?: (number | null)[];
  target?: string;
  children?: Node[];
  /** A dataset ph5 cannot read (its type has no ph5 dtype). */
  error?: { code: string; detail: string };
}

async function ls(client: Ph5Client, args: string[], o: CommandOptions): Promise<number> {
  if (!args[0]) {
    const r = await client.GET('/v1/files');
    if (!r.data) fail('listing files', r.response, r.error);
    if (o.json) process.stdout.write(`${JSON.stringify(r.data.files)}\n`);
    else for (const f of r.data.files) process.stdout.write(`${f.name.padEnd(32)} ${formatBytes(f.size).padStart(10)}  ${f.modified}\n`);
    return EXIT.ok;
  }
  const target = parseTarget(args[0], false);
  const r = await client.GET('/v1/files/{file}', { params: { path: { file: target.file } } });
  if (!r.data) fail(`reading ${target.file}`, r.response, r.error);
  let root = r.data.tree as Node;
  if (target.path && target.path !== '/') {
    const find = (n: Node): Node | undefined => (n.path === target.path ? n : n.children?.map(find).find(Boolean));
    const found = find(root);
    if (!found) throw new CliError(`${target.file}: no object ${target.path}`, EXIT.refused);
    root = found;
  }
  if (o.json) {
    process.stdout.write(`${JSON.stringify(root)}\n`);
    return EXIT.ok;
  }
  const lines: string[] = [];
  const walk = (n: Node) => {
    const extent = (s?: number[], m?: (number | null)[]) => `{${(s ?? []).map((d, i) => `${d}/${m?.[i] === null ? 'Inf' : (m?.[i] ?? d)}`).join(', ')}}`;
    if (n.kind === 'group') lines.push(`${n.path.padEnd(40)} Group`);
    else if (n.kind === 'dataset' && n.error) lines.push(`${n.path.padEnd(40)} Dataset (not readable by ph5: ${n.error.detail})`);
    else if (n.kind === 'dataset')
      lines.push(`${n.path.padEnd(40)} Dataset ${extent(n.shape, n.maxshape)} ${typeof n.dtype === 'string' ? n.dtype : JSON.stringify(n.dtype)}`);
    else lines.push(`${n.path.padEnd(40)} ${n.kind === 'softlink' ? 'Soft Link' : n.kind} ${n.target ? `{${n.target}}` : ''}`);
    n.children?.forEach(walk);
  };
  walk(root);
  process.stdout.write(`${lines.join('\n')}\n`);
  if (r.data.truncated) process.stderr.write(`(truncated at ${r.data.objects} objects)\n`);
  return EXIT.ok;
}

async function jobs(client: Ph5Client, o: CommandOptions): Promise<number> {
  const limit = o.limit ? Number(o.limit) : 20;
  const query = { limit, ...(o.state ? { state: o.state as Job['state'] } : {}), ...(o.file ? { file: o.file } : {}) };
  const r = await client.GET('/v1/jobs', { params: { query } });
  if (!r.data) fail('listing jobs', r.response, r.error);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(r.data.jobs)}\n`);
    return EXIT.ok;
  }
  for (const j of r.data.jobs as Job[]) {
    const ops = j.ops.map((op) => `${op.op} ${op.path}${op.select ? op.select : ''}`).join(', ');
    process.stdout.write(
      `${j.id}  ${j.state.padEnd(9)} ${new Date(j.timings.acceptedAt).toISOString()}  ${j.file}  ${ops}${j.error ? `  (${j.error.code})` : ''}\n`,
    );
  }
  return EXIT.ok;
}

async function waitCommand(client: Ph5Client, args: string[], o: CommandOptions): Promise<number> {
  const id = args[0];
  if (!id) throw new UsageError('wait needs a JOB id');
  return report(await follow(client, id, o), o);
}

/** Follows the job's event stream, printing each change (JSON lines with --json). */
async function watch(client: Ph5Client, args: string[], o: CommandOptions): Promise<number> {
  const id = args[0];
  if (!id) throw new UsageError('watch needs a JOB id');
  const r = await client.GET('/v1/jobs/{id}/events', { params: { path: { id } }, parseAs: 'stream' });
  if (!r.response.ok || !r.data) fail(`job ${id}`, r.response, r.error);
  let last: Job | null = null;
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of r.data as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      if (!data) continue; // a keep-alive comment
      const job = JSON.parse(data.slice(6)) as Job;
      last = job;
      if (o.json) process.stdout.write(`${JSON.stringify(job)}\n`);
      else
        process.stdout.write(
          `${new Date().toISOString()}  ${job.state}${job.state === 'running' ? ` ${job.progress}%` : ''}${job.error ? `  ${job.error.code}: ${job.error.message}` : ''}\n`,
        );
    }
  }
  if (!last) throw new CliError(`job ${id}: the event stream ended without an event`, EXIT.server);
  return last.state === 'failed' ? EXIT.jobFailed : EXIT.ok;
}
