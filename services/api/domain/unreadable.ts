/**
 * Objects ph5 cannot read (an attribute or dataset of an HDF5 type with no ph5 dtype: object
 * references, opaque, …) in answers that list many: the listing marks them with an error
 * and goes on, instead of failing as a whole for one of them.
 */
import { InputError } from '../../shared/input-error.js';

export interface Unreadable {
  code: string;
  detail: string;
}

/** Codes that say "this object's type is not one ph5 reads", by whoever found it. */
const TYPE_CODES = new Set(['PH5_ERR_TYPE', 'PH5_ERR_DTYPE']);

/** The error entry for `err` when it says the object cannot be read; null for any other failure (rethrow it). */
export function unreadable(err: unknown): Unreadable | null {
  const e = err as Error & { code?: unknown };
  const native = err instanceof Error && e.name === 'Ph5NativeError';
  if ((native || err instanceof InputError) && typeof e.code === 'string' && TYPE_CODES.has(e.code)) return { code: e.code, detail: e.message };
  return null;
}
