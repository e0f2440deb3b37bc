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

/** Error responses a route documents, by status. */
export function problems(...statuses: number[]): Record<number, unknown> {
  const out: Record<number, unknown> = {};
  const descriptions: Record<number, string> = {
    400: 'Invalid request (bad name, dtype, shape, selection, body…).',
    404: 'No such file, dataset or job.',
    409: 'The object already exists.',
    413: 'The body is larger than the server accepts.',
    415: 'Unsupported content type.',
    503: 'Redis (the job queue) is unreachable, or the service is not ready; retry after Retry-After.',
  };
  for (const s of statuses) out[s] = { description: descriptions[s] ?? 'Error', content: { 'application/problem+json': { schema: Type.Ref('Problem') } } };
  return out;
}

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

export const JobState = Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed')]);

export const Job = Type.Object(
  {
    id: Type.String(),
    state: JobState,
    file: Type.String(),
    ops: Type.Array(Type.Object({ op: Type.String(), path: Type.String(), select: Type.Optional(Type.String()) })),
    ranks: Type.Union([Type.Integer(), Type.Null()], { description: 'Ranks of the pool that ran the job.' }),
    progress: Type.Number({ description: 'Percent done.' }),
    attempts: Type.Integer(),
    result: Type.Union([Type.Unknown(), Type.Null()], {
      description: 'When completed: per operation, bytes written, the decomposition across ranks, whether I/O was collective; and timings.',
    }),
    error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
    timings: Type.Object({
      acceptedAt: Type.Number({ description: 'ms since the epoch' }),
      startedAt: Type.Union([Type.Number(), Type.Null()]),
      finishedAt: Type.Union([Type.Number(), Type.Null()]),
    }),
  },
  { $id: 'Job' },
);
export type JobView = Static<typeof Job>;

export const Accepted = Type.Object({ job: Type.Ref('Job') }, { description: 'Accepted: the job is queued. Its URL is in Location.' });

/**
 * A raw byte body or response. Its schema accepts anything (a binary body reaches the
 * handler as a stream and is checked by length); the OpenAPI document shows it as
 * `{type: string, format: binary}` (plugins/external/swagger.ts rewrites it).
 */
export const BINARY = { description: 'Raw C-order bytes of the selection.' } as const;
