/** Jobs: state, result and errors of accepted writes, with long-polling. */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { errors } from '../../errors.js';
import { problems } from '../../schemas/common.js';

const Params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });
const Query = Type.Object(
  { wait: Type.Optional(Type.Number({ minimum: 0, description: 'Long-poll: return as soon as the job completes or fails, or after this many seconds.' })) },
  { additionalProperties: false },
);

export default async function jobRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Params: Static<typeof Params>; Querystring: Static<typeof Query> }>(
    '/v1/jobs/:id',
    {
      schema: {
        operationId: 'getJob',
        tags: ['jobs'],
        summary: 'A job: state (queued, running, completed, failed), result, error, timings',
        params: Params,
        querystring: Query,
        response: { 200: Type.Ref('Job'), ...problems(400, 404, 503) },
      },
    },
    async (request) => {
      const { jobs, config, project } = app.ph5;
      const job = await jobs.get(request.params.id, project(request));
      if (!job) throw new errors.JobNotFound(request.params.id);
      const wait = Math.min(request.query.wait ?? 0, config.maxWaitSeconds);
      if (wait > 0) {
        await jobs.waitFinished(job, wait);
        const fresh = await jobs.get(request.params.id, project(request));
        if (fresh) return jobs.view(fresh);
      }
      return jobs.view(job);
    },
  );
}
