/**
 * Jobs: the state, result and error of accepted operations; long-polling; a Server-Sent
 * Events stream of a job's changes; the project's job list.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { validateFileName } from '../../../shared/names.js';
import { errors } from '../../errors.js';
import { buildBatch } from '../../domain/batch.js';
import { cancelWaitingJob } from '../../domain/cancel.js';
import { replyAccepted, projectOf } from '../../lib/route-helpers.js';
import { Accepted } from '../../schemas/common.js';
import { BatchBody } from '../../schemas/batch.js';
import { JobState, problems } from '../../schemas/common.js';
import { endAllStreams, streamJobEvents } from './events.js';

const Params = Type.Object({
  id: Type.String({
    minLength: 1,
    maxLength: 128,
    description: 'The job id, as in the Location of a 202.',
    examples: ['3b241101-e2bb-4255-8caf-4136c566a962'],
  }),
});
const Query = Type.Object(
  {
    wait: Type.Optional(
      Type.Number({
        minimum: 0,
        description: 'Long-poll: answer as soon as the job is completed or failed, or after this many seconds (capped by the server, PH5_MAX_WAIT_SECONDS).',
        examples: [30],
      }),
    ),
  },
  { additionalProperties: false },
);
const ListQuery = Type.Object(
  {
    state: Type.Optional(JobState),
    file: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Only jobs on this file.', examples: ['output.h5'] })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'At most this many jobs (newest first).', examples: [20] })),
    before: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'Only jobs accepted before this time (ms since the epoch): pass the last job’s acceptedAt to page on.',
        examples: [1764000000000],
      }),
    ),
  },
  { additionalProperties: false },
);
const JobList = Type.Object(
  {
    jobs: Type.Array(Type.Ref('Job')),
    next: Type.Union([Type.Integer(), Type.Null()], { description: 'Pass as ?before= for the next page; null at the end.' }),
  },
  { description: 'Jobs of your project, newest first.', examples: [{ jobs: [], next: null }] },
);

/** How many index entries a filtered listing may scan per page before answering. */
const SCAN_LIMIT = 5_000;

export default async function jobRoutes(fastify: FastifyInstance): Promise<void> {
  // Request types come from the route schemas (TypeBox), not written out again.
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.addHook('preClose', async () => endAllStreams(app));

  app.get(
    '/v1/jobs',
    {
      config: { role: 'read' },
      schema: {
        operationId: 'listJobs',
        tags: ['jobs'],
        summary: 'List your project’s jobs, newest first, filtered by state or file',
        description: `Pages with ?limit= and ?before=. A filtered page scans at most ${SCAN_LIMIT} jobs; follow next for more.`,
        querystring: ListQuery,
        response: { 200: { description: 'A page of jobs.', content: { 'application/json': { schema: JobList } } }, ...problems(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const { jobs, jobIndex } = app;
      const proj = projectOf(request);
      const limit = request.query.limit ?? 100;
      const out = [];
      let before = request.query.before;
      let scanned = 0;
      let exhausted = false;
      while (out.length < limit && scanned < SCAN_LIMIT) {
        const batch = await jobIndex.page(proj, Math.min(500, SCAN_LIMIT - scanned), before);
        if (batch.length === 0) {
          exhausted = true;
          break;
        }
        scanned += batch.length;
        const found = await Promise.all(batch.map((b) => jobs.get(b.id, proj)));
        const gone = batch.filter((_, i) => !found[i]).map((b) => b.id);
        if (gone.length) await jobIndex.remove(proj, ...gone);
        // The batch's candidates (file filter), viewed together: one read of each file's
        // state for all its active jobs. Without a state filter, only as many as the page needs.
        const picked: number[] = [];
        for (let i = 0; i < batch.length; i++) {
          const job = found[i];
          if (!job || (request.query.file !== undefined && job.data.file !== request.query.file)) continue;
          picked.push(i);
          if (request.query.state === undefined && picked.length >= limit - out.length) break;
        }
        const views = await jobs.views(picked.map((i) => found[i]!));
        const viewAt = new Map(picked.map((i, k) => [i, views[k]!]));
        for (let i = 0; i < batch.length && out.length < limit; i++) {
          before = batch[i]!.acceptedAt;
          const view = viewAt.get(i);
          if (!view) continue;
          if (request.query.state !== undefined && view.state !== request.query.state) continue;
          out.push(view);
        }
      }
      const more = !exhausted && (out.length === limit || scanned >= SCAN_LIMIT) && (await jobIndex.page(proj, 1, before)).length > 0;
      return { jobs: out, next: more ? (before ?? null) : null };
    },
  );

  app.post(
    '/v1/jobs',
    {
      config: { role: 'write' },
      schema: {
        operationId: 'submitBatch',
        tags: ['jobs'],
        summary: 'Apply an ordered list of operations on one file as one job',
        description:
          'Operations: createGroup, createDataset, write (JSON values), setAttribute, deleteAttribute, resize, delete. Each is checked against the ones before it, ' +
          'the jobs already accepted and the file; if any is refused, nothing is queued. The worker pool applies them in order in one epoch; ' +
          'if one fails there, the job stops at it and fails, naming it (the operations before it stay applied).',
        body: BatchBody,
        response: { 202: Accepted, ...problems(400, 401, 403, 404, 409, 413, 429, 503) },
      },
    },
    async (request, reply) => {
      const { storage, jobs, operations } = app;
      const proj = projectOf(request);
      const file = validateFileName(request.body.file);
      await storage.resolve(proj, file);
      const submission = await buildBatch(app, proj, file, request.body.ops, jobs.newId(proj, file));
      const job = await operations.submit(submission);
      return replyAccepted(app, reply, job);
    },
  );

  app.delete(
    '/v1/jobs/:id',
    {
      config: { role: 'write' },
      schema: {
        operationId: 'cancelJob',
        tags: ['jobs'],
        summary: 'Cancel a job that is still waiting',
        description:
          'Marks the job cancelled: when its turn comes, the worker pool fails it with PH5_ERR_CANCELLED without touching the file (later jobs on the file are not held up). ' +
          'A job a worker pool has already taken cannot be cancelled (409).',
        params: Params,
        response: { 202: Accepted, ...problems(400, 401, 403, 404, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { jobs, redis } = app;
      const job = await jobs.get(request.params.id, projectOf(request));
      if (!job) throw new errors.JobNotFound(request.params.id);
      if (!(await cancelWaitingJob(redis, String(job.id)))) {
        throw new errors.NotCancellable(`Job ${job.id} is ${(await jobs.view(job)).state}: only a job still waiting can be cancelled.`);
      }
      return replyAccepted(app, reply, job);
    },
  );

  app.get(
    '/v1/jobs/:id',
    {
      config: { role: 'read' },
      schema: {
        operationId: 'getJob',
        tags: ['jobs'],
        summary: 'A job: state, result, error and timings',
        description:
          'state is queued (also while waiting to be retried, and while a worker pool holds it before its epoch), running (a live pool is applying it), completed or failed. ' +
          'When completed, result tells what the worker pool did ' +
          '(bytes, the decomposition across ranks, whether I/O was collective); when failed, error has a stable code and a message.',
        params: Params,
        querystring: Query,
        response: { 200: { description: 'The job.', content: { 'application/json': { schema: Type.Ref('Job') } } }, ...problems(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const { jobs, config } = app;
      const proj = projectOf(request);
      const job = await jobs.get(request.params.id, proj);
      if (!job) throw new errors.JobNotFound(request.params.id);
      const wait = Math.min(request.query.wait ?? 0, config.maxWaitSeconds);
      if (wait > 0) {
        await jobs.waitFinished(job, wait);
        const fresh = await jobs.get(request.params.id, proj);
        if (!fresh) throw new errors.JobNotFound(request.params.id);
        return jobs.view(fresh);
      }
      return jobs.view(job);
    },
  );

  app.get(
    '/v1/jobs/:id/events',
    {
      config: { role: 'read' },
      schema: {
        operationId: 'streamJobEvents',
        tags: ['jobs'],
        summary: 'Server-Sent Events: the job’s state changes and progress, until it finishes',
        description:
          'text/event-stream. Each event is named after what happened (state, progress) and carries the whole Job as JSON; ' +
          'the first event is the current state, the last one is completed or failed, then the stream ends. running is sent when an epoch of a live pool starts applying the job ' +
          '(not when a pool merely takes it). A comment line every 15 s keeps proxies from closing it.',
        params: Params,
        response: {
          200: {
            description: 'The event stream.',
            content: {
              'text/event-stream': {
                schema: Type.String({ examples: ['event: state\ndata: {"id":"3b24…","state":"running",…}\n\n'] }),
              },
            },
          },
          ...problems(400, 401, 403, 404, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const { jobs } = app;
      const job = await jobs.get(request.params.id, projectOf(request));
      if (!job) throw new errors.JobNotFound(request.params.id);
      await streamJobEvents(app, request, reply, job);
    },
  );
}
