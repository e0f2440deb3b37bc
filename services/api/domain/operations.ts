/**
 * Turning validated requests into queued jobs, the same way for single-operation routes and
 * for batches (POST /v1/jobs): check each operation against what accepted jobs will leave
 * in the file, claim or record what later requests must see at once (registry), stage
 * payloads, then enqueue ONE job — and undo every claim, record and staged payload if any
 * step fails, so a refused request leaves nothing behind.
 */
import type { ReplicatedAcceptance } from '../../shared/replicated-accept.js';
import type { FastifyBaseLogger } from 'fastify';
import type { Limits } from '../../shared/config.js';
import { formatDtype, parseDtype, parseDtypeSpec, type Dtype } from '../../shared/dtype.js';
import { InputError } from '../../shared/input-error.js';
import { encodeJson, encodeJsonPayload } from '../../shared/json-codec.js';
import type { AttributeData, CreateDatasetOp, DatasetRecord, GroupRecord, JobData, JobOp, RegistryRecord } from '../../shared/jobs.js';
import { formatPoints, resolvePoints } from '../../shared/points.js';
import { elementCount, formatSelection, resolveSelection } from '../../shared/selection.js';
import { errors } from '../errors.js';
import type { DatasetMeta, Datasets } from './datasets.js';
import type { JobIndex } from './job-index.js';
import type { ProjectQuota } from './quota.js';
import type { Storage } from './storage.js';
import type { Jobs, Ph5Job } from './jobs.js';
import { inferValueShape } from './value-shape.js';

/** HDF5 refuses chunks of 4 GiB or more. */
const MAX_CHUNK_BYTES = 2 ** 32 - 1;
/** Longest attribute name accepted (HDF5 has no hard limit; headers do). */
const MAX_ATTRIBUTE_NAME = 255;

export interface CreateDatasetRequest {
  path: string;
  /** A dtype spec (shared/dtype.ts parseDtypeSpec): a string, an enum or compound object, numpy's list form. */
  dtype: unknown;
  shape: number[];
  maxshape?: (number | null)[] | undefined;
  chunks?: number[] | undefined;
  compression?: 'gzip' | null | undefined;
  compressionLevel?: number | undefined;
  shuffle?: boolean | undefined;
  fillValue?: unknown;
}

export interface AttributeRequest {
  value: unknown;
  dtype?: unknown;
  shape?: number[] | undefined;
}

function shapeError(message: string): InputError {
  return new InputError('PH5_ERR_SHAPE', message);
}

/** Checks shape, maxshape and chunks together (the schema checked each alone). */
export function checkLayout(body: CreateDatasetRequest, dtype: Dtype, limits: Limits): void {
  const { shape, maxshape, chunks } = body;
  if (shape.length > limits.maxDims) throw shapeError(`The shape has ${shape.length} dimensions; at most ${limits.maxDims} are allowed (PH5_MAX_DIMS).`);
  const total = shape.reduce((a, b) => a * b, 1);
  if (total > limits.maxElements) {
    throw new InputError(
      'PH5_ERR_TOO_MANY_ELEMENTS',
      `The shape [${shape.join(', ')}] has ${total} elements; at most ${limits.maxElements} are allowed (PH5_MAX_ELEMENTS).`,
      413,
    );
  }
  if (maxshape) {
    if (maxshape.length !== shape.length) throw shapeError(`maxshape has ${maxshape.length} dimension(s); shape has ${shape.length}.`);
    maxshape.forEach((m, i) => {
      if (m !== null && m < shape[i]!) throw shapeError(`maxshape[${i}] (${m}) is smaller than shape[${i}] (${shape[i]}).`);
    });
  }
  const filtered = body.compression === 'gzip' || body.shuffle === true;
  // HDF5 refuses chunks larger than a fixed maximum extent, and a chunk is at least 1.
  const fixedAtZero = (maxshape ?? shape).findIndex((m) => m === 0);
  if (fixedAtZero >= 0 && (filtered || chunks || maxshape?.some((m) => m === null))) {
    throw shapeError(
      `Dimension ${fixedAtZero} is fixed at 0 (maxshape 0), which a chunked dataset cannot have: give it an unlimited maxshape (null) to append to it.`,
    );
  }
  if (filtered && shape.length === 0) throw shapeError('A scalar dataset cannot be compressed (filters need a chunked layout).');
  if (chunks) {
    if (shape.length === 0) throw shapeError('A scalar dataset cannot be chunked.');
    if (chunks.length !== shape.length) throw shapeError(`chunks has ${chunks.length} dimension(s); shape has ${shape.length}.`);
    const max = maxshape ?? shape;
    chunks.forEach((c, i) => {
      const m = max[i];
      if (m !== null && m !== undefined && c > m) throw shapeError(`chunks[${i}] (${c}) is larger than the dimension's maximum extent (${m}).`);
    });
    // A variable-length string is stored in its chunk as a 16-byte reference (hvl_t).
    const chunkBytes = chunks.reduce((a, b) => a * b, 1) * (dtype.kind === 'string' ? 16 : dtype.size);
    if (chunkBytes > MAX_CHUNK_BYTES) throw shapeError(`A chunk of [${chunks.join(', ')}] is ${chunkBytes} bytes; HDF5 needs chunks under 4 GiB.`);
  } else if (maxshape?.some((m, i) => m !== null && m !== shape[i])) {
    throw shapeError(
      'A dimension whose finite maxshape exceeds its shape needs a chunked layout: give chunks (unlimited dimensions and compression get a default chunk shape).',
    );
  }
  if (body.compressionLevel !== undefined && body.compression !== 'gzip') {
    throw new InputError('PH5_ERR_VALIDATION', "compressionLevel needs compression: 'gzip'.");
  }
}

/** The queued operation and registry record of a dataset creation. */
export function createDatasetOp(body: CreateDatasetRequest, h5path: string, jobId: string, limits: Limits): { op: CreateDatasetOp; record: DatasetRecord } {
  const dtype = parseDtypeSpec(body.dtype);
  checkLayout(body, dtype, limits);
  if (dtype.kind === 'string' && body.fillValue !== undefined) {
    throw new InputError(
      'PH5_ERR_VALUE',
      'A variable-length string dataset has no fill value here (unwritten elements read as empty strings): omit fillValue.',
    );
  }
  const fillValue = body.fillValue === undefined ? undefined : encodeJson(body.fillValue, dtype, []).toString('base64');
  // What the job creates and what the registry remembers are the same description.
  const layout = {
    dtype: formatDtype(dtype),
    shape: body.shape,
    ...(body.maxshape ? { maxshape: body.maxshape } : {}),
    ...(body.chunks ? { chunks: body.chunks } : {}),
    ...(body.compression === 'gzip' ? { gzip: body.compressionLevel ?? 4 } : {}),
    ...(body.shuffle ? { shuffle: true } : {}),
    ...(fillValue !== undefined ? { fillValue } : {}),
  };
  const record: DatasetRecord = { ...layout, jobId };
  const op: CreateDatasetOp = { op: 'createDataset', path: h5path, ...layout };
  return { op, record };
}

/**
 * The registry record of a dataset after a resize: the whole description carried over
 * (layout, filters, fill value) with the new extent, so later requests see the dataset
 * exactly as before but for its shape.
 */
export function resizedRecord(meta: DatasetMeta, shape: number[], jobId: string): DatasetRecord {
  return {
    dtype: meta.dtype,
    shape,
    maxshape: meta.maxshape,
    ...(meta.chunks ? { chunks: meta.chunks } : {}),
    ...(meta.layout === 'chunked' ? { layout: 'chunked' as const } : {}),
    ...(meta.compressionLevel !== null ? { gzip: meta.compressionLevel } : {}),
    ...(meta.shuffle ? { shuffle: true } : {}),
    ...(meta.fillValue !== null ? { fillValue: encodeJson(meta.fillValue, parseDtype(meta.dtype), []).toString('base64') } : {}),
    jobId,
  };
}

/** Checks a resize against the dataset as accepted jobs leave it. */
export function checkResize(meta: DatasetMeta, shape: number[], h5path: string): void {
  if (shape.length !== meta.shape.length) throw shapeError(`${h5path} has ${meta.shape.length} dimension(s); the new shape has ${shape.length}.`);
  shape.forEach((n, i) => {
    const max = meta.maxshape[i];
    if (max !== null && max !== undefined && n > max) throw shapeError(`shape[${i}] (${n}) exceeds ${h5path}'s maxshape[${i}] (${max}).`);
  });
  if (meta.layout !== 'chunked' && shape.some((n, i) => n !== meta.shape[i])) {
    throw shapeError(`${h5path} is not chunked, so its extent cannot change (create it with maxshape or chunks).`);
  }
}

/**
 * A JSON attribute value as queued: strings (variable-length UTF-8 by default, `str:ascii`,
 * or fixed-length `S<n>`), or values of a fixed-size dtype (given, or int64/float64/bool
 * as the values say) as raw bytes.
 */
export function attributeData(req: AttributeRequest, limits: Limits): AttributeData {
  const { value } = req;
  const given = req.dtype === undefined ? undefined : parseDtypeSpec(req.dtype);
  const isStrings = typeof value === 'string' || (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string'));
  let data: AttributeData;
  // Nested arrays of strings: the pool writes string attributes 1-D (or scalar) only; say
  // so, rather than read them as integers of the default dtype.
  const nestedStrings = Array.isArray(value) && value.some(Array.isArray) && flatten(value).every((v) => typeof v === 'string');
  if (nestedStrings && (given === undefined || given.kind === 'string' || given.kind === 'bytes')) {
    throw new InputError(
      'PH5_ERR_VALUE',
      'A string attribute is written as a JSON string or a flat (1-D) array of strings; nested arrays of strings (2+ dimensions) are not supported.',
    );
  }
  if (given === undefined ? isStrings : given.kind === 'string' || given.kind === 'bytes') {
    if (!isStrings) throw new InputError('PH5_ERR_VALUE', `A ${formatDtype(given!)} attribute holds strings: send a JSON string or a flat array of strings.`);
    const strings = typeof value === 'string' ? [value] : value;
    if (strings.some((s) => s.includes('\0'))) throw new InputError('PH5_ERR_VALUE', 'Attribute strings may not contain NUL characters.');
    if (given?.kind === 'bytes') {
      const longest = Math.max(...strings.map((s) => Buffer.byteLength(s)));
      if (longest > given.size) throw new InputError('PH5_ERR_VALUE', `A value is ${longest} bytes long in UTF-8; S${given.size} holds ${given.size}.`);
    }
    // eslint-disable-next-line no-control-regex -- the ASCII range, NUL included
    if (given?.kind === 'string' && given.charset === 'ascii' && strings.some((s) => /[^\x00-\x7f]/.test(s))) {
      throw new InputError('PH5_ERR_VALUE', 'A str:ascii attribute holds ASCII text only: say str for UTF-8.');
    }
    data = {
      kind: 'string',
      value: value,
      ...(given?.kind === 'bytes' ? { length: given.size } : {}),
      ...(given?.kind === 'string' && given.charset === 'ascii' ? { charset: 'ascii' as const } : {}),
    };
    const bytes = Buffer.byteLength(JSON.stringify(value));
    if (bytes > limits.maxAttributeBytes) throw tooLarge(bytes, limits);
    return data;
  }
  const flat = flatten(value);
  if (flat.length === 0) throw new InputError('PH5_ERR_VALUE', 'An attribute needs a value: a number, a boolean, a string, or a (nested) array of one kind.');
  const dtype =
    given ??
    parseDtype(flat.every((v) => typeof v === 'boolean') ? 'bool' : flat.every((v) => Number.isInteger(v) || typeof v === 'string') ? 'int64' : 'float64');
  const shape = req.shape ?? inferValueShape(value, dtype);
  const bytes = elementCount(shape) * dtype.size;
  if (bytes > limits.maxAttributeBytes) throw tooLarge(bytes, limits);
  const raw = encodeJson(value, dtype, shape);
  return { kind: 'numeric', dtype: formatDtype(dtype), shape, data: raw.toString('base64') };
}

function tooLarge(bytes: number, limits: Limits): InputError {
  return new InputError(
    'PH5_ERR_ATTRIBUTE_TOO_LARGE',
    `The attribute value is ${bytes} bytes; at most ${limits.maxAttributeBytes} are allowed (PH5_MAX_ATTRIBUTE_BYTES). Store large data as a dataset.`,
    413,
  );
}

function flatten(v: unknown): unknown[] {
  return Array.isArray(v) ? v.flatMap(flatten) : [v];
}

export function validateAttributeName(name: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_ATTRIBUTE_NAME || name.includes('\0') || name.includes('/') || name === '.') {
    throw new InputError('PH5_ERR_ATTRIBUTE_NAME', `Invalid attribute name: 1 to ${MAX_ATTRIBUTE_NAME} characters, without '/' or NUL.`);
  }
  return name;
}

/** A registry change to make before queueing (and undo if queueing fails). */
export type RegistryChange = { kind: 'claim'; path: string; record: DatasetRecord | GroupRecord } | { kind: 'record'; path: string; record: RegistryRecord };

export interface Submission {
  project: string;
  file: string;
  ops: JobOp[];
  /** Made in order; a refused claim refuses the whole submission (409). */
  registry?: RegistryChange[];
  /** Staged payload names the job owns once queued (removed if it is not). */
  staged?: string[];
  jobId?: string;
  /** The route already checked the project's quota (before a long upload). */
  quotaChecked?: boolean;
}

/** What an Operations needs: the services a submission touches, and where to log. */
export interface OperationsDeps {
  datasets: Datasets;
  jobs: Jobs;
  storage: Storage;
  quota: ProjectQuota;
  jobIndex: JobIndex;
  /** Remembers which connection wrote an accepted job, for the WAIT before its 202. */
  replication: ReplicatedAcceptance;
  log: FastifyBaseLogger;
}

export class Operations {
  constructor(private readonly deps: OperationsDeps) {}

  /** Queues one job for the submission; on any failure undoes what it did and rethrows. */
  async submit(s: Submission): Promise<Ph5Job> {
    const { datasets, jobs, storage, quota, jobIndex, replication } = this.deps;
    const jobId = s.jobId ?? jobs.newId(s.project, s.file);
    const undo: Array<() => Promise<void>> = [];
    // Before any write: replyAccepted confirms replication only if the same connection carried them all.
    const mark = replication.mark();
    try {
      if (!s.quotaChecked) await quota.check(s.project);
      const at = Date.now();
      for (const change of s.registry ?? []) {
        if (change.kind === 'claim') {
          const record = { ...change.record, at };
          if (!(await datasets.claim(s.project, s.file, change.path, record))) {
            throw new errors.Exists(`An object already exists at ${change.path} in ${s.file} (or its creation is queued).`);
          }
          undo.push(() => datasets.release(s.project, s.file, change.path, record.jobId));
        } else {
          const record = { ...change.record, at };
          const previous = await datasets.record(s.project, s.file, change.path, record);
          undo.push(() => datasets.restore(s.project, s.file, change.path, record, previous));
        }
      }
      const data: JobData = { v: 1, project: s.project, file: s.file, acceptedAt: Date.now(), ops: s.ops };
      // Accepting a job also counts it against the project's quota and lists it in the
      // project's index, as commands of its enqueue transaction.
      const { job, bookkeepingError } = await jobs.enqueue(data, jobId, (tx) => {
        quota.track(s.project, jobId, tx);
        jobIndex.add(s.project, jobId, data.acceptedAt, tx);
      });
      // The job is accepted whatever happened to its records: their failure is only logged.
      if (bookkeepingError) this.deps.log.warn({ err: bookkeepingError.message, jobId }, 'could not record an accepted job (quota/index)');
      replication.wrote(job, mark);
      return job;
    } catch (err) {
      for (const u of undo.reverse()) await u().catch(() => {});
      for (const name of s.staged ?? []) await storage.unstage(name).catch(() => {});
      throw err;
    }
  }
}

/**
 * The write op for JSON values (batches), encoded as the dataset's payload: its own dtype,
 * or fixed-width slots S<W> for variable-length strings (shared/json-codec.ts encodeJsonPayload).
 */
export async function stageJsonWrite(
  storage: Pick<Storage, 'stageBuffer'>,
  meta: DatasetMeta,
  h5path: string,
  select: string | undefined,
  value: unknown,
  pointList?: unknown,
) {
  const dtype = parseDtype(meta.dtype);
  if (pointList !== undefined && select !== undefined)
    throw new InputError('PH5_ERR_SELECTION', 'A write names its elements once: select or points, not both.');
  // A point write stages its coordinates before its values (shared/points.ts).
  const points = pointList !== undefined ? resolvePoints(pointList, meta.shape, { unique: true }) : null;
  const hs = points ? { start: [0], stride: [1], count: [points.count] } : resolveSelection(select, meta.shape);
  const payload = encodeJsonPayload(value, dtype, hs.count);
  const staged = await storage.stageBuffer(points ? Buffer.concat([points.coords, payload.bytes]) : payload.bytes);
  return {
    staged,
    op: {
      op: 'write' as const,
      path: h5path,
      dtype: meta.dtype,
      payloadDtype: formatDtype(payload.dtype),
      select: points ? formatPoints(points.count) : select || formatSelection(hs),
      hyperslab: hs,
      staged,
      bytes: payload.bytes.length,
      ...(points ? { points: { count: points.count, rank: points.rank } } : {}),
    },
  };
}
