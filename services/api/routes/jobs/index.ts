/** Jobs: state, result and error of accepted operations, with long-polling. */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { errors } from '../../errors.js';
import { problems } from '../../schemas/common.js';

const Params = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 128, description: 'The job id, as in the Location of a 202.', examples: ['3b241101-e2bb-4255-8caf-4136c566a962'] }),
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

export default async function jobRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Params: Static<typeof Params>; Querystring: Static<typeof Query> }>(
    '/v1/jobs/:id',
    {
      config: { role: 'read' },
      schema: {
        operationId: 'getJob',
        tags: ['jobs'],
        summary: 'A job: state, result, error and timings',
        description:
          'state is queued (also while waiting to be retried), running, completed or failed. When completed, result tells what the worker pool did ' +
          '(bytes, the decomposition across ranks, whether I/O was collective); when failed, error has a stable code and a message.',
        params: Params,
        querystring: Query,
        response: { 200: { description: 'The job.', content: { 'application/json': { schema: Type.Ref('Job') } } }, ...problems(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const { jobs, config, project } = app.ph5;
      const proj = project(request);
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
}
