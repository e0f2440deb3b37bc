/**
 * The contract check: every response an API test receives is checked against the
 * committed OpenAPI document (openapi/openapi.json), the way a generated client would
 * see it. A response must have
 * - a status the operation declares (or one of the refusals the document's description
 *   promises for any request: 400 PH5_ERR_HTTP/PH5_ERR_URL, 404 PH5_ERR_ROUTE, 405
 *   PH5_ERR_METHOD, 408, 414, 431, all problems);
 * - a Content-Type declared for that status (media type, parameters aside);
 * - a body valid against the declared schema (JSON media types; a problem's `code`
 *   among the codes its response's description lists);
 * - every header the response declares `required`, each valid against its schema.
 *
 * `watchContract(app)` records every answer of `app.inject` and of the app's HTTP server
 * (tests over a socket) into the app's ledger; `assertContractKept` fails with all the
 * violations. test/helpers/api.ts installs it on every app it builds and checks it when
 * the app stops, so each API test file fails on any answer the document does not allow.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { createRequire } from 'node:module';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

// ajv-formats is CommonJS with only a default export.
const addFormats = createRequire(import.meta.url)('ajv-formats') as (ajv: Ajv2020) => Ajv2020;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const OPENAPI_FILE = path.join(ROOT, 'openapi', 'openapi.json');

/** One answer as a client saw it. Header names in lower case. */
export interface Exchange {
  method: string;
  /** The request URL as sent (path and query). */
  url: string;
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  /** The body, or undefined when it was not kept (large, binary, streamed). */
  body?: Buffer | string;
}

export interface Violation {
  where: string;
  what: string;
}

type Json = Record<string, any>;

/**
 * Refusals any request may get before it reaches an operation (info.description of the
 * document says so), with the codes each may carry.
 */
const GLOBAL_REFUSALS: Record<number, string[]> = {
  400: ['PH5_ERR_HTTP', 'PH5_ERR_URL'],
  404: ['PH5_ERR_ROUTE'],
  405: ['PH5_ERR_METHOD'],
  408: ['PH5_ERR_REQUEST_TIMEOUT'],
  414: ['PH5_ERR_URI_TOO_LONG'],
  431: ['PH5_ERR_HEADERS_TOO_LARGE'],
};

/** Served but left out of the document on purpose (the document itself, Swagger UI). */
const UNDOCUMENTED = [/^\/openapi\.json$/, /^\/docs(\/|$)/];

function mediaType(value: string | string[] | number | undefined): string {
  return String(value ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();
}

function isJsonMedia(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

/** Replaces `#/components/schemas/X` with `X` (each component is its own Ajv schema). */
function localRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(localRefs);
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/') ? v.slice('#/components/schemas/'.length) : localRefs(v);
  }
  return out;
}

interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  /** Literal segments: the more, the better a match (`/v1/jobs/{id}` vs a literal). */
  literals: number;
  op: Json;
}

export class ContractChecker {
  private readonly ajv;
  private readonly operations: Operation[] = [];
  private readonly validators = new Map<object, ValidateFunction>();

  constructor(readonly doc: Json) {
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.ajv);
    this.ajv.addFormat('binary', true);
    for (const [name, schema] of Object.entries<Json>(doc.components?.schemas ?? {})) {
      const { $id: _ignored, ...rest } = schema;
      this.ajv.addSchema(localRefs(rest) as Json, name);
    }
    for (const [template, methods] of Object.entries<Json>(doc.paths ?? {})) {
      const segments = template.split('/');
      const pattern = new RegExp(`^${segments.map((s) => (/^\{[^}]+\}$/.test(s) ? '[^/]*' : s.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))).join('/')}$`);
      const literals = segments.filter((s) => !s.startsWith('{')).length;
      for (const [method, op] of Object.entries<Json>(methods)) this.operations.push({ method: method.toUpperCase(), template, pattern, literals, op });
    }
  }

  static #shared: ContractChecker | undefined;

  /** The committed document's checker, built once per process (schemas compile as they are first met). */
  static fromFile(file = OPENAPI_FILE): ContractChecker {
    if (file !== OPENAPI_FILE) return new ContractChecker(JSON.parse(readFileSync(file, 'utf8')) as Json);
    ContractChecker.#shared ??= new ContractChecker(JSON.parse(readFileSync(file, 'utf8')) as Json);
    return ContractChecker.#shared;
  }

  private validator(schema: object): ValidateFunction {
    const known = this.validators.get(schema);
    if (known) return known;
    const v = this.ajv.compile(localRefs(schema) as Json);
    this.validators.set(schema, v);
    return v;
  }

  /** The violations of one answer (none: it is what the document says). */
  check(x: Exchange): Violation[] {
    const pathname = x.url.split('?')[0]!;
    const method = x.method.toUpperCase();
    const where = `${method} ${x.url.length > 120 ? `${x.url.slice(0, 120)}…` : x.url} -> ${x.status}`;
    const out: Violation[] = [];
    const fail = (what: string) => out.push({ where, what });
    const header = (name: string) => {
      const v = x.headers[name.toLowerCase()];
      return Array.isArray(v) ? v.join(', ') : v === undefined ? undefined : String(v);
    };
    const type = mediaType(header('content-type'));
    const bodyText = x.body === undefined ? undefined : Buffer.isBuffer(x.body) ? x.body.toString('utf8') : x.body;

    const candidates = this.operations.filter((o) => o.pattern.test(pathname));
    const lookup = method === 'HEAD' ? 'GET' : method;
    const best = candidates.filter((o) => o.method === lookup).sort((a, b) => b.literals - a.literals)[0];
    if (!best) {
      if (candidates.length === 0 && UNDOCUMENTED.some((r) => r.test(pathname))) return out;
      this.checkGlobalRefusal(
        x,
        type,
        bodyText,
        candidates.length > 0 ? 'its path has no operation for this method' : 'no operation has this path',
        fail,
        header,
      );
      return out;
    }
    const response: Json | undefined = best.op.responses?.[String(x.status)];
    if (!response) {
      this.checkGlobalRefusal(x, type, bodyText, `${best.op.operationId} declares no ${x.status}`, fail, header);
      return out;
    }
    const noBody = method === 'HEAD' || x.status === 204 || x.status === 304;
    const content: Json | undefined = response.content;
    if (content && !noBody) {
      const declared = Object.keys(content).map((k) => k.toLowerCase());
      if (!declared.includes(type))
        fail(`Content-Type '${header('content-type') ?? ''}' is not declared for ${best.op.operationId} ${x.status} (declared: ${declared.join(', ')})`);
      else if (isJsonMedia(type) && bodyText !== undefined) {
        const entry = content[Object.keys(content).find((k) => k.toLowerCase() === type)!];
        let body: unknown;
        try {
          body = JSON.parse(bodyText);
        } catch {
          fail(`the ${type} body is not JSON: ${bodyText.slice(0, 120)}`);
        }
        if (body !== undefined && entry?.schema) {
          const validate = this.validator(entry.schema);
          if (!validate(body))
            fail(
              `the body breaks the ${best.op.operationId} ${x.status} schema: ${this.ajv.errorsText(validate.errors, { separator: '; ' })}; body ${bodyText.slice(0, 200)}`,
            );
        }
        if (type === 'application/problem+json' && body && typeof body === 'object') {
          const codes = listedCodes(response.description);
          const code = (body as Json).code;
          if ((body as Json).status !== x.status) fail(`the problem's status ${(body as Json).status} is not the answer's ${x.status}`);
          if (codes && !codes.includes(code) && !GLOBAL_REFUSALS[x.status]?.includes(code))
            fail(`code ${code} is not among the codes ${best.op.operationId} ${x.status} lists (${codes.join(', ')})`);
        }
      }
    } else if (!content && !noBody && bodyText) {
      fail(`${best.op.operationId} ${x.status} declares no body, yet one came (${type})`);
    }
    for (const [name, h] of Object.entries<Json>(response.headers ?? {})) {
      const value = header(name);
      if (value === undefined) {
        if (h.required) fail(`required header ${name} is missing`);
        continue;
      }
      if (h.schema) {
        const asJson =
          h.schema.type === 'integer' || h.schema.type === 'number'
            ? Number(value)
            : h.schema.type === 'boolean'
              ? value === 'true'
                ? true
                : value === 'false'
                  ? false
                  : value
              : value;
        const validate = this.validator(h.schema);
        if (!validate(asJson)) fail(`header ${name}: '${value}' breaks its schema: ${this.ajv.errorsText(validate.errors)}`);
      }
    }
    return out;
  }

  /** An answer no operation declares: only the refusals any request may get. */
  private checkGlobalRefusal(
    x: Exchange,
    type: string,
    bodyText: string | undefined,
    why: string,
    fail: (what: string) => void,
    header: (n: string) => string | undefined,
  ): void {
    const codes = GLOBAL_REFUSALS[x.status];
    if (!codes) {
      fail(`status ${x.status} is not declared (${why})`);
      return;
    }
    if (type !== 'application/problem+json') {
      fail(`a ${x.status} refusal must be application/problem+json, got '${type}' (${why})`);
      return;
    }
    if (bodyText === undefined || x.method.toUpperCase() === 'HEAD') return;
    let body: Json;
    try {
      body = JSON.parse(bodyText) as Json;
    } catch {
      fail(`the problem body is not JSON (${why})`);
      return;
    }
    const validate = this.validator({ $ref: '#/components/schemas/Problem' });
    if (!validate(body)) fail(`the problem breaks the Problem schema: ${this.ajv.errorsText(validate.errors)}`);
    if (!codes.includes(body.code))
      fail(`status ${x.status} with code ${body.code} is not declared (${why}); undeclared ${x.status}s may only be ${codes.join(', ')}`);
    if (x.status === 405 && !header('allow')) fail('a 405 without Allow');
  }
}

/** The codes a problem response's description lists ("… Codes: A, B."), or null. */
export function listedCodes(description: unknown): string[] | null {
  const m = typeof description === 'string' ? /Codes: ([A-Z0-9_, ]+)\.?\s*$/.exec(description) : null;
  return m
    ? m[1]!
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : null;
}

/** Bodies kept for checking over a socket: JSON-ish only, and not beyond this. */
const MAX_KEPT_BODY = 4 * 1024 * 1024;

export interface ContractLedger {
  checker: ContractChecker;
  exchanges: number;
  violations: Violation[];
}

const ledgers = new WeakMap<FastifyInstance, ContractLedger>();

/** Checks every answer of `app` (inject and HTTP) against the document from now on. */
export function watchContract(app: FastifyInstance, checker = ContractChecker.fromFile()): ContractLedger {
  const existing = ledgers.get(app);
  if (existing) return existing;
  const ledger: ContractLedger = { checker, exchanges: 0, violations: [] };
  ledgers.set(app, ledger);
  const record = (x: Exchange) => {
    ledger.exchanges++;
    ledger.violations.push(...checker.check(x));
  };
  const inject = app.inject.bind(app) as (...args: unknown[]) => unknown;
  (app as unknown as { inject: unknown }).inject = (opts?: unknown, callback?: unknown) => {
    if (opts === undefined || typeof callback === 'function')
      throw new Error('contract check: call app.inject(options) and await it (the chained and callback forms are not checked)');
    const o = (typeof opts === 'string' ? { url: opts } : opts) as { method?: string };
    return (inject(opts) as Promise<{ statusCode: number; headers: Exchange['headers']; rawPayload: Buffer; raw: { req: { url?: string } } }>).then((res) => {
      // The URL as the server got it (light-my-request resolves dot segments, as a client would).
      record({ method: o.method ?? 'GET', url: res.raw.req.url ?? '/', status: res.statusCode, headers: res.headers, body: res.rawPayload });
      return res;
    });
  };
  app.server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => captureHttp(req, res, record));
  return ledger;
}

/** Records a socket answer when it finishes: status, headers, and a JSON-ish body. */
function captureHttp(req: IncomingMessage, res: ServerResponse, record: (x: Exchange) => void): void {
  const chunks: Buffer[] = [];
  let kept = 0;
  let keep: boolean | undefined;
  // Headers handed to writeHead directly (hijacked answers) are not in getHeaders().
  let headHeaders: Exchange['headers'] = {};
  const headers = (): Exchange['headers'] => ({ ...(res.getHeaders() as Exchange['headers']), ...headHeaders });
  const keepFor = () => {
    if (keep === undefined) keep = isJsonMedia(mediaType(headers()['content-type']));
    return keep;
  };
  const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => ServerResponse;
  (res as unknown as { writeHead: unknown }).writeHead = (status: number, ...rest: unknown[]) => {
    const obj = rest.find((r) => r && typeof r === 'object');
    if (obj && !Array.isArray(obj))
      headHeaders = Object.fromEntries(Object.entries(obj as Record<string, Exchange['headers'][string]>).map(([k, v]) => [k.toLowerCase(), v]));
    return writeHead(status, ...rest);
  };
  const take = (chunk: unknown, encoding?: unknown) => {
    if (chunk === undefined || chunk === null || typeof chunk === 'function' || !keepFor()) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    kept += buf.length;
    if (kept <= MAX_KEPT_BODY) chunks.push(buf);
  };
  const write = res.write.bind(res) as (...a: unknown[]) => boolean;
  const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
  (res as unknown as { write: unknown }).write = (chunk: unknown, encoding?: unknown, cb?: unknown) => {
    take(chunk, encoding);
    return write(chunk, encoding, cb);
  };
  (res as unknown as { end: unknown }).end = (chunk?: unknown, encoding?: unknown, cb?: unknown) => {
    take(chunk, encoding);
    return end(chunk, encoding, cb);
  };
  res.once('finish', () => {
    record({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      status: res.statusCode,
      headers: headers(),
      ...(keep && kept <= MAX_KEPT_BODY ? { body: Buffer.concat(chunks) } : {}),
    });
  });
}

/** Throws with every answer of `app` the document does not allow. */
export function assertContractKept(app: FastifyInstance): void {
  const ledger = ledgers.get(app);
  if (!ledger || ledger.violations.length === 0) return;
  const seen = new Set<string>();
  const lines = ledger.violations.map((v) => `${v.where}: ${v.what}`).filter((l) => !seen.has(l) && seen.add(l));
  throw new Error(
    `${ledger.violations.length} of ${ledger.exchanges} answers break openapi/openapi.json:\n  ${lines.slice(0, 40).join('\n  ')}${lines.length > 40 ? `\n  … and ${lines.length - 40} more` : ''}`,
  );
}
