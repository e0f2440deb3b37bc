/**
 * Structure and metadata changes, applied by every rank on the open parallel file (HDF5
 * requires metadata-changing calls to be collective: all ranks make them, with the same
 * arguments, in the same order — which the plan guarantees).
 *
 * Each is safe to replay: an epoch interrupted by a crash is applied again from its start,
 * so an operation may meet the file already changed by its own earlier attempt. The API
 * checked each operation against the file and the accepted jobs before queueing it, so
 * "already there" (a group) or "already gone" (a deleted link or attribute) is that
 * earlier attempt's work, not a conflict.
 */
import { Ph5NativeError, type AttributeValue, type H5File } from '../../native/lib/index.js';
import { parseDtype } from '../shared/dtype.js';
import type { AttributeData, MetaOp } from '../shared/jobs.js';

function isCode(err: unknown, code: string): boolean {
  return err instanceof Ph5NativeError && err.code === code;
}

export function toNativeAttribute(value: AttributeData): AttributeValue {
  // Fixed-length strings are numpy's S<n> (bytes): ASCII, as h5py stores them.
  if (value.kind === 'string')
    return {
      kind: 'string',
      value: value.value,
      length: value.length ?? null,
      cset: value.charset === 'ascii' || value.length !== undefined ? 'ascii' : 'utf8',
    };
  return { kind: 'numeric', dtype: parseDtype(value.dtype), shape: value.shape, data: Buffer.from(value.data, 'base64') };
}

export async function applyMeta(file: H5File, op: MetaOp): Promise<void> {
  switch (op.op) {
    case 'createFile':
      return; // opening the file for the epoch created it
    case 'createGroup':
      try {
        await file.createGroup(op.path);
      } catch (err) {
        if (!isCode(err, 'PH5_ERR_EXISTS')) throw err;
        const link = await file.linkInfo(op.path);
        if (link?.kind !== 'group') throw err; // something else took the name
      }
      return;
    case 'delete':
      try {
        await file.delete(op.path);
      } catch (err) {
        if (!isCode(err, 'PH5_ERR_NOT_FOUND')) throw err;
      }
      return;
    case 'resize':
      await file.resize(op.path, op.shape);
      return;
    case 'setAttribute':
      await file.writeAttribute(op.path, op.name, toNativeAttribute(op.value));
      return;
    case 'deleteAttribute':
      try {
        await file.deleteAttribute(op.path, op.name);
      } catch (err) {
        if (!isCode(err, 'PH5_ERR_NOT_FOUND')) throw err;
      }
      return;
  }
}
