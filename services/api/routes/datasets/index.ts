/**
 * Datasets: create (a job), describe, resize (a job), delete (a job). Nested HDF5 paths
 * travel URL-encoded as ONE segment (`grp%2Fdset`). Values: routes/values.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { dtypeSpec, parseDtype } from '../../../shared/dtype.js';
import { errors } from '../../errors.js';
import { checkResize, createDatasetOp, resizedRecord } from '../../domain/operations.js';
import { deleteObject, replyAccepted, requestTarget } from '../../lib/route-helpers.js';
import { Accepted, DatasetPathParam, FileName, problems } from '../../schemas/common.js';
import { CreateDatasetBody, ResizeBody } from '../../schemas/datasets.js';

const FileParams = Type.Object({ file: FileName });
const DatasetParams = Type.Object({ file: FileName, path: DatasetPathParam });

export default async function datasetRoutes(fastify: FastifyInstance): Promise<void> {
  // Request types come from the route schemas (TypeBox), not written out again.
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.post(
    '/v1/files/:file/datasets',
    {
      config: { role: 'write' },
      schema: {
        operationId: 'createDataset',
        tags: ['datasets'],
        summary: 'Create a dataset (and its file and parent groups, if absent)',
        description:
          'Queues a job that creates the dataset collectively on the worker pool, and answers 202 at once with the job (its URL is in Location). ' +
          'Writes to the dataset are accepted right away, before the job has run. Without fillValue, no fill pass is made.',
        params: FileParams,
        body: CreateDatasetBody,
        response: { 202: Accepted, ...problems(400, 401, 403, 409, 413, 429, 503) },
      },
    },
    async (request, reply) => {
      const { jobs, operations, config } = app;
      const { project: proj, file, path: h5path } = await requestTarget(app, request, request.params.file, request.body.path);
      const jobId = jobs.newId(proj, file);
      const { op, record } = createDatasetOp(request.body, h5path, jobId, config.limits);
      // Claimed before queueing, so a write sent right after the 202 finds the shape,
      // and two creations of one path cannot both be accepted.
      const job = await operations.submit({ project: proj, file, ops: [op], registry: [{ kind: 'claim', path: h5path, record }], jobId });
      return replyAccepted(app, reply, job);
    },
  );

  app.get(
    '/v1/files/:file/datasets/:path',
    {
      config: { role: 'read' },
      schema: {
        operationId: 'getDataset',
        tags: ['datasets'],
        summary: 'Describe a dataset: dtype, shape, maxshape, layout, chunks, filters, fill value',
        description:
          "Read from the file. While the dataset's creation (or resize) job is still queued or running, the answer comes from what was accepted, with state 'pending'.",
        params: DatasetParams,
        response: {
          200: { description: 'The dataset.', content: { 'application/json': { schema: Type.Ref('DatasetInfo') } } },
          ...problems(400, 401, 403, 404, 409, 429, 503),
        },
      },
    },
    async (request) => {
      const { project: proj, file, path: h5path } = await requestTarget(app, request, request.params.file, request.params.path);
      const meta = await app.datasets.describe(proj, file, h5path);
      if (!meta) throw new errors.NotFound(`No dataset ${h5path} in ${file}.`);
      // Enums and compounds are answered as objects (the Dtype schema), not as their canonical text.
      return { ...meta, dtype: dtypeSpec(parseDtype(meta.dtype)) };
    },
  );

  app.put(
    '/v1/files/:file/datasets/:path/shape',
    {
      config: { role: 'write' },
      schema: {
        operationId: 'resizeDataset',
        tags: ['datasets'],
        summary: 'Resize (extend or shrink) a chunked dataset within its maxshape',
        description:
          'Queues a job that sets the new extent (H5Dset_extent). Writes accepted after this request are checked against the new shape at once; ' +
          'shrinking discards the values beyond the new extent.',
        params: DatasetParams,
        body: ResizeBody,
        response: { 202: Accepted, ...problems(400, 401, 403, 404, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { datasets, jobs, operations } = app;
      const { project: proj, file, path: h5path } = await requestTarget(app, request, request.params.file, request.params.path);
      const meta = await datasets.forWrite(proj, file, h5path);
      if (!meta) throw new errors.NotFound(`No dataset ${h5path} in ${file}.`);
      const shape = request.body.shape;
      checkResize(meta, shape, h5path);
      const jobId = jobs.newId(proj, file);
      // The new extent is what later writes are checked against, from now on.
      const record = resizedRecord(meta, shape, jobId);
      const job = await operations.submit({
        project: proj,
        file,
        ops: [{ op: 'resize', path: h5path, shape }],
        registry: [{ kind: 'record', path: h5path, record }],
        jobId,
      });
      return replyAccepted(app, reply, job);
    },
  );

  app.delete(
    '/v1/files/:file/datasets/:path',
    {
      config: { role: 'write' },
      schema: {
        operationId: 'deleteDataset',
        tags: ['datasets'],
        summary: 'Delete a dataset',
        description: 'Queues a job that unlinks the dataset. From this request on, the dataset reads as absent and its path is free for a new one.',
        params: DatasetParams,
        response: { 202: Accepted, ...problems(400, 401, 403, 404, 409, 429, 503) },
      },
    },
    async (request, reply) => deleteObject(app, request, reply, 'dataset'),
  );
}
