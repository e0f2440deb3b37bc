/**
 * Datasets inside a project's files: create (a job), metadata, write values (a job),
 * read values. Nested HDF5 paths travel URL-encoded as one segment (`grp%2Fdset`).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Readable } from 'node:stream';
import { Type, type Static } from 'typebox';
import { formatDtype, parseDtype, type Dtype } from '../../../shared/dtype.js';
import { InputError } from '../../../shared/input-error.js';
import { decodeJson, encodeJson } from '../../../shared/json-codec.js';
import type { JobData } from '../../../shared/jobs.js';
import { normalizeH5Path, validateFileName } from '../../../shared/names.js';
import { elementCount, resolveSelection } from '../../../shared/selection.js';
import { errors } from '../../errors.js';
import { Accepted, BINARY, DatasetPathParam, FileName, problems } from '../../schemas/common.js';
import { CreateDatasetBody, DatasetInfo, ValueJson, ValueQuery } from '../../schemas/datasets.js';
import type { Job } from 'bullmq';

const FileParams = Type.Object({ file: FileName });
const DatasetParams = Type.Object({ file: FileName, path: DatasetPathParam });

/** Most elements a dataset may have (numpy-style indexing stays exact in a double). */
const MAX_ELEMENTS = 2 ** 53 - 1;
/** Largest selection answered as JSON; bigger reads must ask for binary. */
const MAX_JSON_READ_ELEMENTS = 4_000_000;

function checkShape(body: Static<typeof CreateDatasetBody>): void {
  const { shape, maxshape, chunks } = body;
  const total = shape.reduce((a, b) => a * b, 1);
  if (total > MAX_ELEMENTS) throw new InputError('PH5_ERR_SHAPE', `The shape [${shape.join(', ')}] has too many elements.`);
  if (maxshape) {
    if (maxshape.length !== shape.length) throw new InputError('PH5_ERR_SHAPE', 'maxshape must have as many dimensions as shape.');
    maxshape.forEach((m, i) => {
      if (m !== null && m < shape[i]!) throw new InputError('PH5_ERR_SHAPE', `maxshape[${i}] (${m}) is smaller than shape[${i}] (${shape[i]}).`);
    });
  }
  if (chunks) {
    if (chunks.length !== shape.length) throw new InputError('PH5_ERR_SHAPE', 'chunks must have as many dimensions as shape.');
    if (shape.length === 0) throw new InputError('PH5_ERR_SHAPE', 'A scalar dataset cannot be chunked.');
  }
}

async function accepted(reply: FastifyReply, app: FastifyInstance, job: Job): Promise<FastifyReply> {
  const view = await app.ph5.jobs.view(job as never);
  return reply.code(202).header('location', `/v1/jobs/${view.id}`).send({ job: view });
}

export default async function fileRoutes(app: FastifyInstance): Promise<void> {
  // Binary bodies are handed to the route as the raw stream: they go to disk as they
  // arrive and are never held whole in memory.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

  app.post<{ Params: Static<typeof FileParams>; Body: Static<typeof CreateDatasetBody> }>(
    '/v1/files/:file/datasets',
    {
      schema: {
        operationId: 'createDataset',
        tags: ['datasets'],
        summary: 'Create a dataset (and the file, if it does not exist yet)',
        description: 'A job: answers 202 at once; the worker pool creates the dataset collectively. Datasets are created without a fill pass unless fillValue is given.',
        params: FileParams,
        body: CreateDatasetBody,
        response: { 202: Accepted, ...problems(400, 409, 503) },
      },
    },
    async (request, reply) => {
      const { storage, datasets, jobs, project } = app.ph5;
      const proj = project(request);
      const file = validateFileName(request.params.file);
      await storage.resolve(proj, file);
      const body = request.body;
      const h5path = normalizeH5Path(body.path);
      const dtype = parseDtype(body.dtype);
      checkShape(body);
      const fillValue = body.fillValue === undefined ? undefined : encodeJson([body.fillValue], dtype, [1]).toString('base64');
      if (await datasets.exists(proj, file, h5path)) throw new errors.Exists(`An object already exists at ${h5path} in ${file}.`);

      const jobId = jobs.newId();
      const data: JobData = {
        v: 1,
        project: proj,
        file,
        acceptedAt: Date.now(),
        ops: [
          {
            op: 'createDataset',
            path: h5path,
            dtype: formatDtype(dtype),
            shape: body.shape,
            ...(body.maxshape ? { maxshape: body.maxshape } : {}),
            ...(body.chunks ? { chunks: body.chunks } : {}),
            ...(fillValue !== undefined ? { fillValue } : {}),
          },
        ],
      };
      // Recorded first, so a write sent right after this answer finds the shape.
      await datasets.record(proj, file, h5path, {
        dtype: formatDtype(dtype),
        shape: body.shape,
        ...(body.maxshape ? { maxshape: body.maxshape } : {}),
        ...(body.chunks ? { chunks: body.chunks } : {}),
        jobId,
      });
      let job: Job;
      try {
        job = await jobs.enqueue(data, jobId);
      } catch (err) {
        await datasets.forget(proj, file, h5path).catch(() => {});
        throw err;
      }
      return accepted(reply, app, job);
    },
  );

  app.get<{ Params: Static<typeof DatasetParams> }>(
    '/v1/files/:file/datasets/:path',
    {
      schema: {
        operationId: 'getDataset',
        tags: ['datasets'],
        summary: 'A dataset’s dtype, shape, maxshape, layout and chunks',
        description: "While its creation job is queued, the dataset is reported with state 'pending'.",
        params: DatasetParams,
        response: { 200: Type.Ref('DatasetInfo'), ...problems(400, 404, 503) },
      },
    },
    async (request) => {
      const { storage, datasets, project } = app.ph5;
      const proj = project(request);
      const file = validateFileName(request.params.file);
      await storage.resolve(proj, file);
      const h5path = normalizeH5Path(request.params.path);
      const meta = await datasets.lookup(proj, file, h5path);
      if (!meta) throw new errors.NotFound(`No dataset ${h5path} in ${file}.`);
      return meta;
    },
  );

  app.put<{ Params: Static<typeof DatasetParams>; Querystring: Static<typeof ValueQuery>; Body: unknown }>(
    '/v1/files/:file/datasets/:path/value',
    {
      schema: {
        operationId: 'writeDatasetValue',
        tags: ['datasets'],
        summary: 'Write values into a selection of a dataset',
        description:
          'Body: JSON nested arrays matching the selection (or flat), or application/octet-stream raw C-order bytes of the selection ' +
          'in the dataset’s byte order (or the one named by ?dtype=). The length must be elements × itemsize. A job: answers 202.',
        params: DatasetParams,
        querystring: ValueQuery,
        body: {
          content: {
            'application/json': { schema: { description: 'Nested arrays of values', examples: [[0, 1, 2, 3]] } },
            // Validated by byte count, not by schema (the handler gets the raw stream);
            // the OpenAPI document shows it as binary (see plugins/external/swagger.ts).
            'application/octet-stream': { schema: BINARY },
          },
        },
        response: { 202: Accepted, ...problems(400, 404, 413, 415, 503) },
      },
    },
    async (request, reply) => {
      const { storage, datasets, jobs, config, project } = app.ph5;
      const proj = project(request);
      const binary = request.headers['content-type']?.startsWith('application/octet-stream') ?? false;
      const body = request.body as Readable | unknown;
      const drain = () => {
        if (binary) (body as Readable).resume();
      };
      let staged: string | undefined;
      try {
        const file = validateFileName(request.params.file);
        await storage.resolve(proj, file);
        const h5path = normalizeH5Path(request.params.path);
        const meta = await datasets.lookup(proj, file, h5path);
        if (!meta) throw new errors.NotFound(`No dataset ${h5path} in ${file}.`);
        const dtype = parseDtype(meta.dtype);
        let payloadDtype: Dtype = dtype;
        if (request.query.dtype !== undefined) {
          if (!binary) throw new InputError('PH5_ERR_DTYPE', '?dtype= describes binary bodies; JSON values are converted to the dataset’s dtype.');
          payloadDtype = parseDtype(request.query.dtype);
          if (payloadDtype.kind !== dtype.kind || payloadDtype.size !== dtype.size) {
            throw new InputError('PH5_ERR_DTYPE', `The body dtype ${request.query.dtype} must be ${meta.dtype} in either byte order.`);
          }
        }
        const hs = resolveSelection(request.query.select, meta.shape);
        const expected = elementCount(hs.count) * dtype.size;
        if (binary) {
          if (expected > config.maxBodyBytes) throw new errors.BodyTooLarge(`The selection needs ${expected} bytes; this server accepts at most ${config.maxBodyBytes}.`);
          const declared = request.headers['content-length'];
          if (declared !== undefined && Number(declared) !== expected) {
            throw new errors.BodyLength(`Content-Length is ${declared}; the selection needs ${expected} bytes (${elementCount(hs.count)} elements × ${dtype.size}).`);
          }
          staged = await storage.stageStream(body as Readable, expected);
        } else {
          staged = await storage.stageBuffer(encodeJson(body, dtype, hs.count));
        }
        const data: JobData = {
          v: 1,
          project: proj,
          file,
          acceptedAt: Date.now(),
          ops: [{ op: 'write', path: h5path, dtype: meta.dtype, payloadDtype: formatDtype(payloadDtype), select: request.query.select ?? '', hyperslab: hs, staged, bytes: expected }],
        };
        const job = await jobs.enqueue(data);
        return accepted(reply, app, job);
      } catch (err) {
        drain();
        if (staged) await storage.unstage(staged);
        throw err;
      }
    },
  );

  app.get<{ Params: Static<typeof DatasetParams>; Querystring: Static<typeof ValueQuery> }>(
    '/v1/files/:file/datasets/:path/value',
    {
      schema: {
        operationId: 'readDatasetValue',
        tags: ['datasets'],
        summary: 'Read values of a selection, as JSON or raw bytes (Accept: application/octet-stream)',
        description: 'Reads see every job that has completed and never a job half-applied.',
        params: DatasetParams,
        querystring: ValueQuery,
        response: {
          200: {
            description: 'The selection’s values',
            content: { 'application/json': { schema: ValueJson }, 'application/octet-stream': { schema: BINARY } },
          },
          ...problems(400, 404, 413, 503),
        },
      },
    },
    async (request, reply) => {
      const { storage, datasets, project } = app.ph5;
      const proj = project(request);
      const file = validateFileName(request.params.file);
      await storage.resolve(proj, file);
      const h5path = normalizeH5Path(request.params.path);
      if (request.query.dtype !== undefined) throw new InputError('PH5_ERR_DTYPE', 'Reads return the dataset’s own dtype; ?dtype= is for writes.');
      const binary = (request.headers.accept ?? '').includes('application/octet-stream');
      const result = await datasets.withFile(proj, file, async (f) => {
        let info;
        try {
          info = await f.datasetInfo(h5path);
        } catch (err) {
          if ((err as { code?: string }).code === 'PH5_ERR_NOT_FOUND') return null;
          throw err;
        }
        const hs = resolveSelection(request.query.select, info.shape);
        if (!binary && elementCount(hs.count) > MAX_JSON_READ_ELEMENTS) {
          throw new errors.BodyTooLarge(`The selection has ${elementCount(hs.count)} elements; ask for Accept: application/octet-stream above ${MAX_JSON_READ_ELEMENTS}.`);
        }
        return { info, hs, bytes: await f.read(h5path, info.shape.length === 0 ? null : hs) };
      });
      if (!result) {
        const pending = await datasets.lookup(proj, file, h5path);
        throw new errors.NotFound(pending ? `${h5path} in ${file} is not created yet (its job is queued).` : `No dataset ${h5path} in ${file}.`);
      }
      const dtypeName = formatDtype(result.info.dtype);
      if (binary) {
        return reply
          .type('application/octet-stream')
          .header('x-ph5-dtype', dtypeName)
          .header('x-ph5-shape', result.hs.count.join(','))
          .send(result.bytes);
      }
      return { dtype: dtypeName, shape: result.hs.count, data: decodeJson(result.bytes, result.info.dtype, result.hs.count) };
    },
  );
}
