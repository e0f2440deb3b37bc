/**
 * numpy-style dtype strings <-> the structured form the native binding understands.
 *
 * Accepted spellings follow numpy: `int32`, `i4`, `<i4`, `>f8`, `float64`, `uint8`,
 * `bool`, `S16`. A missing byte order means little-endian, because that is what h5py
 * stores for `'i'` on the machines ph5 runs on, and the design card fixes `int32` to
 * `H5T_STD_I32LE`.
 */
import { InputError } from './input-error.js';

export type DtypeKind = 'int' | 'uint' | 'float' | 'bool' | 'bytes';
export type ByteOrder = 'le' | 'be';

export interface Dtype {
  kind: DtypeKind;
  /** Size of one element in bytes. */
  size: number;
  /** Byte order of the stored (and transferred) elements; single-byte types report 'le'. */
  order: ByteOrder;
}

const KIND_BY_CODE: Record<string, DtypeKind> = { i: 'int', u: 'uint', f: 'float', b: 'bool', S: 'bytes' };
const NAMED: Record<string, { kind: DtypeKind; size: number }> = {
  int8: { kind: 'int', size: 1 },
  int16: { kind: 'int', size: 2 },
  int32: { kind: 'int', size: 4 },
  int64: { kind: 'int', size: 8 },
  uint8: { kind: 'uint', size: 1 },
  uint16: { kind: 'uint', size: 2 },
  uint32: { kind: 'uint', size: 4 },
  uint64: { kind: 'uint', size: 8 },
  float16: { kind: 'float', size: 2 },
  float32: { kind: 'float', size: 4 },
  float64: { kind: 'float', size: 8 },
  bool: { kind: 'bool', size: 1 },
};
const VALID_SIZES: Record<DtypeKind, readonly number[]> = {
  int: [1, 2, 4, 8],
  uint: [1, 2, 4, 8],
  float: [2, 4, 8],
  bool: [1],
  bytes: [],
};
/** Longest fixed-length byte string we accept; HDF5 allows more, but no sane row needs it. */
export const MAX_BYTES_SIZE = 65536;

export function parseDtype(text: string): Dtype {
  const bad = () => new InputError('PH5_ERR_DTYPE', `Unknown dtype '${text}'. Use numpy names such as int32, <i4, >f8, uint8, bool, S16.`);
  if (typeof text !== 'string' || text.length === 0 || text.length > 16) throw bad();
  let rest = text;
  let order: ByteOrder | undefined;
  if (rest[0] === '<' || rest[0] === '>' || rest[0] === '=' || rest[0] === '|') {
    order = rest[0] === '>' ? 'be' : 'le';
    rest = rest.slice(1);
  }
  let kind: DtypeKind;
  let size: number;
  const named = NAMED[rest];
  if (named) {
    ({ kind, size } = named);
  } else {
    const m = /^([iufbS])([1-9][0-9]*)$/.exec(rest) ?? (rest === '?' ? ['?', 'b', '1'] : null);
    if (!m) throw bad();
    kind = KIND_BY_CODE[m[1]!]!;
    size = Number(m[2]);
  }
  if (kind === 'bytes') {
    if (!(size >= 1 && size <= MAX_BYTES_SIZE)) throw bad();
  } else if (!VALID_SIZES[kind].includes(size)) {
    throw bad();
  }
  // Byte order is meaningless for single bytes and strings; normalise so names round-trip.
  if (size === 1 || kind === 'bytes' || kind === 'bool') order = 'le';
  return { kind, size, order: order ?? 'le' };
}

/** Canonical numpy name: `int32` for little-endian, `>i4` for big-endian, `S16`, `bool`. */
export function formatDtype(d: Dtype): string {
  if (d.kind === 'bool') return 'bool';
  if (d.kind === 'bytes') return `S${d.size}`;
  if (d.order === 'le' || d.size === 1) return `${d.kind}${d.size * 8}`;
  return `>${d.kind[0]}${d.size}`;
}

/** True when JSON numbers of this dtype can lose precision in a JS number. */
export function isWideInteger(d: Dtype): boolean {
  return (d.kind === 'int' || d.kind === 'uint') && d.size === 8;
}
