/**
 * Point selections of a dataset's values (shared/points.ts): reads of a list of points,
 * by `GET …/value?points=[[1,2],[3,4]]` (short lists) or `POST …/value/points` with a JSON
 * body `{"points": [[1,2],[3,4]]}` (long ones), answered 1-D in the order of the list as
 * JSON, raw bytes or .npy; and the helpers the write route uses for point writes.
 *
 * A point read is one native read (one H5Dread of the point selection, off the main
 * thread) under the file's read lease: at most MAX_POINTS elements, so no pieces. The
 * JSON text is still produced in pieces, yielding between them, so that a long list does
 * not hold the main thread for the whole encoding.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Readable } from 'node:stream';
import { Type } from 'typebox';
import type { DatasetInfo, H5File } from '../../../../native/lib/index.js';
import { dtypeSpec, formatDtype } from '../../../shared/dtype.js';
import { InputError } from '../../../shared/input-error.js';
import { JsonValueEncoder } from '../../../shared/json-stream.js';
import { NPY_MEDIA_TYPE, encodeNpyHeader } from '../../../shared/npy.js';
import { MAX_POINTS, resolvePoints } from '../../../shared/points.js';
import { errors } from '../../errors.js';
import { datasetInfoOrNull } from '../../domain/datasets.js';
import { requestTarget } from '../../lib/route-helpers.js';
import { BINARY, DatasetPathParam, FileName, problems } from '../../schemas/common.js';
import { ValueJson } from '../../schemas/datasets.js';
import { answerKind } from './answer-kind.js';
import { dtypeHeader, MAX_DTYPE_HEADER_BYTES } from './dtype-header.js';

const DatasetParams = Type.Object({ file: FileName, path: DatasetPathParam });

/** Elements per JSON piece of a point read's answer. */
const JSON_PIECE_ELEMENTS = 8192;

/** The JSON answer's text, piece by piece, yielding to other requests between pieces. */
async function* jsonPieces(encoder: JsonValueEncoder, bytes: Buffer, itemSize: number): AsyncGenerator<Buffer> {
  yield Buffer.from(encoder.head());
  const count = bytes.length / itemSize;
  for (let from = 0; from < count; from += JSON_PIECE_ELEMENTS) {
    const to = Math.min(count, from + JSON_PIECE_ELEMENTS);
    yield Buffer.from(encoder.encode(bytes.subarray(from * itemSize, to * itemSize)));
    if (to < count) await new Promise((resolve) => setImmediate(resolve));
  }
  yield Buffer.from(encoder.tail());
}

/**
 * Reads the points `list` of the dataset (its `info`) from the open file and answers them
 * (the read lease is held until this returns; the answer's bytes are in memory by then).
 */
export async function answerPoints(request: FastifyRequest, reply: FastifyReply, f: H5File, h5path: string, info: DatasetInfo, list: unknown): Promise<void> {
  const answer = answerKind(request.headers.accept);
  const points = resolvePoints(list, info.shape, { unique: false });
  const dtype = info.dtype;
  const shape = [points.count];
  // Every answer says what it holds, as reads of hyperslabs do.
  reply.headers({ ...dtypeHeader(formatDtype(dtype)), 'x-ph5-shape': String(points.count) });
  if (dtype.kind === 'string') {
    // Variable-length strings: their own native call, and JSON answers only (as reads of hyperslabs).
    if (answer !== 'json')
      throw new InputError(
        'PH5_ERR_NOT_ACCEPTABLE',
        `${h5path} holds variable-length strings, which are answered as JSON only: ask for Accept: application/json.`,
        406,
      );
    const values = await f.readStrings(h5path, { points: points.coords });
    const encoder = new JsonValueEncoder(dtypeSpec(dtype), dtype, shape);
    reply.header('content-type', 'application/json; charset=utf-8');
    reply.send(encoder.head() + encoder.encodeStrings(values) + encoder.tail());
    return;
  }
  const bytes = await f.read(h5path, { points: points.coords });
  if (answer === 'json') {
    // The answer names the dtype by its spec (an object for enums and compounds).
    const encoder = new JsonValueEncoder(dtypeSpec(dtype), dtype, shape);
    reply.header('content-type', 'application/json; charset=utf-8');
    reply.send(Readable.from(jsonPieces(encoder, bytes, dtype.size)));
    return;
  }
  if (answer === 'npy') {
    const head = encodeNpyHeader(dtype, shape);
    reply.header('content-type', NPY_MEDIA_TYPE).header('content-length', head.length + bytes.length);
    reply.send(Buffer.concat([head, bytes]));
    return;
  }
  reply.header('content-type', 'application/octet-stream').header('content-length', bytes.length);
  reply.send(bytes);
}

const PointsBody = Type.Object(
  {
    points: Type.Unknown({
      description: `The points: one list of coordinates per element (a 1-D dataset also takes plain indices), at most ${MAX_POINTS}; duplicates are allowed in a read.`,
      examples: [
        [
          [1, 2],
          [3, 4],
        ],
      ],
    }),
  },
  { additionalProperties: false },
);

export default async function readPointsRoute(fastify: FastifyInstance): Promise<void> {
  // Request types come from the route schemas (TypeBox), not written out again.
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.post(
    '/v1/files/:file/datasets/:path/value/points',
    {
      config: { role: 'read' },
      schema: {
        operationId: 'readDatasetPoints',
        tags: ['datasets'],
        summary: 'Read the values at a list of points (a point selection)',
        description:
          'The values of the elements at the listed points, 1-D in the order of the list (duplicates allowed), as JSON {dtype, shape: [n], data} by default, ' +
          'raw bytes with Accept: application/octet-stream (headers X-Ph5-Dtype, X-Ph5-Shape; X-Ph5-Dtype as in readDatasetValue), or a .npy file with Accept: application/x-npy. ' +
          `For lists too long for GET …/value?points=. At most ${MAX_POINTS} points; every point must be inside the extent and have one coordinate per dimension (else 400 PH5_ERR_SELECTION). ` +
          'Changes nothing: a read, like GET (it sees every job that has completed, never one half-applied).',
        params: DatasetParams,
        body: PointsBody,
        response: {
          200: {
            description: 'The values at the points, in their order.',
            headers: {
              'X-Ph5-Dtype': {
                type: 'string',
                minLength: 1,
                description: `The dtype of the values (the dataset’s, as in DatasetInfo.dtype): its spec string, or the JSON text of an object spec (non-ASCII escaped). Left out when that text is over ${MAX_DTYPE_HEADER_BYTES} bytes: HTTP clients cap an answer's headers (Node's at 16 KiB).`,
                examples: ['int32'],
              },
              'X-Ph5-Shape': {
                type: 'string',
                pattern: '^[0-9]+$',
                required: true,
                description: 'The number of points answered (the answer is 1-D).',
                examples: ['2'],
              },
            },
            content: {
              'application/json': { schema: ValueJson },
              'application/octet-stream': { schema: BINARY },
              'application/x-npy': { schema: { ...BINARY, description: 'A .npy file (numpy.load reads it), shape (n,).' } },
            },
          },
          ...problems(400, 401, 403, 404, 406, 409, 413, 415, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const { datasets } = app;
      const { project: proj, file, path: h5path } = await requestTarget(app, request, request.params.file, request.params.path);
      const found = await datasets.withFile(proj, file, async (f) => {
        const info = await datasetInfoOrNull(f, h5path);
        if (!info) return null;
        await answerPoints(request, reply, f, h5path, info, request.body.points);
        return true;
      });
      if (found === null) {
        const pending = await datasets.pending(proj, file, h5path);
        throw new errors.NotFound(pending ? `${h5path} in ${file} does not exist yet: the job creating it has not run.` : `No dataset ${h5path} in ${file}.`);
      }
      return reply;
    },
  );
}
