/**
 * The `ph5` commands. Every request goes through the typed client (services/client), so
 * the CLI is held to the published contract like any other client.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createPh5Client, type Job, type Ph5Client, type Problem } from '../client/index.js';
import { parseDtype } from '../shared/dtype.js';
import { parseNpyHeader, type NpyHeader } from '../shared/npy.js';
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
  dtype: string | undefined;
  shape: string | undefined;
  output: string | undefined;
  state: string | undefined;
  file: string | undefined;
  limit: string | undefined;
  wait: boolean;
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
      throw new CliError(`cannot reach ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message} (is the server running? --url / PH5_URL)`, EXIT.server);
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

  // Create the dataset when it does not exist, from the .npy header or --dtype/--shape.
  const info = await client.GET('/v1/files/{file}/datasets/{path}', { params: { path: { file: target.file, path: encodePath(h5path) } } });
  if (info.response.status === 404) {
    const dtype = npy ? npy.dtype : o.dtype ? parseDtype(o.dtype) : null;
    const shape = npy ? npy.shape : o.shape ? o.shape.split(',').map((s) => Number(s.trim())) : null;
    if (!dtype || !shape || shape.some((n) => !Number.isSafeInteger(n) || n <= 0)) {
      throw new UsageError(`${target.file}:${h5path} does not exist: give a .npy file, or --dtype and --shape to create it`);
    }
    const dtypeName = o.dtype ?? (npy ? (await import('../shared/npy.js')).npyDescr(npy.dtype) : undefined)!;
    const created = await client.POST('/v1/files/{file}/datasets', { params: { path: { file: target.file } }, body: { path: h5path, dtype: dtypeName, shape } });
    if (!created.data) fail(`creating ${target.file}:${h5path}`, created.response, created.error);
    if (o.progress) process.stderr.write(`created ${target.file}:${h5path} (${dtypeName}, [${shape.join(', ')}])\n`);
  } else if (!info.data) {
    fail(`${target.file}:${h5path}`, info.response, info.error);
  }

  // Stream the body, counting bytes for the progress bar.
  const bar = new Progress(`upload ${target.file}:${h5path}`, size ?? 0, { enabled: o.progress && size !== undefined });
  let sent = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      bar.update(sent);
      done(null, chunk);
    },
  });
  const input = stdin ? process.stdin : createReadStream(source);
  input.on('error', (err: Error) => counter.destroy(err));
  const body = Readable.toWeb(input.pipe(counter)) as unknown as ReadableStream;
  const query = { ...(o.select ? { select: o.select } : {}), ...(!npy && o.dtype ? { dtype: o.dtype } : {}) };
  // A streamed request body needs fetch's duplex: 'half' (openapi-fetch passes it through).
  const res = await client.PUT(
    '/v1/files/{file}/datasets/{path}/value',
    Object.assign(
      {
        params: { path: { file: target.file, path: encodePath(h5path) }, query },
        body: body as never,
        bodySerializer: (b: unknown) => b as never,
        headers: { 'content-type': npy ? 'application/x-npy' : 'application/octet-stream', ...(size !== undefined ? { 'content-length': String(size) } : {}) },
      },
      { duplex: 'half' as const },
    ),
  );
  if (!res.data) fail(`writing ${target.file}:${h5path}`, res.response, res.error);
  bar.done(`${formatBytes(sent)} sent`);
  const job = res.data.job as Job;
  if (!o.wait) return report(job, o);
  return report(await follow(client, job.id, o), o);
}

/** Waits for a job, showing its progress; the finished job. */
async function follow(client: Ph5Client, id: string, o: CommandOptions): Promise<Job> {
  const bar = new Progress(`job ${id.slice(0, 8)}`, 100, { enabled: o.progress, percent: true });
  for (;;) {
    const r = await client.GET('/v1/jobs/{id}', { params: { path: { id }, query: { wait: 2 } } });
    if (!r.data) fail(`job ${id}`, r.response, r.error);
    const job = r.data as Job;
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
  const params = { path: { file: target.file, path: encodePath(target.path!) }, query: o.select ? { select: o.select } : {} };
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
  if (!r.response.ok || !r.data) fail(`reading ${args[0]}`, r.response, r.error);
  const total = Number(r.response.headers.get('content-length') ?? 0);
  const bar = new Progress(`download ${args[0]}`, total, { enabled: o.progress && total > 0 });
  let got = 0;
  await pipeline(
    Readable.fromWeb(r.data as never),
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
  if (o.json) process.stdout.write(`${JSON.stringify({ output: o.output, bytes: got, dtype: r.response.headers.get('x-ph5-dtype'), shape: r.response.headers.get('x-ph5-shape') })}\n`);
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
    else if (n.kind === 'dataset') lines.push(`${n.path.padEnd(40)} Dataset ${extent(n.shape, n.maxshape)} ${n.dtype}`);
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
    process.stdout.write(`${j.id}  ${j.state.padEnd(9)} ${new Date(j.timings.acceptedAt).toISOString()}  ${j.file}  ${ops}${j.error ? `  (${j.error.code})` : ''}\n`);
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
      else process.stdout.write(`${new Date().toISOString()}  ${job.state}${job.state === 'running' ? ` ${job.progress}%` : ''}${job.error ? `  ${job.error.code}: ${job.error.message}` : ''}\n`);
    }
  }
  if (!last) throw new CliError(`job ${id}: the event stream ended without an event`, EXIT.server);
  return last.state === 'failed' ? EXIT.jobFailed : EXIT.ok;
}
