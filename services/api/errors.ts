/**
 * The API's error codes (stable: clients match on `code`) and the one error handler that
 * turns any error into RFC 9457 `application/problem+json`.
 */
import createError from '@fastify/error';
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
};

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
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
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

/** Redis unreachable: ioredis with enableOfflineQueue=false fails fast with one of these. */
function isRedisDown(err: Error & { code?: string }): boolean {
  return (
    /Stream isn't writeable|enableOfflineQueue|Connection is closed|Reached the max retries|ECONNREFUSED|ENOENT.*\.sock/.test(err.message) ||
    err.name === 'MaxRetriesPerRequestError' ||
    err.code === 'ECONNREFUSED'
  );
}

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
  } else if (e?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    status = 413;
    code = 'PH5_ERR_BODY_TOO_LARGE';
    detail = 'The request body is larger than this server accepts.';
  } else if (e?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    status = 415;
    code = 'PH5_ERR_MEDIA_TYPE';
    detail = e.message;
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
  if (problem.status === 503) reply.header('retry-after', '5');
  return reply.code(problem.status).type('application/problem+json').send(problem);
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err, request: FastifyRequest, reply) => {
    const { problem, internal } = toProblem(err, request.url);
    if (internal) request.log.error({ err }, 'request failed');
    else request.log.info({ code: problem.code, status: problem.status }, problem.detail);
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, {
      type: `${PROBLEM_TYPE_BASE}PH5_ERR_ROUTE`,
      title: 'Not Found',
      status: 404,
      detail: `No route ${request.method} ${request.url.split('?')[0]}`,
      code: 'PH5_ERR_ROUTE',
      instance: request.url,
    }),
  );
}
