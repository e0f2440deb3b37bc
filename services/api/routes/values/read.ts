/**
 * GET …/value: the values of a selection, as raw bytes, a .npy file or JSON, streamed.
 *
 * The selection is read from HDF5 in pieces (row blocks, shared/read-pieces.ts) while the
 * file's read lease is held for the whole answer, so the answer is one consistent state
 * of the file (no job half-applied), as when it was read whole. The HDF5 read of piece
 * k+1 runs (off the main thread) while piece k is being sent; two piece buffers per read,
 * reused for the whole answer (send-pieces.ts): a read's memory does not grow with the
 * selection. JSON answers are encoded piece by piece (shared/json-stream.ts) into
 * exactly the text the whole-selection encoder gives.
 *
 * The lease is released when the answer ends, whichever way: complete, client gone,
 * client not reading for PH5_READ_STALL_MS, the whole taking over PH5_READ_MAX_MS, or an
 * HDF5 failure mid-answer (then the connection is destroyed: a binary answer is shorter
 * than its Content-Length, a JSON one's chunked body has no final chunk, so no client
 * takes it for complete).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { OutgoingHttpHeaders } from 'node:http';
import { Type, type Static } from 'typebox';
import type { H5File } from '../../../../native/lib/index.js';
import type { ReadSettings } from '../../../shared/config.js';
import { dtypeSpec, formatDtype, parseDtype } from '../../../shared/dtype.js';
import { InputError } from '../../../shared/input-error.js';
import { JsonValueEncoder } from '../../../shared/json-stream.js';
import { NPY_MEDIA_TYPE, encodeNpyHeader } from '../../../shared/npy.js';
import { pieceCount, readPieces, type ReadPiece } from '../../../shared/read-pieces.js';
import { elementCount, resolveSelection } from '../../../shared/selection.js';
import { errors } from '../../errors.js';
import { datasetInfoOrNull } from '../../domain/datasets.js';
import { requestTarget } from '../../lib/route-helpers.js';
import { BINARY, DatasetPathParam, FileName, problems } from '../../schemas/common.js';
import { ValueJson, ValueQuery } from '../../schemas/datasets.js';
import { answerKind } from './answer-kind.js';
import { applySwaps, byteOrderSwaps, type Swap } from './byte-order.js';
import { answerPoints } from './points.js';
import { parsePointsText } from '../../../shared/points.js';
import { sendPieces, type PieceSource } from './send-pieces.js';
import { dtypeHeader, MAX_DTYPE_HEADER_BYTES } from './dtype-header.js';

const DatasetParams = Type.Object({ file: FileName, path: DatasetPathParam });

/**
 * Largest selection answered as JSON (2^26: 512 MiB of float64, ~1.1 GB of text). The
 * API's memory does not depend on it (the answer streams); it bounds how long one JSON
 * answer keeps the main thread encoding, in 64 KiB pieces (32 Mi float64 took 9–20 s on
 * the 2-core VM), and the file's lease held.
 */
export const MAX_JSON_READ_ELEMENTS = 2 ** 26;
/** Largest selection read in one request, raw or .npy (streamed: memory does not depend on it). */
export const MAX_READ_BYTES = 16 * 1024 ** 3;
/**
 * Raw bytes per JSON piece: small, because each piece's text is built on the main thread
 * (a few ms per 8 Ki float64, so other requests are served between pieces) and is 2–6
 * times the bytes; and its short strings then die young (512 KiB pieces: +125 MiB of heap
 * and twice the time for a 256 MiB read, bench/README.md).
 */
const JSON_PIECE_BYTES = 64 * 1024;

/**
 * Elements per piece of a variable-length string read (H5File.readStrings): their size is
 * not known before they are read, so pieces are counted in elements, not bytes.
 */
const STRING_PIECE_ELEMENTS = 4096;

/** The JSON pieces of a variable-length string selection, read with readStrings. */
function stringPieceSource(f: H5File, h5path: string, pieces: Iterator<ReadPiece>, count: number, encoder: JsonValueEncoder): PieceSource {
  return {
    count,
    async produce() {
      const piece = pieces.next();
      if (piece.done) throw new Error('read: fewer pieces than planned');
      const values = await f.readStrings(h5path, piece.value.hyperslab);
      if (values.length !== piece.value.elements) throw new Error(`read: ${values.length} strings for a piece of ${piece.value.elements}`);
      return Buffer.from(encoder.encodeStrings(values));
    },
  };
}

/**
 * The pieces of a selection read from `f` into two reusable buffers of `slotBytes` (raw,
 * .npy: the bytes sent are views of them), or encoded to JSON text (`encode`).
 */
function pieceSource(
  f: H5File,
  h5path: string,
  pieces: Iterator<ReadPiece>,
  count: number,
  itemSize: number,
  slotBytes: number,
  encode?: (bytes: Buffer) => Buffer,
): PieceSource {
  const slots = [Buffer.allocUnsafeSlow(slotBytes), Buffer.allocUnsafeSlow(slotBytes)] as const;
  return {
    count,
    async produce(_k, slot) {
      const piece = pieces.next();
      if (piece.done) throw new Error('read: fewer pieces than planned');
      const into = slots[slot].subarray(0, piece.value.elements * itemSize);
      await f.read(h5path, piece.value.hyperslab, { into });
      return encode ? encode(into) : into;
    },
  };
}

export default async function readValueRoute(fastify: FastifyInstance): Promise<void> {
  // Request types come from the route schemas (TypeBox), not written out again.
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/v1/files/:file/datasets/:path/value',
    {
      config: { role: 'read' },
      schema: {
        operationId: 'readDatasetValue',
        tags: ['datasets'],
        summary: 'Read the values of a selection, as JSON or raw bytes',
        description:
          'JSON {dtype, shape, data} by default; with Accept: application/octet-stream, the raw C-order bytes in the dataset’s dtype; ' +
          `with Accept: application/x-npy, a .npy file. Every answer carries X-Ph5-Dtype and X-Ph5-Shape, which describe the values (X-Ph5-Dtype is the canonical text: JSON for enums and compounds, non-ASCII escaped; left out when that text is over ${MAX_DTYPE_HEADER_BYTES} bytes, as HTTP clients cap headers: the dataset’s info has it). ` +
          'Raw and .npy answers come in the other byte order with ?dtype= (e.g. >i4 for an int32 dataset: each element’s bytes reversed, per field of a compound); a ?dtype= of another kind or size, or with a JSON answer, is refused (400 PH5_ERR_DTYPE). ' +
          'Variable-length string datasets are answered as JSON only (406 PH5_ERR_NOT_ACCEPTABLE otherwise). A read sees every job that has completed, never a job half-applied. ' +
          'An empty selection ([5:5], or an empty dataset) answers an empty value: JSON [] nested to its shape, zero raw bytes, a .npy of shape (0,). ' +
          'With ?points=[[i,j],…] instead of ?select=: the values at those points, 1-D in their order (long lists: POST …/value/points). ' +
          `The answer streams (raw and .npy with an exact Content-Length, JSON chunked); a body cut short means the read failed. JSON answers hold at most ${MAX_JSON_READ_ELEMENTS} elements; one read at most ${MAX_READ_BYTES} bytes.`,
        params: DatasetParams,
        querystring: ValueQuery,
        response: {
          200: {
            description: 'The values of the selection.',
            headers: {
              'X-Ph5-Dtype': {
                type: 'string',
                minLength: 1,
                description: `The dtype of the values (the dataset’s, as in DatasetInfo.dtype): its spec string, e.g. int32, >f8, S16, or the JSON text of an object spec (non-ASCII escaped). Left out when that text is over ${MAX_DTYPE_HEADER_BYTES} bytes (a compound of hundreds of fields): HTTP clients cap an answer's headers (Node's at 16 KiB).`,
                examples: ['int32'],
              },
              'X-Ph5-Shape': {
                type: 'string',
                pattern: '^([0-9]+(,[0-9]+)*)?$',
                required: true,
                description: 'The shape of the selection answered, comma-separated (e.g. 3,4); empty for a scalar.',
                examples: ['3,4'],
              },
            },
            content: {
              'application/json': { schema: ValueJson },
              'application/octet-stream': { schema: BINARY },
              'application/x-npy': { schema: { ...BINARY, description: 'A .npy file (numpy.load reads it).' } },
            },
          },
          ...problems(400, 401, 403, 404, 406, 409, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const { datasets, config } = app;
      const { project: proj, file, path: h5path } = await requestTarget(app, request, request.params.file, request.params.path);
      const found = await datasets.withFile(proj, file, (f) => streamValue(request, request.query, reply, f, h5path, config.reads));
      if (found === null) {
        const pending = await datasets.pending(proj, file, h5path);
        throw new errors.NotFound(pending ? `${h5path} in ${file} does not exist yet: the job creating it has not run.` : `No dataset ${h5path} in ${file}.`);
      }
      return reply;
    },
  );
}

/**
 * Answers the read from the open file (the lease is held until this returns). Null when
 * there is no dataset at the path; errors before the first byte is sent are thrown (the
 * usual problem answer); after that they end the connection.
 */
async function streamValue(
  request: FastifyRequest,
  query: Static<typeof ValueQuery>,
  reply: FastifyReply,
  f: H5File,
  h5path: string,
  settings: ReadSettings,
): Promise<true | null> {
  const info = await datasetInfoOrNull(f, h5path);
  if (!info) return null;
  if (query.points !== undefined) {
    // A point selection: one native read, answered 1-D in the order of the points (points.ts).
    if (query.select !== undefined) throw new InputError('PH5_ERR_SELECTION', 'Name the elements once: ?points= or ?select=, not both.');
    if (query.dtype !== undefined) throw new InputError('PH5_ERR_DTYPE', 'Point reads answer in the dataset’s own dtype: omit ?dtype=.');
    await answerPoints(request, reply, f, h5path, info, parsePointsText(query.points));
    return true;
  }
  const answer = answerKind(request.headers.accept);
  const dtype = info.dtype;
  const strings = dtype.kind === 'string';
  if (strings && answer !== 'json') {
    throw new InputError(
      'PH5_ERR_NOT_ACCEPTABLE',
      `${h5path} holds variable-length strings, which are answered as JSON only: ask for Accept: application/json.`,
      406,
    );
  }
  const hs = resolveSelection(query.select, info.shape);
  const elements = elementCount(hs.count);
  const bytes = elements * dtype.size;
  if (bytes > MAX_READ_BYTES) {
    throw new InputError('PH5_ERR_TOO_LARGE', `The selection is ${bytes} bytes; read at most ${MAX_READ_BYTES} per request.`);
  }
  if (answer === 'json' && elements > MAX_JSON_READ_ELEMENTS) {
    throw new InputError(
      'PH5_ERR_TOO_LARGE',
      `The selection has ${elements} elements; above ${MAX_JSON_READ_ELEMENTS}, ask for Accept: application/octet-stream.`,
    );
  }
  // ?dtype=: raw and .npy answers in another byte order (byte-order.ts); nothing else.
  let answerDtype = dtype;
  let swaps: Swap[] = [];
  if (query.dtype !== undefined) {
    if (answer === 'json') {
      throw new InputError(
        'PH5_ERR_DTYPE',
        '?dtype= picks the byte order of raw and .npy answers; JSON values do not depend on it (omit it, or ask for Accept: application/octet-stream or application/x-npy).',
      );
    }
    const wanted = parseDtype(query.dtype);
    const plan = byteOrderSwaps(dtype, wanted);
    if (!plan) {
      throw new InputError(
        'PH5_ERR_DTYPE',
        `A read answers a ${formatDtype(dtype)} dataset in its dtype, in either byte order; ${formatDtype(wanted)} is another type (only the byte order may differ).`,
      );
    }
    answerDtype = wanted;
    swaps = plan;
  }
  const dtypeName = formatDtype(answerDtype);
  const pieceBytes = answer === 'json' ? Math.min(settings.pieceBytes, JSON_PIECE_BYTES) : settings.pieceBytes;
  // Strings: pieces of STRING_PIECE_ELEMENTS elements (an item size of 1 "byte" each).
  const [pieceItem, pieceLimit] = strings ? [1, STRING_PIECE_ELEMENTS] : [dtype.size, pieceBytes];
  const count = pieceCount(hs, pieceItem, pieceLimit);
  const slotBytes = Math.max(1, Math.min(bytes, Math.max(dtype.size, pieceBytes)));
  // Every answer (JSON, raw, .npy; HEAD too) says what it holds: a client of raw bytes
  // needs them, and the others need not parse the body to know.
  const headers: OutgoingHttpHeaders = { ...dtypeHeader(dtypeName), 'x-ph5-shape': hs.count.join(',') };
  let prefix: Buffer | undefined;
  let tail: (() => Buffer) | undefined;
  let encode: ((raw: Buffer) => Buffer) | undefined;
  let encoder: JsonValueEncoder | undefined;
  if (answer === 'json') {
    // The answer names the dtype by its spec (an object for enums and compounds).
    encoder = new JsonValueEncoder(dtypeSpec(dtype), dtype, hs.count);
    const json = encoder;
    headers['content-type'] = 'application/json; charset=utf-8';
    if (count === 0) prefix = Buffer.from(json.empty());
    else {
      prefix = Buffer.from(json.head());
      tail = () => Buffer.from(json.tail());
      if (!strings) encode = (raw) => Buffer.from(json.encode(raw));
    }
  } else {
    if (answer === 'npy') {
      prefix = encodeNpyHeader(answerDtype, hs.count);
      headers['content-type'] = NPY_MEDIA_TYPE;
    } else {
      headers['content-type'] = 'application/octet-stream';
    }
    headers['content-length'] = (prefix?.length ?? 0) + bytes;
    if (swaps.length > 0) encode = (raw) => applySwaps(raw, dtype.size, swaps); // in place: the piece buffer is ours
  }
  if (request.method === 'HEAD') {
    reply.hijack();
    reply.raw.writeHead(200, { ...(reply.getHeaders() as OutgoingHttpHeaders), ...headers });
    reply.raw.end();
    return true;
  }
  const source = strings
    ? stringPieceSource(f, h5path, readPieces(hs, pieceItem, pieceLimit), count, encoder!)
    : pieceSource(f, h5path, readPieces(hs, dtype.size, pieceBytes), count, dtype.size, slotBytes, encode);
  // Piece 0 before anything is sent: a read that fails at once is still answered as an error.
  const first = count > 0 ? await source.produce(0, 0) : undefined;

  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { ...(reply.getHeaders() as OutgoingHttpHeaders), ...headers });
  if (prefix) res.write(prefix);
  const started = performance.now();
  const outcome = await sendPieces(res, source, settings, { ...(first ? { first } : {}), ...(tail ? { tail } : {}) });
  if (outcome.kind === 'failed') {
    request.log.error({ err: outcome.error, path: h5path, bytes }, 'read failed mid-answer: connection destroyed, body cut short');
  } else if (outcome.kind === 'stalled' || outcome.kind === 'too-slow') {
    request.log.warn({ path: h5path, bytes, ms: Math.round(performance.now() - started) }, `read cut off (${outcome.kind}): the file's read lease is released`);
  }
  return true;
}
