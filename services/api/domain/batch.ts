/**
 * A batch (POST /v1/jobs): every operation is checked in order against what the operations
 * before it in the batch, the accepted jobs and the file will have made (an overlay of the
 * paths the batch touches), then the whole batch is ONE job: the worker applies it in one
 * epoch, in order; a failure stops the job there and fails it (naming the operation).
 * Nothing is queued, claimed or staged unless every operation passes.
 */
import type { FastifyInstance } from 'fastify';
import type { JobOp } from '../../shared/jobs.js';
import { normalizeH5Path } from '../../shared/names.js';
import { InputError } from '../../shared/input-error.js';
import type { BatchOp } from '../schemas/batch.js';
import { errors } from '../errors.js';
import { fromRecord, layoutRefusal, type DatasetMeta } from './datasets.js';
import {
  attributeData,
  checkResize,
  createDatasetOp,
  resizedRecord,
  stageJsonWrite,
  validateAttributeName,
  type RegistryChange,
  type Submission,
} from './operations.js';

type Overlay = Map<string, { kind: 'dataset'; meta: DatasetMeta } | { kind: 'group' } | { kind: 'deleted' }>;

function opError(index: number, err: unknown): unknown {
  if (err instanceof Error && 'code' in err) err.message = `ops[${index}]: ${err.message}`;
  return err;
}

export async function buildBatch(app: FastifyInstance, project: string, file: string, ops: BatchOp[], jobId: string): Promise<Submission> {
  const { datasets, config, storage } = app;
  const overlay: Overlay = new Map();
  const out: JobOp[] = [];
  const registry: RegistryChange[] = [];
  const staged: string[] = [];

  /** The kind at a path after the batch's earlier operations (and accepted jobs, and the file). */
  const kindOf = async (h5path: string) => {
    for (let p = h5path; p.length > 0; p = p.slice(0, Math.max(0, p.lastIndexOf('/')))) {
      const o = overlay.get(p);
      if (o?.kind === 'deleted') return null;
      if (o && p === h5path) return o.kind;
      if (p === '/') break;
    }
    return datasets.kindOf(project, file, h5path);
  };
  const datasetMeta = async (h5path: string): Promise<DatasetMeta> => {
    const o = overlay.get(h5path);
    if (o?.kind === 'dataset') return o.meta;
    if ((await kindOf(h5path)) !== 'dataset') throw new errors.NotFound(`No dataset ${h5path} in ${file}.`);
    const meta = await datasets.forWrite(project, file, h5path);
    if (!meta) throw new errors.NotFound(`No dataset ${h5path} in ${file}.`);
    return meta;
  };
  /** The dataset a write op targets: refused at once if no pool can write its layout. */
  const writableMeta = async (h5path: string): Promise<DatasetMeta> => {
    const meta = await datasetMeta(h5path);
    const unwritable = layoutRefusal(meta, h5path, file);
    if (unwritable) throw unwritable;
    return meta;
  };

  try {
    for (const [i, op] of ops.entries()) {
      try {
        const h5path = op.path === '/' && (op.op === 'setAttribute' || op.op === 'deleteAttribute') ? '/' : normalizeH5Path(op.path);
        switch (op.op) {
          case 'createGroup':
          case 'createDataset': {
            if ((await kindOf(h5path)) !== null) throw new errors.Exists(`An object already exists at ${h5path} in ${file} (or its creation is queued).`);
            if (op.op === 'createGroup') {
              out.push({ op: 'createGroup', path: h5path });
              registry.push({ kind: 'claim', path: h5path, record: { kind: 'group', jobId } });
              overlay.set(h5path, { kind: 'group' });
            } else {
              const { op: _, ...body } = op;
              const created = createDatasetOp(body, h5path, jobId, config.limits);
              out.push(created.op);
              registry.push({ kind: 'claim', path: h5path, record: created.record });
              overlay.set(h5path, { kind: 'dataset', meta: fromRecord(h5path, created.record, 'pending') });
            }
            break;
          }
          case 'write': {
            const meta = await writableMeta(h5path);
            const w = await stageJsonWrite(storage, meta, h5path, op.select, op.value, op.points);
            staged.push(w.staged);
            out.push(w.op);
            break;
          }
          case 'setAttribute':
          case 'deleteAttribute': {
            validateAttributeName(op.name);
            if (h5path !== '/' && (await kindOf(h5path)) === null) throw new errors.NotFound(`No object ${h5path} in ${file}.`);
            // The root of a file that neither exists nor is created (by this batch or an
            // accepted job): as PUT …/attributes/{name}, a typo must not create a file.
            if (h5path === '/' && ![...overlay.values()].some((o) => o.kind !== 'deleted') && !(await datasets.fileWillExist(project, file))) {
              throw new errors.NotFound(`No file ${file}: create it first (PUT /v1/files/${file}, or create a dataset or group in it).`);
            }
            if (op.op === 'setAttribute') {
              out.push({ op: 'setAttribute', path: h5path, name: op.name, value: attributeData(op, config.limits) });
            } else {
              out.push({ op: 'deleteAttribute', path: h5path, name: op.name });
            }
            break;
          }
          case 'resize': {
            const meta = await datasetMeta(h5path);
            checkResize(meta, op.shape, h5path);
            const record = resizedRecord(meta, op.shape, jobId);
            out.push({ op: 'resize', path: h5path, shape: op.shape });
            registry.push({ kind: 'record', path: h5path, record });
            overlay.set(h5path, { kind: 'dataset', meta: { ...meta, shape: op.shape } });
            break;
          }
          case 'delete': {
            if ((await kindOf(h5path)) === null) throw new errors.NotFound(`No object ${h5path} in ${file}.`);
            out.push({ op: 'delete', path: h5path });
            // A path created earlier in this batch is simply not claimed any more.
            const claimed = registry.findIndex((r) => r.path === h5path && r.kind === 'claim');
            if (claimed >= 0) registry.splice(claimed, 1);
            else registry.push({ kind: 'record', path: h5path, record: { kind: 'deleted', jobId } });
            overlay.set(h5path, { kind: 'deleted' });
            break;
          }
        }
      } catch (err) {
        throw opError(i, err);
      }
    }
  } catch (err) {
    for (const name of staged) await storage.unstage(name).catch(() => {});
    throw err;
  }
  if (out.length === 0) throw new InputError('PH5_ERR_VALIDATION', 'The batch has no operations.');
  return { project, file, ops: out, registry, staged, jobId };
}
