/**
 * The API's error codes (stable: clients match on `code`) and the one error handler that
 * turns any error into RFC 9457 `application/problem+json`.
 *
 * Some answers are made before a route (or even fastify) sees the request; each has its
 * own way in, and all of them end in toProblem/sendProblem:
 * - the router's own refusals (a URL that does not decode, a parameter over
 *   maxParamLength): fastify's `frameworkErrors` option (frameworkErrorHandler);
 * - no route for the URL: the not-found handler, which tells 404 (no such path) from 405
 *   (the path exists for other methods; `Allow` lists them);
 * - what Node's HTTP parser refuses before there is a request at all (headers over 16 KiB,
 *   a malformed request line, a header timeout): the server's 'clientError', through
 *   fastify's `clientErrorHandler` (clientErrorHandler), which writes the answer on the
 *   raw socket;
 * - fastify's fast 503 for requests arriving while it closes is turned off
 *   (`return503OnClosing: false`) and replaced by an onRequest hook that throws.
 */
import createError from '@fastify/error';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InputError } from '../shared/input-error.js';

export const errors = {
  NotFound: createError('PH5_ERR_NOT_FOUND', '%s', 404),
  Exists: createError('PH5_ERR_EXISTS', '%s', 409),
  JobNotFound: createError('PH5_ERR_JOB_NOT_FOUND', 'No job %s', 404),
  BodyLength: createError('PH5_ERR_BODY_LENGTH', '%s', 400),
  BodyTooLarge: createError('PH5_ERR_BODY_TOO_LARGE', '%s', 413),
  MediaType: createError('PH5_ERR_MEDIA_TYPE', '%s', 415),
  Unavailable: createError('PH5_ERR_UNAVAILABLE', '%s', 503),
  NotReady: createError('PH5_ERR_NOT_READY', '%s', 503),
  Unauthorized: createError('PH5_ERR_UNAUTHORIZED', '%s', 401),
  BadToken: createError('PH5_ERR_TOKEN', '%s', 401),
  Forbidden: createError('PH5_ERR_FORBIDDEN', '%s', 403),
  QueueFull: createError('PH5_ERR_QUEUE_FULL', '%s', 429),
  RateLimited: createError('PH5_ERR_RATE_LIMITED', '%s', 429),
  Overloaded: createError('PH5_ERR_OVERLOADED', '%s', 503),
  NotCancellable: createError('PH5_ERR_NOT_CANCELLABLE', '%s', 409),
  Route: createError('PH5_ERR_ROUTE', '%s', 404),
  Method: createError('PH5_ERR_METHOD', '%s', 405),
  BadUrl: createError('PH5_ERR_URL', '%s', 400),
  UriTooLong: createError('PH5_ERR_URI_TOO_LONG', '%s', 414),
  HeadersTooLarge: createError('PH5_ERR_HEADERS_TOO_LARGE', '%s', 431),
  RequestTimeout: createError('PH5_ERR_REQUEST_TIMEOUT', '%s', 408),
  Http: createError('PH5_ERR_HTTP', '%s', 400),
  ShuttingDown: createError('PH5_ERR_UNAVAILABLE', '%s', 503),
};

/**
 * Retry-After (seconds) of a 429 or 503 that does not set its own (the rate limit sets the
 * time left in its window). Every 429 and 503 carries one: clients (the ph5 CLI, proxies)
 * back off by it instead of hammering a server that just said it cannot serve them.
 */
export const RETRY_AFTER_S = 5;

/** Where the documentation of each code lives; `type` in a problem is this plus the code. */
export const PROBLEM_TYPE_BASE = 'https://ph5.dev/problems/';

const NATIVE_STATUS: Record<string, number> = {
  PH5_ERR_NOT_FOUND: 404,
  PH5_ERR_EXISTS: 409,
  PH5_ERR_SELECTION: 400,
  PH5_ERR_TYPE: 400,
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
}

/**
 * Redis unreachable: ioredis with enableOfflineQueue=false fails fast with one of these. During
 * a Sentinel failover also: the old primary, back as a replica, refuses writes (READONLY), a
 * replica cut off from its primary refuses reads (MASTERDOWN), a blocked command is released
 * by the role change (UNBLOCKED), a restarted node is still loading (LOADING).
 */
function isRedisDown(err: Error & { code?: string }): boolean {
  return (
    /Stream isn't writeable|enableOfflineQueue|Connection is closed|Reached the max retries|ECONNREFUSED|ENOENT.*\.sock|^(READONLY|MASTERDOWN|UNBLOCKED|LOADING) |All sentinels are unreachable|Failed to connect to (master|sentinel)/.test(
      err.message,
    ) ||
    err.name === 'MaxRetriesPerRequestError' ||
    err.code === 'ECONNREFUSED'
  );
}

/** Router limit on one path parameter (a file name, an HDF5 path); beyond it, 414. */
export const MAX_PARAM_LENGTH = 2048;

/**
 * fastify's own errors that reach the one handler, as ph5 problems (a detail of null keeps
 * fastify's message, which names what was wrong).
 */
const FRAMEWORK_PROBLEMS: Record<string, { status: number; code: string; detail: string | null; hint?: string }> = {
  FST_ERR_BAD_URL: {
    status: 400,
    code: 'PH5_ERR_URL',
    detail: 'The URL does not decode: a % must be followed by two hex digits (percent-encode a literal % as %25).',
  },
  FST_ERR_MAX_PARAM_LENGTH: {
    status: 414,
    code: 'PH5_ERR_URI_TOO_LONG',
    detail: `A path parameter is longer than ${MAX_PARAM_LENGTH} characters (file names are at most 255, HDF5 paths 1024).`,
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'PH5_ERR_BODY_LENGTH', detail: 'The body is not as long as its Content-Length says.' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'PH5_ERR_BODY_TOO_LARGE', detail: 'The request body is larger than this server accepts.' },
  // Any body but JSON (no text/plain parser: app.ts), or no Content-Type at all.
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'PH5_ERR_MEDIA_TYPE',
    detail: null,
    hint: 'Send Content-Type: application/json (writes of values also take application/octet-stream and application/x-npy).',
  },
};

export function toProblem(err: unknown, instance: string): { problem: Problem; internal: boolean } {
  const e = err as FastifyError & { code?: string; statusCode?: number; validation?: unknown };
  let status = 500;
  let code = 'PH5_ERR_INTERNAL';
  let detail = 'Internal error; it has been logged.';
  let internal = false;
  if (err instanceof InputError) {
    status = err.statusCode;
    code = err.code;
    detail = err.message;
    internal = err.cause !== undefined; // wraps something worth logging
  } else if (err instanceof Error && err.name === 'Ph5NativeError') {
    // The binding's error (recognised by name: the binding is loaded lazily).
    const nativeCode = String(e.code);
    status = NATIVE_STATUS[nativeCode] ?? 500;
    code = status === 500 ? 'PH5_ERR_HDF5' : nativeCode;
    detail = status === 500 ? 'The HDF5 library failed on this file; the error has been logged.' : err.message;
    internal = status === 500;
  } else if (e?.validation) {
    status = 400;
    code = 'PH5_ERR_VALIDATION';
    detail = e.message;
  } else if (typeof e?.code === 'string' && FRAMEWORK_PROBLEMS[e.code]) {
    const known = FRAMEWORK_PROBLEMS[e.code]!;
    status = known.status;
    code = known.code;
    detail = known.detail ?? (known.hint ? `${e.message}. ${known.hint}` : e.message);
  } else if (e?.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || e?.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || e instanceof SyntaxError) {
    status = 400;
    code = 'PH5_ERR_JSON';
    detail = `The body is not valid JSON: ${e.message}`;
  } else if (typeof e?.code === 'string' && e.code.startsWith('PH5_ERR_') && typeof e.statusCode === 'number') {
    status = e.statusCode;
    code = e.code;
    detail = e.message;
  } else if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') {
    status = 507;
    code = 'PH5_ERR_NO_SPACE';
    detail = 'The server has no room left to stage this request; nothing was accepted. Try again later.';
    internal = true; // operators must hear of it
  } else if (e instanceof Error && isRedisDown(e)) {
    status = 503;
    code = 'PH5_ERR_UNAVAILABLE';
    detail = 'The job queue (Redis) is unreachable; nothing was accepted. Try again shortly.';
  } else if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    status = e.statusCode;
    code = 'PH5_ERR_REQUEST';
    detail = e.message;
  } else {
    internal = true;
  }
  if (status >= 500 && code === 'PH5_ERR_INTERNAL') internal = true;
  return {
    problem: { type: `${PROBLEM_TYPE_BASE}${code}`, title: TITLES[status] ?? 'Error', status, detail, code, instance },
    internal,
  };
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  if (needsRetryAfter(problem.status) && !reply.hasHeader('retry-after')) reply.header('retry-after', String(RETRY_AFTER_S));
  return reply.code(problem.status).type('application/problem+json').send(problem);
}

export function needsRetryAfter(status: number): boolean {
  return status === 429 || status === 503;
}

/** fastify's `frameworkErrors`: the router's refusals (bad URL encoding, a parameter too long). */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const { problem } = toProblem(err, request.url.length > 256 ? `${request.url.slice(0, 256)}…` : request.url);
  request.log.info({ code: problem.code, status: problem.status }, problem.detail);
  void sendProblem(reply, problem);
}

/**
 * What to answer to an error of Node's HTTP parser (the server's 'clientError'), or null
 * when there is nobody to answer (the peer reset the connection). Node names the parser's
 * errors by llhttp's codes; HPE_HEADER_OVERFLOW counts the request line too, so an
 * overflow in a chunk that starts a request, before its first line ended, is a URL too
 * long (414), not headers (431). (`rawPacket` is the chunk being parsed and `bytesParsed`
 * where in it the parser stopped; a URL longer than one chunk is reported as 431.)
 */
export function clientErrorProblem(err: Error & { code?: string; rawPacket?: unknown; bytesParsed?: number }): Problem | null {
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return null;
  let status = 400;
  let code = 'PH5_ERR_HTTP';
  let detail = 'The request is not well-formed HTTP/1.1.';
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    const raw = Buffer.isBuffer(err.rawPacket) ? err.rawPacket : null;
    const parsed = raw?.subarray(0, typeof err.bytesParsed === 'number' ? err.bytesParsed : raw.length);
    const inRequestLine = parsed !== undefined && /^[A-Z]+ /.test(parsed.subarray(0, 16).toString('latin1')) && !parsed.includes('\n');
    if (!inRequestLine) {
      status = 431;
      code = 'PH5_ERR_HEADERS_TOO_LARGE';
      detail = 'The request headers are larger than this server accepts (16 KiB in all): is the bearer token right?';
    } else {
      status = 414;
      code = 'PH5_ERR_URI_TOO_LONG';
      detail = 'The request line is longer than this server accepts (16 KiB).';
    }
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    code = 'PH5_ERR_REQUEST_TIMEOUT';
    detail = 'The request did not arrive in time (headers or body too slow); nothing was accepted.';
  } else if (err.code === 'HPE_INVALID_METHOD') {
    detail = 'The request method is not an HTTP method.';
  } else if (err.code === 'HPE_INVALID_CONTENT_LENGTH' || err.code === 'HPE_UNEXPECTED_CONTENT_LENGTH') {
    code = 'PH5_ERR_BODY_LENGTH';
    detail = 'The Content-Length header is not valid (or comes with Transfer-Encoding).';
  }
  return { type: `${PROBLEM_TYPE_BASE}${code}`, title: TITLES[status] ?? 'Error', status, detail, code };
}

/** The raw HTTP/1.1 answer written on a socket the parser gave up on. */
export function rawProblemResponse(problem: Problem): string {
  const body = JSON.stringify(problem);
  return (
    `HTTP/1.1 ${problem.status} ${problem.title}\r\n` +
    'Content-Type: application/problem+json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n' +
    (needsRetryAfter(problem.status) ? `Retry-After: ${RETRY_AFTER_S}\r\n` : '') +
    `\r\n${body}`
  );
}

/** How long a refused connection may keep sending (read and dropped) before it is cut. */
const CLIENT_ERROR_LINGER_MS = 1000;
const answered = new WeakSet<Socket>();

/**
 * fastify's `clientErrorHandler` (bound to the instance). Answers once per connection:
 * the parser keeps reporting its error for every further chunk of the same connection.
 * The answer is ended, not followed by an immediate destroy: closing a socket with unread
 * data makes the kernel send RST, and a client still sending its 60 KiB of headers would
 * then lose the answer. The rest is read and dropped for a moment, then the socket is cut.
 */
export function clientErrorHandler(this: FastifyInstance, err: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
  if (answered.has(socket) || socket.destroyed) return;
  answered.add(socket);
  const problem = clientErrorProblem(err);
  if (!problem || !socket.writable) {
    socket.destroy();
    return;
  }
  this.log.info({ code: problem.code, status: problem.status, err: err.code }, problem.detail);
  socket.end(rawProblemResponse(problem));
  setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS).unref();
}

/** A route as the not-found handler sees it: a method and a path pattern (`/v1/files/:file`). */
export interface RouteEntry {
  method: string;
  url: string;
}

/**
 * The methods that have a route for `pathname` (no query string), in the order of
 * `routes`: a request with another method is 405, not 404. Patterns are matched segment
 * by segment the way the router does: `:param` is one non-empty segment, `*` the rest.
 */
export function allowedMethods(routes: readonly RouteEntry[], pathname: string): string[] {
  const out: string[] = [];
  for (const r of routes) if (!out.includes(r.method) && matchesPattern(r.url, pathname)) out.push(r.method);
  return out;
}

function matchesPattern(pattern: string, pathname: string): boolean {
  const p = pattern.split('/');
  const s = pathname.split('/');
  for (let i = 0; i < p.length; i++) {
    const seg = p[i]!;
    if (seg === '*') return true;
    if (i >= s.length) return false;
    if (seg.startsWith(':')) {
      if (s[i] === '') return false;
    } else if (seg !== s[i]) return false;
  }
  return p.length === s.length;
}

export function installErrorHandler(app: FastifyInstance): void {
  // CONNECT never reaches fastify: Node hands it to 'connect' listeners and, with none,
  // closes the connection without a word.
  app.server.on('connect', (request: { url?: string }, socket: Socket) => {
    if (answered.has(socket)) return;
    answered.add(socket);
    const code = 'PH5_ERR_METHOD';
    socket.end(
      rawProblemResponse({
        type: `${PROBLEM_TYPE_BASE}${code}`,
        title: TITLES[405]!,
        status: 405,
        detail: 'CONNECT is not supported: this is not a proxy.',
        code,
        instance: (request.url ?? '').slice(0, 256),
      }),
    );
    setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS).unref();
  });
  const routes: RouteEntry[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  // Replaces fastify's own 503 while closing (return503OnClosing: false in app.ts), which
  // is plain JSON without Retry-After.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  /** 405 (with Allow) when the path has routes for other methods, else 404. */
  const noRoute = (request: FastifyRequest, reply: FastifyReply): Error => {
    const pathname = request.url.split('?')[0]!;
    const allowed = allowedMethods(routes, pathname);
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return new errors.Method(`${request.method} is not allowed on ${pathname}; allowed: ${allowed.join(', ')}.`);
    }
    return new errors.Route(`No route ${request.method} ${pathname}`);
  };
  app.addHook('onRequest', async (request, reply) => {
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) throw new errors.Http('An HTTP/1.1 request needs a Host header.');
    if (closing) throw new errors.ShuttingDown('This API process is shutting down; try again (another process, or this one once restarted).');
    // No route: 404/405 at once, before auth and before the body is parsed (a request to
    // a path that does not exist is told so, not 401 or 415 for its token or its body).
    if (request.is404) throw noRoute(request, reply);
  });
  app.setErrorHandler((err, request: FastifyRequest, reply) => {
    const { problem, internal } = toProblem(err, request.url);
    if (internal) request.log.error({ err }, 'request failed');
    else request.log.info({ code: problem.code, status: problem.status }, problem.detail);
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((request, reply) => {
    throw noRoute(request, reply);
  });
}
