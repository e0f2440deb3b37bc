/**
 * What a write of values (PUT …/value) asks for, decided before anything is staged: which
 * elements (a selection or a list of points), in which payload type, how many bytes the
 * body must hold, and the queued write op. Every function here is a pure decision: it
 * throws the problem a bad request gets, or returns what the route does next.
 *
 * The route calls them in the order a request is refused (tests pin that order): the
 * declared length, then the selection and types (planValueWrite), the project's quota (in
 * the route: Redis), the selection's size (expectedBytes), a .npy header once read
 * (fromNpyHeader), and last the payload's type and length (checkPayload).
 */
import { describeDtype, formatDtype, parseDtype, payloadCompatible, type Dtype } from '../../shared/dtype.js';
import { InputError } from '../../shared/input-error.js';
import { encodeJsonPayload } from '../../shared/json-codec.js';
import { describeNpy, type NpyHeader } from '../../shared/npy.js';
import { formatPoints, parsePointsText, resolvePoints, type ResolvedPoints } from '../../shared/points.js';
import { elementCount, formatSelection, resolveSelection, type Hyperslab } from '../../shared/selection.js';
import type { WriteOp } from '../../shared/jobs.js';
import { errors } from '../errors.js';

/** How a value body is encoded: raw bytes, a .npy file, or JSON. */
export type BodyKind = 'raw' | 'npy' | 'json';

/** A point write's or read's values, as a selection: the 1-D list of its `count` points. */
export function pointListHyperslab(count: number): Hyperslab {
  return { start: [0], stride: [1], count: [count] };
}

/**
 * A JSON write body naming its points: an object with exactly the keys `points` and
 * `value`. (Any other body is the values of a ?select= or ?points= write; a scalar compound
 * dataset whose only fields are `points` and `value` is written in its array form.)
 */
export function pointWriteBody(body: unknown): { points: unknown; value: unknown } | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const keys = Object.keys(body).sort();
  if (keys.length !== 2 || keys[0] !== 'points' || keys[1] !== 'value') return null;
  const b = body as { points: unknown; value: unknown };
  return { points: b.points, value: b.value };
}

/** A binary body declared (Content-Length) larger than the server accepts: refused before anything else. */
export function checkDeclaredLength(kind: BodyKind, declared: string | undefined, maxBodyBytes: number): void {
  if (kind !== 'json' && declared !== undefined && Number(declared) > maxBodyBytes) {
    throw new errors.BodyTooLarge(`The body is ${declared} bytes; this server accepts at most ${maxBodyBytes}.`);
  }
}

export interface ValueWriteRequest {
  kind: BodyKind;
  /** The dataset's normalized path (for messages). */
  h5path: string;
  /** The dataset as accepted jobs leave it. */
  dataset: { dtype: string; shape: number[] };
  query: { select?: string | undefined; points?: string | undefined; dtype?: string | undefined };
  /** The parsed JSON body (kind 'json'); ignored otherwise. */
  body: unknown;
}

export interface ValueWritePlan {
  /** The dataset's dtype. */
  dtype: Dtype;
  /** The points written, or null for a selection. */
  points: ResolvedPoints | null;
  /** The elements written: the selection, or the list of points. */
  hs: Hyperslab;
  elements: number;
  /** A JSON body, encoded at once: its payload dtype (the width of string slots) and size follow from the values. */
  json: { bytes: Buffer; dtype: Dtype } | null;
  /** The payload's dtype as far as it is known before a .npy header is read. */
  payloadDtype: Dtype;
  /** The op's `select` text. */
  select: string;
}

/** The elements a write names and the type its payload is in; refuses what cannot be written. */
export function planValueWrite(req: ValueWriteRequest): ValueWritePlan {
  const { kind, query, dataset } = req;
  const dtype = parseDtype(dataset.dtype);
  // A point write: the points in ?points= (any body) or a JSON body {points, value}.
  const bodyPoints = kind === 'json' && query.select === undefined ? pointWriteBody(req.body) : null;
  if (query.points !== undefined && (query.select !== undefined || bodyPoints)) {
    throw new InputError('PH5_ERR_SELECTION', 'Name the elements once: ?points= or ?select= or a body {points, value}, not two of them.');
  }
  const pointList = bodyPoints ? bodyPoints.points : query.points !== undefined ? parsePointsText(query.points) : undefined;
  const points = pointList !== undefined ? resolvePoints(pointList, dataset.shape, { unique: true }) : null;
  const hs = points ? pointListHyperslab(points.count) : resolveSelection(query.select, dataset.shape);
  const values = bodyPoints ? bodyPoints.value : req.body;
  const json = kind === 'json' ? encodeJsonPayload(values, dtype, hs.count) : null;
  let payloadDtype: Dtype = json?.dtype ?? dtype;
  if (query.dtype !== undefined) {
    if (kind !== 'raw')
      throw new InputError('PH5_ERR_DTYPE', '?dtype= describes raw binary bodies; JSON values are converted, and a .npy body names its own dtype.');
    payloadDtype = parseDtype(query.dtype);
  } else if (kind === 'raw' && dtype.kind === 'string') {
    throw new InputError(
      'PH5_ERR_DTYPE',
      `${req.h5path} holds variable-length strings: a binary body sends them as fixed-width slots, and says their width with ?dtype=S<n> (each value UTF-8, null-padded to n bytes).`,
    );
  }
  const select = points ? formatPoints(points.count) : query.select || formatSelection(hs);
  return { dtype, points, hs, elements: elementCount(hs.count), json, payloadDtype, select };
}

/** The payload bytes the write needs (a .npy body: before its header is read); a binary body beyond the limit is refused. */
export function expectedBytes(plan: ValueWritePlan, maxBodyBytes: number): number {
  const expected = plan.json ? plan.json.bytes.length : plan.elements * plan.payloadDtype.size;
  if (!plan.json && expected > maxBodyBytes) {
    throw new errors.BodyTooLarge(`The selection needs ${expected} bytes; this server accepts at most ${maxBodyBytes} per request: write it in parts.`);
  }
  return expected;
}

/** A .npy body's payload: its dtype and size, and how many header bytes come before it. */
export function fromNpyHeader(plan: ValueWritePlan, header: NpyHeader, maxBodyBytes: number): { payloadDtype: Dtype; expected: number; headerBytes: number } {
  if (header.fortranOrder) throw new InputError('PH5_ERR_NPY', 'The .npy array is in Fortran order; send a C-order array (numpy.ascontiguousarray).');
  const count = header.shape.reduce((a, b) => a * b, 1);
  if (count !== plan.elements) {
    throw new InputError(
      'PH5_ERR_SELECTION',
      `The .npy holds a ${describeNpy(header)} (${count} elements); the selection [${plan.hs.count.join(', ')}] needs ${plan.elements}.`,
    );
  }
  const expected = plan.elements * header.dtype.size;
  if (expected > maxBodyBytes)
    throw new errors.BodyTooLarge(`The selection needs ${expected} bytes; this server accepts at most ${maxBodyBytes} per request: write it in parts.`);
  return { payloadDtype: header.dtype, expected, headerBytes: header.dataOffset };
}

/** The payload's type must fit the dataset, and a binary body's declared length the payload. */
export function checkPayload(
  plan: ValueWritePlan,
  payload: { payloadDtype: Dtype; expected: number; headerBytes: number },
  kind: BodyKind,
  declared: string | undefined,
): void {
  const { dtype } = plan;
  const { payloadDtype, expected, headerBytes } = payload;
  if (!payloadCompatible(payloadDtype, dtype)) {
    const allowed = dtype.kind === 'string' ? 'a variable-length string dataset takes fixed-width slots, S<n>' : 'only byte orders may differ';
    throw new InputError('PH5_ERR_DTYPE', `A body of ${describeDtype(payloadDtype)} cannot be written to a ${describeDtype(dtype)} dataset: ${allowed}.`);
  }
  if (kind !== 'json' && declared !== undefined && Number(declared) !== expected + headerBytes) {
    throw new errors.BodyLength(
      `Content-Length is ${declared}; the selection needs ${expected} bytes (${plan.elements} elements × ${payloadDtype.size})${headerBytes ? ` after a ${headerBytes}-byte .npy header` : ''}.`,
    );
  }
}

/** The queued write, but for its staged payload. */
export function valueWriteOp(
  plan: ValueWritePlan,
  h5path: string,
  datasetDtype: string,
  payloadDtype: Dtype,
  bytes: number,
): Omit<WriteOp, 'staged' | 'stagedOffset'> {
  return {
    op: 'write' as const,
    path: h5path,
    dtype: datasetDtype,
    payloadDtype: formatDtype(payloadDtype),
    select: plan.select,
    hyperslab: plan.hs,
    bytes,
    ...(plan.points ? { points: { count: plan.points.count, rank: plan.points.rank } } : {}),
  };
}
