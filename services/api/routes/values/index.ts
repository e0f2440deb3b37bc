/**
 * The values of a dataset: write a selection (JSON, raw bytes or .npy; a job) and read one
 * (JSON, raw bytes or .npy). Nested HDF5 paths travel URL-encoded as ONE segment
 * (`grp%2Fdset`).
 *
 * Order of work when writing: validate everything that can be validated without side
 * effects, then stage the payload, then (last) enqueue; whatever fails undoes what was
 * done, so a refused request leaves no job and no staged file.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Type } from 'typebox';
import type { Dtype } from '../../../shared/dtype.js';
import { InputError } from '../../../shared/input-error.js';
import { NPY_MEDIA_TYPE, readNpyHeader } from '../../../shared/npy.js';
import { badStringSlot } from '../../../shared/string-slots.js';
import { errors } from '../../errors.js';
import { layoutRefusal } from '../../domain/datasets.js';
import { checkDeclaredLength, checkPayload, expectedBytes, fromNpyHeader, planValueWrite, valueWriteOp, type BodyKind } from '../../domain/value-write.js';
import { beginIdempotent, requestFingerprint, type IdempotentStart } from '../../domain/idempotency.js';
import { replyAccepted, requestTarget } from '../../lib/route-helpers.js';
import { AcceptedOrReplayed, BINARY, DatasetPathParam, FileName, problems } from '../../schemas/common.js';
import { ValueQuery } from '../../schemas/datasets.js';
import readValueRoute from './read.js';
import readPointsRoute from './points.js';

const DatasetParams = Type.Object({ file: FileName, path: DatasetPathParam });

/** How a value body is encoded: raw bytes, a .npy file, or JSON. */
function bodyKind(request: FastifyRequest): BodyKind {
  const type = (request.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('application/octet-stream')) return 'raw';
  if (type.startsWith(NPY_MEDIA_TYPE)) return 'npy';
  return 'json';
}

export default async function valueRoutes(fastify: FastifyInstance): Promise<void> {
  // Request types come from the route schemas (TypeBox), not written out again.
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  // Binary bodies reach the handler as the raw request stream: they go to disk as they
  // arrive, are counted on the way, and are never held whole in memory.
  app.addContentTypeParser(['application/octet-stream', NPY_MEDIA_TYPE], (_request, payload, done) => done(null, payload));

  app.put(
    '/v1/files/:file/datasets/:path/value',
    {
      config: { role: 'write' },
      schema: {
        operationId: 'writeDatasetValue',
        tags: ['datasets'],
        summary: 'Write values into a selection of a dataset',
        description:
          'Body: JSON nested arrays matching the selection’s shape (or a flat array of its length), values in the dtype’s JSON form (docs/api.md, Types); application/octet-stream: the raw C-order bytes of the selection ' +
          'in the dataset’s byte order, or in the one named by ?dtype= (exactly elements × itemsize bytes; a variable-length string dataset takes fixed-width slots, ?dtype=S<n>); or application/x-npy: a C-order .npy file (numpy.save) ' +
          'with as many elements as the selection, in the dataset’s dtype or its other byte order (structured and complex headers included; |S<n> for string datasets). ' +
          'The payload is staged durably, then a job is queued: 202 with the job, its URL in Location. ' +
          'An empty selection (e.g. [5:5], or any selection of an empty dataset) takes an empty body (JSON [], zero bytes) and is accepted as a job that changes nothing. ' +
          'Point writes: ?points=[[i,j],…] with any body (as many elements as points, in their order), or a JSON body {"points": [[i,j],…], "value": […]}; each point at most once, inside the extent (else 400 PH5_ERR_SELECTION). ' +
          'A dataset with a compact (or virtual) layout, which parallel HDF5 cannot write, is refused at once with 409 PH5_ERR_LAYOUT and nothing changes. ' +
          'Large arrays may be sent as row-block parts (one PUT per ?select= block, several at once): each part is atomic and applied as soon as it is accepted; the whole is not (docs/api.md, Large writes in parts). ' +
          'With Idempotency-Key, a retry of the same request answers 202 with the original job (header Idempotent-Replayed: true) instead of queueing it again.',
        params: DatasetParams,
        querystring: ValueQuery,
        headers: Type.Object({
          'idempotency-key': Type.Optional(
            Type.String({
              description:
                'Makes a retry safe: the same key (per project, kept 24 h) with the same request answers the original job without reading the body; with a different request 409 PH5_ERR_IDEMPOTENCY_KEY; ' +
                'while the first is still being received 409 PH5_ERR_IDEMPOTENCY_IN_PROGRESS. A request that fails releases its key. 1–255 printable ASCII characters.',
              examples: ['3f1c2a9e-upload-7-part-0003'],
            }),
          ),
        }),
        body: {
          content: {
            'application/json': {
              schema: {
                description: 'Nested arrays of values (C order).',
                examples: [
                  [0, 1, 2, 3],
                  [
                    [1.5, 2.5],
                    [3.5, 4.5],
                  ],
                ],
              },
            },
            // Checked by byte count, not by schema (the handler gets the raw stream). The
            // OpenAPI document shows it as binary (plugins/external/swagger.ts).
            'application/octet-stream': { schema: BINARY },
            'application/x-npy': {
              schema: {
                ...BINARY,
                description:
                  'A C-order .npy file (numpy.save) whose element count matches the selection; its dtype may differ from the dataset’s only in byte order.',
              },
            },
          },
        },
        response: { 202: AcceptedOrReplayed, ...problems(400, 401, 403, 404, 409, 413, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      const { storage, datasets, config, writeGroups } = app;
      const kind = bodyKind(request);
      const binary = kind !== 'json';
      let staged: string | undefined;
      let idempotent: IdempotentStart | null = null;
      try {
        const { project: proj, file, path: h5path } = await requestTarget(app, request, request.params.file, request.params.path);
        // A retried part (same Idempotency-Key) answers its original job (domain/idempotency.ts).
        const selectText = request.query.select ?? (request.query.points !== undefined ? `points=${request.query.points}` : undefined);
        idempotent = await beginIdempotent(
          app,
          request,
          proj,
          requestFingerprint({
            route: 'PUT value',
            file,
            path: h5path,
            select: selectText,
            dtype: request.query.dtype,
            contentType: request.headers['content-type'],
            contentLength: request.headers['content-length'],
          }),
        );
        if (idempotent?.kind === 'replay') {
          if (binary) reply.header('connection', 'close'); // its body is not read
          // The original may have been answered 503 PH5_ERR_NOT_REPLICATED: the replay's 202 waits for replicas too.
          await app.replication.confirm(app.replication.mark());
          return reply
            .code(202)
            .header('location', `/v1/jobs/${idempotent.job.id}`)
            .header('idempotent-replayed', 'true')
            .send({ job: await app.jobs.view(idempotent.job) });
        }
        const declared = request.headers['content-length'];
        checkDeclaredLength(kind, declared, config.maxBodyBytes);
        const meta = await datasets.forWrite(proj, file, h5path);
        if (!meta) throw new errors.NotFound(`No dataset ${h5path} in ${file}.`);
        const unwritable = layoutRefusal(meta, h5path, file);
        if (unwritable) throw unwritable;
        // What is written and in which type (domain/value-write.ts decides; this route does the I/O).
        const plan = planValueWrite({ kind, h5path, dataset: meta, query: request.query, body: request.body });
        const { dtype, points, json } = plan;
        await app.quota.check(proj);
        let sized = { payloadDtype: plan.payloadDtype, expected: expectedBytes(plan, config.maxBodyBytes), headerBytes: 0 };
        if (kind === 'npy') sized = fromNpyHeader(plan, await readNpyHeader(request.body as Readable), config.maxBodyBytes);
        checkPayload(plan, sized, kind, declared);
        const { payloadDtype, expected } = sized;
        const write = valueWriteOp(plan, h5path, meta.dtype, payloadDtype, expected);
        // Small writes are committed in groups (domain/write-groups.ts): read whole,
        // staged together with the others that arrive meanwhile, queued as one job.
        // (Point writes are staged alone: their coordinates go before their values.)
        if (!points && writeGroups.accepts(expected)) {
          const payload = json ? json.bytes : await storage.readBody(request.body as Readable, expected);
          if (!json) checkStringSlots(payload, dtype, payloadDtype);
          const grouped = await writeGroups.submit(proj, file, write, payload);
          await idempotent?.commit(grouped.job.id!);
          return replyAccepted(app, reply, grouped.job, grouped.op);
        }
        staged = json
          ? await storage.stageBuffer(points ? Buffer.concat([points.coords, json.bytes]) : json.bytes)
          : await storage.stageStream(request.body as Readable, expected, points?.coords);
        if (!json && dtype.kind === 'string') await checkStagedStringSlots(path.join(storage.staging, staged), points?.coords.length ?? 0, dtype, payloadDtype);
        const op = { ...write, staged };
        const payload = staged;
        staged = undefined; // submit owns the payload now (it unstages it if queueing fails)
        const job = await app.operations.submit({ project: proj, file, ops: [op], staged: [payload], quotaChecked: true });
        await idempotent?.commit(job.id!);
        return replyAccepted(app, reply, job);
      } catch (err) {
        if (staged) await storage.unstage(staged);
        if (idempotent?.kind === 'fresh') await idempotent.release();
        // A binary body we did not read to the end is not drained (it may be gigabytes):
        // the connection is closed after the answer instead.
        if (binary && !(request.body as Readable | undefined)?.readableEnded) reply.header('connection', 'close');
        throw err;
      }
    },
  );

  // Reads (GET): their own module, streamed; point reads (POST …/value/points) too.
  await app.register(readValueRoute);
  await app.register(readPointsRoute);
}

/** Refuses slots bound for a variable-length string dataset that it cannot hold (string-slots.ts). */
function checkStringSlots(bytes: Buffer, dtype: Dtype, payloadDtype: Dtype, first = 0): void {
  if (dtype.kind !== 'string') return;
  const why = badStringSlot(bytes, payloadDtype.size, dtype.charset === 'ascii', first);
  if (why) throw new InputError('PH5_ERR_VALUE', why);
}

/** The same for a staged body (after `skip` bytes of point coordinates), read in pieces of whole slots. */
async function checkStagedStringSlots(file: string, skip: number, dtype: Dtype, payloadDtype: Dtype): Promise<void> {
  const width = payloadDtype.size;
  const piece = Buffer.alloc(width * Math.max(1, Math.floor((4 << 20) / width)));
  const handle = await open(file, 'r');
  try {
    for (let at = skip, first = 0; ;) {
      const { bytesRead } = await handle.read(piece, 0, piece.length, at);
      if (bytesRead === 0) return;
      checkStringSlots(piece.subarray(0, bytesRead), dtype, payloadDtype, first);
      at += bytesRead;
      first += Math.floor(bytesRead / width);
    }
  } finally {
    await handle.close();
  }
}
