/**
 * Validation of the names a request may carry: file names (one path segment under the
 * project's directory), HDF5 object paths and project names. Everything here is pure;
 * `storage.ts` adds the filesystem checks (symlinks, realpath).
 */
import { InputError } from './input-error.js';

export const MAX_FILE_NAME = 255;
export const MAX_H5_PATH = 1024;
export const MAX_H5_NAME = 255;

// A file name is one segment: letters, digits, '.', '_', '-', not starting with '.', so
// that hidden files (our staging area, lock files) can never be named by a client.
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export function validateFileName(name: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_FILE_NAME || !FILE_NAME.test(name) || name.includes('..')) {
    throw new InputError(
      'PH5_ERR_FILE_NAME',
      `Invalid file name '${String(name).slice(0, 80)}': use one name of letters, digits, '.', '_' or '-' (no '/', no '..', not starting with '.'), at most ${MAX_FILE_NAME} characters.`,
    );
  }
  return name;
}

export function validateProjectName(name: string): string {
  if (typeof name !== 'string' || !PROJECT_NAME.test(name)) {
    throw new InputError('PH5_ERR_PROJECT_NAME', `Invalid project name '${String(name).slice(0, 80)}'.`);
  }
  return name;
}

/**
 * Normalises an HDF5 object path to absolute form (`/grp/dset`). Refuses empty segments,
 * `.` and `..` (HDF5 has no such navigation, and they would only confuse), NUL and
 * control characters, and overlong names.
 */
export function normalizeH5Path(path: string, what = 'HDF5 path'): string {
  const bad = (why: string) => new InputError('PH5_ERR_H5_PATH', `Invalid ${what} '${String(path).slice(0, 80)}': ${why}.`);
  if (typeof path !== 'string' || path.length === 0) throw bad('it is empty');
  if (path.length > MAX_H5_PATH) throw bad(`longer than ${MAX_H5_PATH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) throw bad('control characters are not allowed');
  const segments = path.split('/').filter((s, i) => !(i === 0 && s === ''));
  if (segments.length === 0 || (segments.length === 1 && segments[0] === '')) throw bad('it names the root group, not an object');
  for (const s of segments) {
    if (s === '') throw bad('empty segment (double or trailing /)');
    if (s === '.' || s === '..') throw bad("'.' and '..' are not HDF5 names");
    if (Buffer.byteLength(s) > MAX_H5_NAME) throw bad(`a segment is longer than ${MAX_H5_NAME} bytes`);
  }
  return '/' + segments.join('/');
}

/**
 * Whether a staged payload name from job data may be used: a plain file name in the staging
 * directory (no separator, not hidden, no NUL byte). Job data comes from Redis, so it is
 * checked before any path is made of it.
 */
export function isStagedName(name: unknown): name is string {
  return typeof name === 'string' && name !== '' && !name.includes('/') && !name.includes('\0') && !name.startsWith('.');
}
