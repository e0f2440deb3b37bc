/**
 * Datasets inside a project's files: create (a job), metadata, write values (a job), read
 * values. Nested HDF5 paths travel URL-encoded as ONE segment (`grp%2Fdset`).
 *
 * Order of work in every accepting route: validate everything that can be validated
 * without side effects, then stage the payload, then (last) enqueue. Whatever fails
 * undoes what was done, so a refused request leaves no job, staged file or registry entry.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { Type, type Static } from 'typebox';
import type { Limits } from '../../../shared/config.js';
import { formatDtype, parseDtype, type Dtype } from '../../../shared/dtype.js';
import { InputError } from '../../../shared/input-error.js';
import { decodeJson, encodeJson } from '../../../shared/json-codec.js';
import { NPY_MEDIA_TYPE, describeNpy, encodeNpyHeader, readNpyHeader } from '../../../shared/npy.js';
import type { CreateDatasetOp, DatasetRecord, JobData } from '../../../shared/jobs.js';
import { normalizeH5Path, validateFileName } from '../../../shared/names.js';
import { elementCount, formatSelection, resolveSelection } from '../../../shared/selection.js';
import { errors } from '../../errors.js';
import { isNativeError } from '../../plugins/app/datasets.js';
import type { Ph5Job } from '../../plugins/app/jobs.js';
import { Accepted, BINARY, DatasetPathParam, FileName, problems } from '../../schemas/common.js';
import { CreateDatasetBody, ValueJson, ValueQuery } from '../../schemas/datasets.js';

const FileParams = Type.Object({ file: FileName });
const DatasetParams = Type.Object({ file: FileName, path: DatasetPathParam });
type CreateBody = Static<typeof CreateDatasetBody>;

/** HDF5 refuses chunks of 4 GiB or more. */
const MAX_CHUNK_BYTES = 2 ** 32 - 1;
/** Largest selection answered as JSON; bigger reads must ask for binary. */
export const MAX_JSON_READ_ELEMENTS = 4_000_000;
/** Largest selection read in one request (the read is held in memory). */
export const MAX_READ_BYTES = 1024 ** 3;

function shapeError(message: string): InputError {
  return new InputError('PH5_ERR_SHAPE', message);
}

/** Checks shape, maxshape and chunks together (the schema checked each alone). */
function checkLayout(body: CreateBody, dtype: Dtype, limits: Limits): void {
  const { shape, maxshape, chunks } = body;
  if (shape.length > limits.maxDims) throw shapeError(`The shape has ${shape.length} dimensions; at most ${limits.maxDims} are allowed (PH5_MAX_DIMS).`);
  const total = shape.reduce((a, b) => a * b, 1);
  if (total > limits.maxElements) {
    throw new InputError('PH5_ERR_TOO_MANY_ELEMENTS', `The shape [${shape.join(', ')}] has ${total} elements; at most ${limits.maxElements} are allowed (PH5_MAX_ELEMENTS).`, 413);
  }
  if (maxshape) {
    if (maxshape.length !== shape.length) throw shapeError(`maxshape has ${maxshape.length} dimension(s); shape has ${shape.length}.`);
    maxshape.forEach((m, i) => {
      if (m !== null && m < shape[i]!) throw shapeError(`maxshape[${i}] (${m}) is smaller than shape[${i}] (${shape[i]}).`);
    });
  }
  if (chunks) {
    if (shape.length === 0) throw shapeError('A scalar dataset cannot be chunked.');
    if (chunks.length !== shape.length) throw shapeError(`chunks has ${chunks.length} dimension(s); shape has ${shape.length}.`);
    const max = maxshape ?? shape;
    chunks.forEach((c, i) => {
      const m = max[i];
      if (m !== null && m !== undefined && c > m) throw shapeError(`chunks[${i}] (${c}) is larger than the dimension's maximum extent (${m}).`);
    });
    const chunkBytes = chunks.reduce((a, b) => a * b, 1) * dtype.size;
    if (chunkBytes > MAX_CHUNK_BYTES) throw shapeError(`A chunk of [${chunks.join(', ')}] is ${chunkBytes} bytes; HDF5 needs chunks under 4 GiB.`);
  } else if (maxshape?.some((m, i) => m !== null && m !== shape[i])) {
    throw shapeError('A dimension whose finite maxshape exceeds its shape needs a chunked layout: give chunks (unlimited dimensions get a default chunk shape).');
  }
}

function accepted(app: FastifyInstance, reply: FastifyReply, job: Ph5Job): FastifyReply {
  const view = app.ph5.jobs.viewAccepted(job);
  return reply.code(202).header('location', `/v1/jobs/${view.id}`).send({ job: view });
}

/** How a value body is encoded: raw bytes, a .npy file, or JSON. */
function bodyKind(request: FastifyRequest): 'raw' | 'npy' | 'json' {
  const type = (request.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('application/octet-stream')) return 'raw';
  if (type.startsWith(NPY_MEDIA_TYPE)) return 'npy';
  return 'json';
}

/** What a read answers with, from Accept: raw bytes, .npy, or JSON (the default). */
function answerKind(request: FastifyRequest): 'raw' | 'npy' | 'json' {
  const accept = request.headers.accept ?? '';
  if (/application\/octet-stream/i.test(accept)) return 'raw';
  if (/application\/x-npy/i.test(accept)) return 'npy';
  return 'json';
}

export default async function fileRoutes(app: FastifyInstance): Promise<void> {
  // Binary bodies reach the handler as the raw request stream: they go to disk as they
  // arrive, are counted on the way, and are never held whole in memory.
  app.addContentTypeParser(['application/octet-stream', NPY_MEDIA_TYPE], (_request, payload, done) => done(null, payload));

  app.post<{ Params: Static<typeof FileParams>; Body: CreateBody }>(
    '/v1/files/:file/datasets',
    {
      config: { role: 'write' },
      schema: {
        operationId: 'createDataset',
        tags: ['datasets'],
        summary: 'Create a dataset (and its file, if absent)',
        description:
          'Queues a job that creates the dataset collectively on the worker pool, and answers 202 at once with the job (its URL is in Location). ' +
          'Writes to the dataset are accepted right away, before the job has run. Without fillValue, no fill pass is made.',
        params: FileParams,
        body: CreateDatasetBody,
        response: { 202: Accepted, ...problems(400, 401, 403, 409, 413, 429, 503) },
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
      checkLayout(body, dtype, app.ph5.config.limits);
      const fillValue = body.fillValue === undefined ? undefined : encodeJson(body.fillValue, dtype, []).toString('base64');
      const dtypeName = formatDtype(dtype);
      await app.ph5.quota.check(proj);

      const jobId = jobs.newId();
      const record: DatasetRecord = {
        dtype: dtypeName,
        shape: body.shape,
        ...(body.maxshape ? { maxshape: body.maxshape } : {}),
        ...(body.chunks ? { chunks: body.chunks } : {}),
        jobId,
      };
      const op: CreateDatasetOp = {
        op: 'createDataset',
        path: h5path,
        dtype: dtypeName,
        shape: body.shape,
        ...(body.maxshape ? { maxshape: body.maxshape } : {}),
        ...(body.chunks ? { chunks: body.chunks } : {}),
        ...(fillValue !== undefined ? { fillValue } : {}),
      };
      const data: JobData = { v: 1, project: proj, file, acceptedAt: Date.now(), ops: [op] };
      // Claimed before queueing, so a write sent right after the 202 finds the shape,
      // and two creations of one path cannot both be accepted.
      if (!(await datasets.claim(proj, file, h5path, record))) {
        throw new errors.Exists(`An object already exists at ${h5path} in ${file} (or its creation is queued).`);
      }
      let job: Ph5Job;
      try {
        job = await jobs.enqueue(data, jobId);
      } catch (err) {
        await datasets.release(proj, file, h5path, jobId).catch(() => {});
        throw err;
      }
      await app.ph5.recordAccepted(proj, String(job.id), data.acceptedAt);
      return accepted(app, reply, job);
    },
  );

  app.get<{ Params: Static<typeof DatasetParams> }>(
    '/v1/files/:file/datasets/:path',
    {
      config: { role: 'read' },
      schema: {
        operationId: 'getDataset',
        tags: ['datasets'],
        summary: 'Describe a dataset: dtype, shape, maxshape, layout, chunks',
        description:
          "Read from the file. While the dataset's creation job is still queued or running, the answer comes from what was accepted, with state 'pending'.",
        params: DatasetParams,
        response: { 200: { description: 'The dataset.', content: { 'application/json': { schema: Type.Ref('DatasetInfo') } } }, ...problems(400, 401, 403, 404, 409, 429, 503) },
      },
    },
    async (request) => {
      const { storage, datasets, project } = app.ph5;
      const proj = project(request);
      const file = validateFileName(request.params.file);
      await storage.resolve(proj, file);
      const h5path = normalizeH5Path(request.params.path);
      const meta = await datasets.describe(proj, file, h5path);
      if (!meta) throw new errors.NotFound(`No dataset ${h5path} in ${file}.`);
      return meta;
    },
  );

  app.put<{ Params: Static<typeof DatasetParams>; Querystring: Static<typeof ValueQuery>; Body: unknown }>(
    '/v1/files/:file/datasets/:path/value',
    {
      config: { role: 'write' },
      schema: {
        operationId: 'writeDatasetValue',
        tags: ['datasets'],
        summary: 'Write values into a selection of a dataset',
        description:
          'Body: JSON nested arrays matching the selection’s shape (or a flat array of its length); application/octet-stream: the raw C-order bytes of the selection ' +
          'in the dataset’s byte order, or in the one named by ?dtype= (exactly elements × itemsize bytes); or application/x-npy: a C-order .npy file (numpy.save) ' +
          'with as many elements as the selection, in the dataset’s dtype or its other byte order. ' +
          'The payload is staged durably, then a job is queued: 202 with the job, its URL in Location.',
        params: DatasetParams,
        querystring: ValueQuery,
        body: {
          content: {
            'application/json': { schema: { description: 'Nested arrays of values (C order).', examples: [[0, 1, 2, 3], [[1.5, 2.5], [3.5, 4.5]]] } },
            // Checked by byte count, not by schema (the handler gets the raw stream). The
            // OpenAPI document shows it as binary (plugins/external/swagger.ts).
            'application/octet-stream': { schema: BINARY },
            'application/x-npy': { schema: { ...BINARY, description: 'A C-order .npy file (numpy.save) whose element count matches the selection; its dtype may differ from the dataset’s only in byte order.' } },
          },
        },
        response: { 202: Accepted, ...problems(400, 401, 403, 404, 409, 413, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      const { storage, datasets, jobs, config, project } = app.ph5;
      const proj = project(request);
      const kind = bodyKind(request);
      const binary = kind !== 'json';
      let staged: string | undefined;
      try {
        const file = validateFileName(request.params.file);
        await storage.resolve(proj, file);
        const h5path = normalizeH5Path(request.params.path);
        const declared = request.headers['content-length'];
        if (binary && declared !== undefined && Number(declared) > config.maxBodyBytes) {
          throw new errors.BodyTooLarge(`The body is ${declared} bytes; this server accepts at most ${config.maxBodyBytes}.`);
        }
        const meta = await datasets.forWrite(proj, file, h5path);
        if (!meta) throw new errors.NotFound(`No dataset ${h5path} in ${file}.`);
        const dtype = parseDtype(meta.dtype);
        const hs = resolveSelection(request.query.select, meta.shape);
        const elements = elementCount(hs.count);
        const expected = elements * dtype.size;
        let payloadDtype: Dtype = dtype;
        if (request.query.dtype !== undefined) {
          if (kind !== 'raw') throw new InputError('PH5_ERR_DTYPE', '?dtype= describes raw binary bodies; JSON values are converted, and a .npy body names its own dtype.');
          payloadDtype = parseDtype(request.query.dtype);
        }
        await app.ph5.quota.check(proj);
        if (binary && expected > config.maxBodyBytes) {
          throw new errors.BodyTooLarge(`The selection needs ${expected} bytes; this server accepts at most ${config.maxBodyBytes} per request: write it in parts.`);
        }
        let headerBytes = 0;
        if (kind === 'npy') {
          const header = await readNpyHeader(request.body as Readable);
          headerBytes = header.dataOffset;
          if (header.fortranOrder) throw new InputError('PH5_ERR_NPY', 'The .npy array is in Fortran order; send a C-order array (numpy.ascontiguousarray).');
          const count = header.shape.reduce((a, b) => a * b, 1);
          if (count !== elements) {
            throw new InputError('PH5_ERR_SELECTION', `The .npy holds a ${describeNpy(header)} (${count} elements); the selection [${hs.count.join(', ')}] needs ${elements}.`);
          }
          payloadDtype = header.dtype;
        }
        if (payloadDtype.kind !== dtype.kind || payloadDtype.size !== dtype.size) {
          throw new InputError('PH5_ERR_DTYPE', `A body of ${formatDtype(payloadDtype)} cannot be written to a ${meta.dtype} dataset: only the byte order may differ.`);
        }
        if (binary) {
          if (declared !== undefined && Number(declared) !== expected + headerBytes) {
            throw new errors.BodyLength(
              `Content-Length is ${declared}; the selection needs ${expected} bytes (${elements} elements × ${dtype.size})${headerBytes ? ` after a ${headerBytes}-byte .npy header` : ''}.`,
            );
          }
          staged = await storage.stageStream(request.body as Readable, expected);
        } else {
          staged = await storage.stageBuffer(encodeJson(request.body, dtype, hs.count));
        }
        const data: JobData = {
          v: 1,
          project: proj,
          file,
          acceptedAt: Date.now(),
          ops: [
            {
              op: 'write',
              path: h5path,
              dtype: meta.dtype,
              payloadDtype: formatDtype(payloadDtype),
              select: request.query.select || formatSelection(hs),
              hyperslab: hs,
              staged,
              bytes: expected,
            },
          ],
        };
        const job = await jobs.enqueue(data);
        staged = undefined; // the job owns the payload now
        await app.ph5.recordAccepted(proj, String(job.id), data.acceptedAt);
        return accepted(app, reply, job);
      } catch (err) {
        if (staged) await storage.unstage(staged);
        // A binary body we did not read to the end is not drained (it may be gigabytes):
        // the connection is closed after the answer instead.
        if (binary && !(request.body as Readable | undefined)?.readableEnded) reply.header('connection', 'close');
        throw err;
      }
    },
  );

  app.get<{ Params: Static<typeof DatasetParams>; Querystring: Static<typeof ValueQuery> }>(
    '/v1/files/:file/datasets/:path/value',
    {
      config: { role: 'read' },
      schema: {
        operationId: 'readDatasetValue',
        tags: ['datasets'],
        summary: 'Read the values of a selection, as JSON or raw bytes',
        description:
          'JSON {dtype, shape, data} by default; with Accept: application/octet-stream, the raw C-order bytes in the dataset’s dtype ' +
          '(headers X-Ph5-Dtype and X-Ph5-Shape describe them); with Accept: application/x-npy, a .npy file. A read sees every job that has completed, never a job half-applied. ' +
          `JSON answers hold at most ${MAX_JSON_READ_ELEMENTS} elements; one read at most ${MAX_READ_BYTES} bytes.`,
        params: DatasetParams,
        querystring: ValueQuery,
        response: {
          200: {
            description: 'The values of the selection.',
            content: {
              'application/json': { schema: ValueJson },
              'application/octet-stream': { schema: BINARY },
              'application/x-npy': { schema: { ...BINARY, description: 'A .npy file (numpy.load reads it).' } },
            },
          },
          ...problems(400, 401, 403, 404, 409, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const { storage, datasets, project } = app.ph5;
      const proj = project(request);
      const file = validateFileName(request.params.file);
      await storage.resolve(proj, file);
      const h5path = normalizeH5Path(request.params.path);
      if (request.query.dtype !== undefined) throw new InputError('PH5_ERR_DTYPE', 'Reads answer in the dataset’s own dtype; ?dtype= is for binary writes.');
      const answer = answerKind(request);
      const binary = answer !== 'json';
      const result = await datasets.withFile(proj, file, async (f) => {
        let info;
        try {
          info = await f.datasetInfo(h5path);
        } catch (err) {
          if (isNativeError(err, 'PH5_ERR_NOT_FOUND')) return null;
          throw err;
        }
        const hs = resolveSelection(request.query.select, info.shape);
        const elements = elementCount(hs.count);
        if (elements * info.dtype.size > MAX_READ_BYTES) {
          throw new InputError('PH5_ERR_TOO_LARGE', `The selection is ${elements * info.dtype.size} bytes; read at most ${MAX_READ_BYTES} per request.`);
        }
        if (!binary && elements > MAX_JSON_READ_ELEMENTS) {
          throw new InputError('PH5_ERR_TOO_LARGE', `The selection has ${elements} elements; above ${MAX_JSON_READ_ELEMENTS}, ask for Accept: application/octet-stream.`);
        }
        return { info, hs, bytes: await f.read(h5path, info.shape.length === 0 ? null : hs) };
      });
      if (!result) {
        const pending = await datasets.pending(proj, file, h5path);
        throw new errors.NotFound(pending ? `${h5path} in ${file} does not exist yet: the job creating it has not run.` : `No dataset ${h5path} in ${file}.`);
      }
      const dtypeName = formatDtype(result.info.dtype);
      if (answer === 'npy') {
        const header = encodeNpyHeader(result.info.dtype, result.hs.count);
        // Header then data, without copying the data into one buffer with it.
        return reply.type(NPY_MEDIA_TYPE).header('content-length', header.length + result.bytes.length).send(Readable.from([header, result.bytes]));
      }
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
