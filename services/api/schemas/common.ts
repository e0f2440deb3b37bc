/** Schemas shared by several routes: problems, jobs, file and dataset names. */
import { Type, type Static } from 'typebox';

export const Problem = Type.Object(
  {
    type: Type.String({ description: 'URI naming the kind of problem; ends with the code.' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable machine-readable code, e.g. PH5_ERR_SELECTION.', examples: ['PH5_ERR_SELECTION'] }),
    instance: Type.Optional(Type.String()),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details (application/problem+json).' },
);

/** What each error status means, and the stable codes it comes with. */
const PROBLEM_DOCS: Record<number, { description: string; codes: string[]; example: { code: string; detail: string } }> = {
  400: {
    description: 'Invalid request; nothing was changed.',
    codes: [
      'PH5_ERR_VALIDATION',
      'PH5_ERR_FILE_NAME',
      'PH5_ERR_H5_PATH',
      'PH5_ERR_ATTRIBUTE_NAME',
      'PH5_ERR_DTYPE',
      'PH5_ERR_SHAPE',
      'PH5_ERR_SELECTION',
      'PH5_ERR_VALUE',
      'PH5_ERR_BODY_LENGTH',
      'PH5_ERR_BODY_ABORTED',
      'PH5_ERR_JSON',
      'PH5_ERR_NPY',
      'PH5_ERR_TYPE',
      'PH5_ERR_TOO_LARGE',
      'PH5_ERR_URL',
      'PH5_ERR_HTTP',
    ],
    example: { code: 'PH5_ERR_SELECTION', detail: "Selection '[0:50]' reaches 50 in dimension 0, past its extent 42." },
  },
  401: {
    description: 'No bearer token, or not a valid one (Authorization: Bearer <token>).',
    codes: ['PH5_ERR_UNAUTHORIZED', 'PH5_ERR_TOKEN'],
    example: { code: 'PH5_ERR_UNAUTHORIZED', detail: 'This API needs a bearer token: send Authorization: Bearer <token>.' },
  },
  403: {
    description: "The token's role does not allow this (roles: read < write < admin).",
    codes: ['PH5_ERR_FORBIDDEN'],
    example: { code: 'PH5_ERR_FORBIDDEN', detail: "This needs the 'write' role; the token has 'read'." },
  },
  404: {
    description: 'No such file, dataset or job.',
    codes: ['PH5_ERR_NOT_FOUND', 'PH5_ERR_JOB_NOT_FOUND'],
    example: { code: 'PH5_ERR_NOT_FOUND', detail: 'No dataset /test in output.h5.' },
  },
  406: {
    description: 'The answer cannot be given in the media type asked for (Accept): variable-length strings are answered as JSON only.',
    codes: ['PH5_ERR_NOT_ACCEPTABLE'],
    example: {
      code: 'PH5_ERR_NOT_ACCEPTABLE',
      detail: '/names in f.h5 holds variable-length strings, which are answered as JSON only: ask for Accept: application/json.',
    },
  },
  409: {
    description: 'An object already exists at that path (or its creation is queued), or the file exists but is not HDF5.',
    codes: ['PH5_ERR_EXISTS', 'PH5_ERR_NOT_HDF5', 'PH5_ERR_NOT_CANCELLABLE', 'PH5_ERR_LAYOUT', 'PH5_ERR_IDEMPOTENCY_KEY', 'PH5_ERR_IDEMPOTENCY_IN_PROGRESS'],
    example: { code: 'PH5_ERR_EXISTS', detail: 'An object already exists at /test in output.h5 (or its creation is queued).' },
  },
  413: {
    description: 'The body is larger than this server accepts (PH5_MAX_BODY_BYTES): write in parts.',
    codes: ['PH5_ERR_BODY_TOO_LARGE', 'PH5_ERR_TOO_MANY_ELEMENTS', 'PH5_ERR_ATTRIBUTE_TOO_LARGE'],
    example: {
      code: 'PH5_ERR_BODY_TOO_LARGE',
      detail: 'The selection needs 17179869184 bytes; this server accepts at most 8589934592 per request: write it in parts.',
    },
  },
  414: {
    description: 'A path parameter (file name, HDF5 path) is longer than 2048 characters, or the request line longer than 16 KiB.',
    codes: ['PH5_ERR_URI_TOO_LONG'],
    example: { code: 'PH5_ERR_URI_TOO_LONG', detail: 'A path parameter is longer than 2048 characters (file names are at most 255, HDF5 paths 1024).' },
  },
  415: {
    description:
      'Unsupported Content-Type, or a body without one: bodies are application/json (writes of values also take application/octet-stream and application/x-npy); nothing was changed.',
    codes: ['PH5_ERR_MEDIA_TYPE'],
    example: { code: 'PH5_ERR_MEDIA_TYPE', detail: 'Unsupported Media Type: text/csv' },
  },
  500: {
    description: 'A server fault: logged, with no details in the answer.',
    codes: ['PH5_ERR_INTERNAL', 'PH5_ERR_HDF5'],
    example: { code: 'PH5_ERR_HDF5', detail: 'The HDF5 library failed on this file; the error has been logged.' },
  },
  507: {
    description: 'No room left to stage the payload; nothing was accepted. Try again later.',
    codes: ['PH5_ERR_NO_SPACE'],
    example: { code: 'PH5_ERR_NO_SPACE', detail: 'The server has no room left to stage this request; nothing was accepted. Try again later.' },
  },
  429: {
    description: 'Too many requests from this token, or too many jobs queued for this project; nothing was accepted. Retry after Retry-After seconds.',
    codes: ['PH5_ERR_RATE_LIMITED', 'PH5_ERR_QUEUE_FULL'],
    example: {
      code: 'PH5_ERR_QUEUE_FULL',
      detail: "Project 'climate' already has 10000 jobs queued or running (PH5_MAX_QUEUED_PER_PROJECT); wait for some to finish.",
    },
  },
  503: {
    description:
      'Redis (the job queue) is unreachable, no worker pool is alive (readyz), the file is busy, the API is overloaded or shutting down; nothing was accepted. Retry after Retry-After seconds. ' +
      'Exception, PH5_ERR_NOT_REPLICATED (replicated acceptance, PH5_REDIS_MIN_REPLICAS): the job was written to the Redis primary but not confirmed on its replicas in time, so it may or may not survive a failover; retry with the same Idempotency-Key.',
    codes: ['PH5_ERR_UNAVAILABLE', 'PH5_ERR_NOT_READY', 'PH5_ERR_FILE_BUSY', 'PH5_ERR_OVERLOADED', 'PH5_ERR_READS_UNAVAILABLE', 'PH5_ERR_NOT_REPLICATED'],
    example: { code: 'PH5_ERR_UNAVAILABLE', detail: 'The job queue (Redis) is unreachable; nothing was accepted. Try again shortly.' },
  },
};

const TITLE: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  406: 'Not Acceptable',
  429: 'Too Many Requests',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
};

/**
 * Headers of problem answers, by status. `required: true` is lifted out of the header's
 * schema into the OpenAPI header object (plugins/external/swagger.ts).
 */
const PROBLEM_HEADERS: Record<number, Record<string, unknown>> = {
  401: {
    'WWW-Authenticate': {
      type: 'string',
      required: true,
      description: 'The bearer challenge: Bearer realm="ph5" (with error="invalid_token" for a token not known).',
      examples: ['Bearer realm="ph5"'],
    },
  },
  429: {
    'Retry-After': { type: 'integer', minimum: 0, required: true, description: 'Seconds to wait before trying again.' },
    'X-RateLimit-Limit': { type: 'integer', description: 'With PH5_ERR_RATE_LIMITED: requests allowed per minute.' },
    'X-RateLimit-Remaining': { type: 'integer', description: 'With PH5_ERR_RATE_LIMITED: requests left in this window (0).' },
    'X-RateLimit-Reset': { type: 'integer', description: 'With PH5_ERR_RATE_LIMITED: seconds until the window resets.' },
  },
  503: { 'Retry-After': { type: 'integer', minimum: 0, required: true, description: 'Seconds to wait before trying again.' } },
};

/** Error responses a route documents, by status: application/problem+json, with the codes and an example. */
export function problems(...statuses: number[]): Record<number, unknown> {
  const out: Record<number, unknown> = {};
  for (const status of statuses) {
    const doc = PROBLEM_DOCS[status];
    if (!doc) throw new Error(`no problem documentation for status ${status}`);
    const { code, detail } = doc.example;
    out[status] = {
      description: `${doc.description} Codes: ${doc.codes.join(', ')}.`,
      ...(PROBLEM_HEADERS[status] ? { headers: PROBLEM_HEADERS[status] } : {}),
      content: {
        'application/problem+json': {
          schema: Type.Ref('Problem'),
          example: { type: `https://ph5.dev/problems/${code}`, title: TITLE[status], status, detail, code },
        },
      },
    };
  }
  return out;
}

/**
 * The problem answers a route gives whatever its handler does, added to its documented
 * responses (plugins/external/swagger.ts): 414 where the URL has path parameters (the
 * router's maxParamLength), 413 and 415 where a body is parsed (POST, PUT, and DELETE:
 * fastify parses a body sent with any of them), 507 where a payload is staged (POST, PUT),
 * and 500 and 503 for every route (a server fault; overload shedding, shutting down).
 */
export function implicitProblems(method: string, url: string, documented: Record<string, unknown>): Record<number, unknown> {
  const statuses: number[] = [];
  if (url.includes(':')) statuses.push(414);
  if (method === 'POST' || method === 'PUT' || method === 'DELETE') statuses.push(413, 415);
  if (method === 'POST' || method === 'PUT') statuses.push(507);
  statuses.push(500, 503);
  return problems(...statuses.filter((s) => !(String(s) in documented)));
}

/** Marks an object a listing could not read (its type has no ph5 dtype); the rest is listed. */
export const ObjectError = Type.Object(
  {
    code: Type.String({ description: 'Why it cannot be read, e.g. PH5_ERR_TYPE.', examples: ['PH5_ERR_TYPE'] }),
    detail: Type.String({ examples: ['the HDF5 type (reference) has no ph5 dtype'] }),
  },
  { description: 'This object cannot be read by ph5 (e.g. an HDF5 object reference or opaque type); it is listed so that nothing is hidden.' },
);

export const FileName = Type.String({
  minLength: 1,
  maxLength: 255,
  description: "File name inside your project, e.g. 'output.h5' (letters, digits, '.', '_', '-').",
  examples: ['output.h5'],
});

export const DatasetPathParam = Type.String({
  minLength: 1,
  maxLength: 1024,
  description: "HDF5 path of the dataset, URL-encoded as one segment: 'test', 'grp%2Fdset'.",
  examples: ['test'],
});

export const JobState = Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed')], {
  description:
    'queued: waiting for its turn (in the queue, waiting to be retried, or taken by a worker pool that has not started applying it yet); ' +
    'running: an epoch of a live worker pool is applying it (or has just applied it and is completing it); completed; failed (see error). ' +
    'A job held by a pool that stopped or hangs reads queued, not running.',
});

export const Job = Type.Object(
  {
    id: Type.String(),
    state: JobState,
    file: Type.String(),
    ops: Type.Array(
      Type.Object({
        op: Type.String(),
        path: Type.String(),
        select: Type.Optional(Type.String()),
        index: Type.Optional(Type.Integer({ description: 'In a 202 for a write that shares its job: the write’s place among the job’s operations.' })),
      }),
      {
        description:
          'The operations, in the order they are applied. Small writes to one file that arrive together are queued as one job (group commit): ' +
          'the 202 answering such a write lists only its own operation (with its index), and opCount says how many the job holds.',
      },
    ),
    opCount: Type.Integer({ description: 'How many operations the job holds.' }),
    ranks: Type.Union([Type.Integer(), Type.Null()], { description: 'Ranks of the pool that ran the job.' }),
    progress: Type.Number({ description: 'Percent done, as reported by the worker pool.' }),
    attempts: Type.Integer({ description: 'Attempts made so far (a job is retried up to 3 times).' }),
    result: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()], {
      description: 'When completed: per operation, bytes written, the decomposition across ranks, whether I/O was collective; and timings.',
    }),
    error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
    timings: Type.Object({
      acceptedAt: Type.Number({ description: 'ms since the epoch' }),
      startedAt: Type.Union([Type.Number(), Type.Null()]),
      finishedAt: Type.Union([Type.Number(), Type.Null()]),
    }),
  },
  {
    $id: 'Job',
    description: 'An accepted operation and what became of it.',
    examples: [
      {
        id: '3b241101-e2bb-4255-8caf-4136c566a962',
        state: 'completed',
        file: 'output.h5',
        ops: [{ op: 'write', path: '/test', select: '[0:42]' }],
        opCount: 1,
        ranks: 4,
        progress: 100,
        attempts: 1,
        result: {
          ranks: 4,
          pool: 'node01-4242',
          ops: [{ op: 'write', path: '/test', bytes: 168, collective: true, noCollectiveCause: [] }],
          timings: { queuedMs: 3, openMs: 12, applyMs: 4, closeMs: 6, totalMs: 25 },
        },
        error: null,
        timings: { acceptedAt: 1764000000000, startedAt: 1764000000003, finishedAt: 1764000000028 },
      },
    ],
  },
);
export type JobView = Static<typeof Job>;

export const Accepted = Type.Object(
  { job: Type.Ref('Job') },
  {
    description: 'Accepted: the job is queued (and its payload durably staged). Poll its URL, given in Location.',
    headers: {
      Location: {
        type: 'string',
        pattern: '^/v1/jobs/[^/]+$',
        required: true,
        description: 'URL of the job: /v1/jobs/{id}.',
        examples: ['/v1/jobs/3b241101-e2bb-4255-8caf-4136c566a962'],
      },
    },
  },
);

/** A 202 that may answer a retried request with its original job (Idempotency-Key). */
export const AcceptedOrReplayed = {
  ...Accepted,
  headers: {
    ...(Accepted as unknown as { headers: Record<string, unknown> }).headers,
    'Idempotent-Replayed': {
      type: 'string',
      enum: ['true'],
      description:
        'Present (true) when this answers a retry with the same Idempotency-Key: the job is the original one, and nothing was staged or queued again.',
    },
  },
};

/**
 * A raw byte body or response. Its schema accepts anything (a binary body reaches the
 * handler as a stream and is checked by length); the OpenAPI document shows it as
 * `{type: string, format: binary}` (plugins/external/swagger.ts rewrites it).
 */
export const BINARY = { description: 'Raw C-order bytes of the selection.' } as const;
