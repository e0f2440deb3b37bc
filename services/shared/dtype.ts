/**
 * The dtype model: what one element of a dataset or attribute is, in the structured form
 * the native binding understands (`Dtype`), in the API's spelling (`dtypeSpec` /
 * `parseDtypeSpec`) and as one canonical text (`formatDtype` / `parseDtype`) for the
 * plumbing that carries dtypes as strings (dataset metadata, job data, X-Ph5-Dtype).
 *
 * Accepted names follow numpy: `int32`, `i4`, `<i4`, `>f8`, `float64`, `uint8`, `bool`,
 * `S16`, `complex64`, `<c16`; plus `str` / `str:ascii` for h5py's variable-length strings.
 * A missing byte order means little-endian, because that is what h5py stores for `'i'` on
 * the machines ph5 runs on, and the design card fixes `int32` to `H5T_STD_I32LE`.
 * Enums and compounds are objects (or numpy's list form for compounds); their canonical
 * text is their canonical spec as JSON.
 */
import { InputError } from './input-error.js';

export type ByteOrder = 'le' | 'be';

export interface NumberDtype {
  kind: 'int' | 'uint' | 'float';
  /** Size of one element in bytes. */
  size: number;
  /** Byte order of the stored (and transferred) elements; single-byte types report 'le'. */
  order: ByteOrder;
}
/** h5py's bool: an HDF5 enum FALSE/TRUE over int8. */
export interface BoolDtype {
  kind: 'bool';
  size: 1;
  order: 'le';
}
/** numpy `S<n>`: fixed-length, null-padded bytes. */
export interface BytesDtype {
  kind: 'bytes';
  size: number;
  order: 'le';
}
/** numpy complex64/128; in HDF5 a compound {r, i} of two floats, as h5py stores it. */
export interface ComplexDtype {
  kind: 'complex';
  size: 8 | 16;
  order: ByteOrder;
}
/** A variable-length string (h5py.string_dtype()); its values travel as `bytes` slots. */
export interface StringDtype {
  kind: 'string';
  size: 0;
  order: 'le';
  charset: 'utf-8' | 'ascii';
}
export interface EnumMember {
  name: string;
  value: number;
}
export interface EnumDtype {
  kind: 'enum';
  size: 1 | 2 | 4 | 8;
  order: ByteOrder;
  base: 'int' | 'uint';
  members: EnumMember[];
}
export interface CompoundField {
  name: string;
  offset: number;
  dtype: Dtype;
}
export interface CompoundDtype {
  kind: 'compound';
  /** The itemsize: bytes per record, padding included. */
  size: number;
  order: 'le';
  fields: CompoundField[];
}
/** numpy's subarray: only ever a compound field's dtype. */
export interface ArrayDtype {
  kind: 'array';
  size: number;
  order: 'le';
  base: Dtype;
  shape: number[];
}

export type Dtype = NumberDtype | BoolDtype | BytesDtype | ComplexDtype | StringDtype | EnumDtype | CompoundDtype | ArrayDtype;
export type DtypeKind = Dtype['kind'];

/** The API's spelling of a dtype: a name, an enum or compound object, or numpy's list form. */
export type DtypeSpec = string | EnumSpec | CompoundSpec;
export interface EnumSpec {
  enum: Record<string, number>;
  base: string;
}
export interface FieldSpec {
  name: string;
  dtype: DtypeSpec;
  shape?: number[];
  offset: number;
}
export interface CompoundSpec {
  fields: FieldSpec[];
  itemsize: number;
}

/** Longest fixed-length byte string we accept; HDF5 allows more, but no sane row needs it. */
export const MAX_BYTES_SIZE = 65536;
/** Longest dtype text (a compound's JSON); numpy's own .npy header limit is 10 KiB. */
export const MAX_DTYPE_TEXT = 64 * 1024;
/** How deep compounds and array fields may nest. */
export const MAX_DTYPE_DEPTH = 8;
/** Fields of one compound, members of one enum. */
export const MAX_FIELDS = 1024;
export const MAX_ENUM_MEMBERS = 4096;
/** Longest field or member name, in characters. */
export const MAX_NAME_LENGTH = 1024;
/** Largest record (compound itemsize, array field) in bytes. */
export const MAX_ITEMSIZE = 1 << 20;
/** Most dimensions of an array field (numpy's and HDF5's limit). */
export const MAX_ARRAY_RANK = 32;

const NAMED: Record<string, { kind: 'int' | 'uint' | 'float' | 'bool' | 'complex'; size: number }> = {
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
  complex64: { kind: 'complex', size: 8 },
  complex128: { kind: 'complex', size: 16 },
};
const KIND_BY_CODE: Record<string, 'int' | 'uint' | 'float' | 'bool' | 'bytes' | 'complex'> = {
  i: 'int',
  u: 'uint',
  f: 'float',
  b: 'bool',
  S: 'bytes',
  c: 'complex',
};
const VALID_SIZES: Record<'int' | 'uint' | 'float' | 'bool' | 'complex', readonly number[]> = {
  int: [1, 2, 4, 8],
  uint: [1, 2, 4, 8],
  float: [2, 4, 8],
  bool: [1],
  complex: [8, 16],
};
const STRING_NAMES: Record<string, StringDtype['charset']> = { str: 'utf-8', 'str:utf-8': 'utf-8', 'str:utf8': 'utf-8', 'str:ascii': 'ascii' };

function dtypeError(where: string, message: string): InputError {
  return new InputError('PH5_ERR_DTYPE', where ? `Invalid dtype at ${where}: ${message}` : `Invalid dtype: ${message}`);
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const NAME_HINT = 'Use numpy names such as int32, <i4, >f8, uint8, bool, S16, complex64, or str.';

/** A dtype name (no JSON): `int32`, `<i4`, `S16`, `complex64`, `>c8`, `str`, ... */
function parseDtypeName(text: string, where: string): Dtype {
  const bad = () =>
    new InputError(
      'PH5_ERR_DTYPE',
      `${where ? `Invalid dtype at ${where}: unknown` : 'Unknown'} dtype '${text.length > 40 ? `${text.slice(0, 40)}...` : text}'. ${NAME_HINT}`,
    );
  if (text.length === 0 || text.length > 16) throw bad();
  const charset = STRING_NAMES[text];
  if (charset) return { kind: 'string', size: 0, order: 'le', charset };
  let rest = text;
  let order: ByteOrder | undefined;
  if (rest[0] === '<' || rest[0] === '>' || rest[0] === '=' || rest[0] === '|') {
    order = rest[0] === '>' ? 'be' : 'le';
    rest = rest.slice(1);
  }
  let kind: 'int' | 'uint' | 'float' | 'bool' | 'bytes' | 'complex';
  let size: number;
  const named = NAMED[rest];
  if (named) {
    ({ kind, size } = named);
  } else {
    const m = /^([iufbSc])([1-9][0-9]*)$/.exec(rest) ?? (rest === '?' ? ['?', 'b', '1'] : null);
    if (!m) throw bad();
    kind = KIND_BY_CODE[m[1]]!;
    size = Number(m[2]);
  }
  if (kind === 'bytes') {
    if (!(size >= 1 && size <= MAX_BYTES_SIZE)) throw bad();
    return { kind, size, order: 'le' };
  }
  if (!VALID_SIZES[kind].includes(size)) throw bad();
  if (kind === 'bool') return { kind, size: 1, order: 'le' };
  // Byte order is meaningless for single bytes; normalise so names round-trip.
  if (size === 1) order = 'le';
  if (kind === 'complex') return { kind, size: size as 8 | 16, order: order ?? 'le' };
  return { kind, size, order: order ?? 'le' };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkName(name: unknown, where: string, what: string): string {
  if (typeof name !== 'string' || name.length === 0) throw dtypeError(where, `${what} must be a non-empty string, not ${show(name)}.`);
  if (name.length > MAX_NAME_LENGTH) throw dtypeError(where, `${what} is longer than ${MAX_NAME_LENGTH} characters.`);
  if (name.includes('\0')) throw dtypeError(where, `${what} contains a NUL character.`);
  return name;
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) throw dtypeError(where, `unknown key '${k}' (expected ${allowed.map((a) => `'${a}'`).join(', ')}).`);
  }
}

const INT_LIMITS: Record<string, [number, number]> = {};
function intLimits(base: 'int' | 'uint', size: number): [number, number] {
  const key = `${base}${size}`;
  if (!INT_LIMITS[key]) {
    const bits = size * 8;
    INT_LIMITS[key] =
      base === 'int'
        ? [Math.max(-(2 ** (bits - 1)), Number.MIN_SAFE_INTEGER), Math.min(2 ** (bits - 1) - 1, Number.MAX_SAFE_INTEGER)]
        : [0, Math.min(2 ** bits - 1, Number.MAX_SAFE_INTEGER)];
  }
  return INT_LIMITS[key];
}

function parseEnumSpec(spec: Record<string, unknown>, where: string): EnumDtype {
  checkKeys(spec, ['enum', 'base'], where);
  const at = (key: string) => (where ? `${where}.${key}` : key);
  let base: Dtype = { kind: 'uint', size: 1, order: 'le' }; // as h5py.enum_dtype
  if (spec.base !== undefined) {
    if (typeof spec.base !== 'string') throw dtypeError(at('base'), `an enum's base must be an integer dtype name such as 'uint8', not ${show(spec.base)}.`);
    base = parseDtypeName(spec.base, at('base'));
  }
  if (base.kind !== 'int' && base.kind !== 'uint') throw dtypeError(at('base'), `an enum's base must be an integer dtype, not '${spec.base}'.`);
  if (!isPlainObject(spec.enum)) throw dtypeError(at('enum'), `must be an object of member names to integer values, such as {"RED": 0, "GREEN": 1}.`);
  const entries = Object.entries(spec.enum);
  if (entries.length === 0) throw dtypeError(at('enum'), 'an enum needs at least one member.');
  if (entries.length > MAX_ENUM_MEMBERS) throw dtypeError(at('enum'), `an enum may have at most ${MAX_ENUM_MEMBERS} members.`);
  const [lo, hi] = intLimits(base.kind, base.size);
  const seen = new Map<number, string>();
  const members = entries.map(([name, value]) => {
    const here = at(`enum.${name}`);
    checkName(name, here, 'a member name');
    if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi) {
      throw dtypeError(here, `a member's value must be an integer from ${lo} to ${hi} (the range of ${formatDtype(base)}), not ${show(value)}.`);
    }
    const other = seen.get(value);
    if (other !== undefined) throw dtypeError(here, `members '${other}' and '${name}' have the same value ${value}.`);
    seen.set(value, name);
    return { name, value };
  });
  return { kind: 'enum', size: base.size as EnumDtype['size'], order: base.order, base: base.kind, members };
}

function checkShape(shape: unknown, where: string): number[] {
  const dims = typeof shape === 'number' ? [shape] : shape;
  if (!Array.isArray(dims) || dims.length === 0 || dims.length > MAX_ARRAY_RANK || !dims.every((n) => typeof n === 'number' && Number.isInteger(n) && n >= 1)) {
    throw dtypeError(where, `an array field's shape must be a list of 1 to ${MAX_ARRAY_RANK} positive integers, not ${show(shape)}.`);
  }
  return dims as number[];
}

/** A field's dtype, as an array dtype when the field has a shape. */
function fieldDtype(spec: unknown, shape: unknown, where: string, depth: number, listForm = false): Dtype {
  const dtypeAt = listForm ? `${where}[1]` : `${where}.dtype`;
  const shapeAt = listForm ? `${where}[2]` : `${where}.shape`;
  const base = parseSpec(spec, dtypeAt, depth + 1);
  if (base.kind === 'string') {
    throw new InputError(
      'PH5_ERR_TYPE',
      `Unsupported dtype at ${dtypeAt}: variable-length strings inside a compound are not supported; use a fixed-length S<n> field.`,
    );
  }
  if (shape === undefined) return base;
  const dims = checkShape(shape, shapeAt);
  const size = dims.reduce((a, b) => a * b, base.size);
  if (size > MAX_ITEMSIZE) throw dtypeError(shapeAt, `the field would take ${size} bytes; at most ${MAX_ITEMSIZE} are allowed.`);
  return { kind: 'array', size, order: 'le', base, shape: dims };
}

interface PlacedField {
  name: string;
  dtype: Dtype;
  offset?: number;
  /** Where the field's name and offset sit in the spec, for messages: `fields[2].name`, `[2][0]`. */
  nameAt: string;
  offsetAt: string;
}

function buildCompound(placed: PlacedField[], itemsize: unknown, where: string): CompoundDtype {
  const at = (key: string) => (where ? `${where}.${key}` : key);
  const fields: CompoundField[] = [];
  const names = new Set<string>();
  let end = 0;
  let maxEnd = 0;
  for (const f of placed) {
    if (names.has(f.name)) throw dtypeError(f.nameAt, `the field name '${f.name}' is used twice.`);
    names.add(f.name);
    const offset = f.offset ?? end;
    for (const g of fields) {
      if (offset < g.offset + g.dtype.size && g.offset < offset + f.dtype.size) {
        throw dtypeError(
          f.offsetAt,
          `field '${f.name}' (bytes ${offset}..${offset + f.dtype.size - 1}) overlaps field '${g.name}' (bytes ${g.offset}..${g.offset + g.dtype.size - 1}).`,
        );
      }
    }
    fields.push({ name: f.name, offset, dtype: f.dtype });
    end = offset + f.dtype.size;
    maxEnd = Math.max(maxEnd, end);
  }
  let size = maxEnd;
  if (itemsize !== undefined) {
    if (typeof itemsize !== 'number' || !Number.isInteger(itemsize) || itemsize < maxEnd) {
      throw dtypeError(at('itemsize'), `must be an integer of at least ${maxEnd} (the end of the last field), not ${show(itemsize)}.`);
    }
    size = itemsize;
  }
  if (size > MAX_ITEMSIZE) throw dtypeError(at('itemsize'), `a record of ${size} bytes is larger than the ${MAX_ITEMSIZE} allowed.`);
  return { kind: 'compound', size, order: 'le', fields };
}

function parseCompoundSpec(spec: Record<string, unknown>, where: string, depth: number): CompoundDtype {
  checkKeys(spec, ['fields', 'itemsize'], where);
  const at = (key: string) => (where ? `${where}.${key}` : key);
  if (!Array.isArray(spec.fields) || spec.fields.length === 0)
    throw dtypeError(at('fields'), 'must be a non-empty list of {"name", "dtype", "shape"?, "offset"?} objects.');
  if (spec.fields.length > MAX_FIELDS) throw dtypeError(at('fields'), `a compound may have at most ${MAX_FIELDS} fields.`);
  const placed = spec.fields.map((f: unknown, i): PlacedField => {
    const here = at(`fields[${i}]`);
    if (!isPlainObject(f)) throw dtypeError(here, `must be an object {"name", "dtype", "shape"?, "offset"?}, not ${show(f)}.`);
    checkKeys(f, ['name', 'dtype', 'shape', 'offset'], here);
    const name = checkName(f.name, `${here}.name`, 'a field name');
    if (f.dtype === undefined) throw dtypeError(`${here}.dtype`, 'every field needs a dtype.');
    const dtype = fieldDtype(f.dtype, f.shape, here, depth);
    if (f.offset !== undefined && (typeof f.offset !== 'number' || !Number.isInteger(f.offset) || f.offset < 0 || f.offset > MAX_ITEMSIZE)) {
      throw dtypeError(`${here}.offset`, `must be a non-negative integer, not ${show(f.offset)}.`);
    }
    return { name, dtype, offset: f.offset, nameAt: `${here}.name`, offsetAt: `${here}.offset` };
  });
  return buildCompound(placed, spec.itemsize, where);
}

/**
 * numpy's list form `[["x", "<f8"], ["v", "<f4", [3]]]` (the .npy `descr`): fields packed
 * in order; an entry named '' with a `V<n>` dtype is padding, which only advances the offset.
 */
function parseListSpec(spec: unknown[], where: string, depth: number): CompoundDtype {
  if (spec.length === 0) throw dtypeError(where, 'a compound in list form needs at least one field.');
  if (spec.length > MAX_FIELDS) throw dtypeError(where, `a compound may have at most ${MAX_FIELDS} fields.`);
  const placed: PlacedField[] = [];
  let offset = 0;
  spec.forEach((entry, i) => {
    const here = `${where}[${i}]`;
    if (!Array.isArray(entry) || entry.length < 2 || entry.length > 3)
      throw dtypeError(here, `a field in list form is [name, dtype] or [name, dtype, shape], not ${show(entry)}.`);
    const [name, fspec, shape] = entry as [unknown, unknown, unknown];
    if (name === '' && typeof fspec === 'string' && entry.length === 2) {
      const pad = /^[|<>=]?V([0-9]{1,7})$/.exec(fspec);
      if (pad) {
        offset += Number(pad[1]);
        if (offset > MAX_ITEMSIZE) throw dtypeError(here, `a record of more than ${MAX_ITEMSIZE} bytes is too large.`);
        return;
      }
    }
    const fname = checkName(name, `${here}[0]`, 'a field name');
    const dtype = fieldDtype(fspec, shape, here, depth, true);
    placed.push({ name: fname, dtype, offset, nameAt: `${here}[0]`, offsetAt: here });
    offset += dtype.size;
  });
  if (placed.length === 0) throw dtypeError(where, 'a compound needs at least one field that is not padding.');
  return buildCompound(placed, offset, where);
}

function parseSpec(spec: unknown, where: string, depth: number): Dtype {
  if (depth > MAX_DTYPE_DEPTH) throw dtypeError(where, `compounds and array fields nest at most ${MAX_DTYPE_DEPTH} deep.`);
  if (typeof spec === 'string') {
    if (depth > 0 && (spec.startsWith('{') || spec.startsWith('['))) throw dtypeError(where, 'a nested dtype is an object or list, not JSON text.');
    return depth === 0 && (spec.startsWith('{') || spec.startsWith('[')) ? parseDtype(spec) : parseDtypeName(spec, where);
  }
  if (Array.isArray(spec)) return parseListSpec(spec, where, depth);
  if (isPlainObject(spec)) {
    if ('enum' in spec) return parseEnumSpec(spec, where);
    if ('fields' in spec) return parseCompoundSpec(spec, where, depth);
    throw dtypeError(where, `an object dtype has either "enum" (with "base") or "fields" (with "itemsize"), not ${show(Object.keys(spec))}.`);
  }
  throw dtypeError(where, `expected a dtype name, an enum or compound object, or a list of fields, not ${show(spec)}.`);
}

/**
 * A dtype from its API spelling: a name (`int32`, `complex64`, `str`, ...), an enum
 * object `{"enum": {...}, "base": "uint8"}`, a compound object `{"fields": [...],
 * "itemsize"?}` or numpy's list form; a string starting with `{` or `[` is that as JSON
 * text. Anything wrong is PH5_ERR_DTYPE naming where (`fields[2].dtype`, prefixed by
 * `where` if given); a variable-length string inside a compound is PH5_ERR_TYPE.
 */
export function parseDtypeSpec(spec: unknown, where = ''): Dtype {
  return parseSpec(spec, where, 0);
}

/** The canonical name of a dtype that has one (every kind but enum, compound, array). */
function dtypeName(d: Dtype): string | null {
  switch (d.kind) {
    case 'bool':
      return 'bool';
    case 'bytes':
      return `S${d.size}`;
    case 'string':
      return d.charset === 'ascii' ? 'str:ascii' : 'str';
    case 'complex':
      return d.order === 'le' ? `complex${d.size * 8}` : `>c${d.size}`;
    case 'int':
    case 'uint':
    case 'float':
      if (d.order === 'le' || d.size === 1) return `${d.kind}${d.size * 8}`;
      return `>${d.kind[0]}${d.size}`;
    default:
      return null;
  }
}

/**
 * The canonical API spelling of `d`: the canonical name where there is one; enums as
 * `{enum, base}`; compounds as `{fields: [{name, dtype, shape?, offset}], itemsize}`
 * (always every offset and the itemsize; `shape` only for array fields). A bare array
 * dtype (outside a compound) has no spelling: PH5_ERR_TYPE.
 */
export function dtypeSpec(d: Dtype): DtypeSpec {
  const name = dtypeName(d);
  if (name !== null) return name;
  if (d.kind === 'enum') {
    const members: Record<string, number> = {};
    for (const m of d.members) members[m.name] = m.value;
    return { enum: members, base: dtypeName({ kind: d.base, size: d.size, order: d.order })! };
  }
  if (d.kind === 'compound') {
    return {
      fields: d.fields.map((f): FieldSpec => {
        if (f.dtype.kind === 'array') return { name: f.name, dtype: dtypeSpec(f.dtype.base), shape: [...f.dtype.shape], offset: f.offset };
        return { name: f.name, dtype: dtypeSpec(f.dtype), offset: f.offset };
      }),
      itemsize: d.size,
    };
  }
  throw new InputError('PH5_ERR_TYPE', `An array type (${describeDtype(d)}) is supported only as a field of a compound.`);
}

/** JSON with every non-ASCII character escaped, so the text is safe in an HTTP header. */
function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The canonical text of `d`: its canonical name (`int32`, `>i4`, `S16`, `bool`,
 * `complex64`, `>c8`, `str`, `str:ascii`), or for enums and compounds the JSON of
 * `dtypeSpec(d)` (fixed key order, non-ASCII escaped as \uXXXX).
 */
export function formatDtype(d: Dtype): string {
  return dtypeName(d) ?? asciiJson(dtypeSpec(d));
}

/** The dtype of a canonical text (or any accepted name; text starting `{` or `[` is JSON). */
export function parseDtype(text: string): Dtype {
  if (typeof text !== 'string') throw dtypeError('', `expected a dtype name, not ${show(text)}.`);
  if (text.startsWith('{') || text.startsWith('[')) {
    if (text.length > MAX_DTYPE_TEXT) throw dtypeError('', `the dtype text is longer than ${MAX_DTYPE_TEXT} characters.`);
    let spec: unknown;
    try {
      spec = JSON.parse(text);
    } catch (err) {
      throw dtypeError('', `text starting with '${text[0]}' must be JSON (${(err as Error).message}).`);
    }
    return parseSpec(spec, '', 0);
  }
  return parseDtypeName(text, '');
}

/** True when JSON numbers of this dtype can lose precision in a JS number. */
export function isWideInteger(d: Dtype): boolean {
  return (d.kind === 'int' || d.kind === 'uint') && d.size === 8;
}

/** True when `d` is or contains a variable-length string (no fixed element size). */
export function hasVariableLength(d: Dtype): boolean {
  switch (d.kind) {
    case 'string':
      return true;
    case 'compound':
      return d.fields.some((f) => hasVariableLength(f.dtype));
    case 'array':
      return hasVariableLength(d.base);
    default:
      return false;
  }
}

/** Bytes per element (a compound's itemsize); 0 for variable-length strings. */
export function elementSize(d: Dtype): number {
  return hasVariableLength(d) ? 0 : d.size;
}

/**
 * Whether bytes of `payload` may be written to a dataset of `target` (HDF5 converts what
 * differs; the addon's memDtype rules allow at least this):
 * - the same kind and size, up to byte order (numbers, bool, S<n>, complex);
 * - into an enum: the same enum (members and base signedness) in either byte order, or an
 *   int/uint of the base's size and signedness (its values stored as sent);
 * - into a variable-length string: bytes (S<n> slots) of any size;
 * - into a compound: a compound with exactly the same field names, each field compatible
 *   by these rules (offsets, field order and itemsize may differ: HDF5 converts by name);
 * - into an array field: an array of the same shape with a compatible base.
 */
export function payloadCompatible(payload: Dtype, target: Dtype): boolean {
  switch (target.kind) {
    case 'string':
      return payload.kind === 'bytes';
    case 'enum':
      if (payload.kind === 'int' || payload.kind === 'uint') return payload.kind === target.base && payload.size === target.size;
      return (
        payload.kind === 'enum' &&
        payload.base === target.base &&
        payload.size === target.size &&
        payload.members.length === target.members.length &&
        payload.members.every((m, i) => m.name === target.members[i]!.name && m.value === target.members[i]!.value)
      );
    case 'compound': {
      if (payload.kind !== 'compound' || payload.fields.length !== target.fields.length) return false;
      const byName = new Map(payload.fields.map((f) => [f.name, f.dtype]));
      return target.fields.every((f) => {
        const p = byName.get(f.name);
        return p !== undefined && p.kind !== 'string' && payloadCompatible(p, f.dtype);
      });
    }
    case 'array':
      return (
        payload.kind === 'array' &&
        payload.shape.length === target.shape.length &&
        payload.shape.every((n, i) => n === target.shape[i]) &&
        payloadCompatible(payload.base, target.base)
      );
    default:
      return payload.kind === target.kind && payload.size === target.size;
  }
}

/** A short human description for messages: `int32`, `enum uint8 {RED, GREEN}`, `compound {x: float64, v: float32[3]}`. */
export function describeDtype(d: Dtype): string {
  const text = describe(d, 0);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

function describe(d: Dtype, depth: number): string {
  const name = dtypeName(d);
  if (name !== null) return name;
  if (depth > 2) return d.kind;
  const list = (items: string[]) => (items.length > 8 ? [...items.slice(0, 8), '...'] : items).join(', ');
  switch (d.kind) {
    case 'enum':
      return `enum ${dtypeName({ kind: d.base, size: d.size, order: d.order })} {${list(d.members.map((m) => m.name))}}`;
    case 'compound':
      return `compound {${list(d.fields.map((f) => `${f.name}: ${describe(f.dtype, depth + 1)}`))}}`;
    case 'array':
      return `${describe(d.base, depth + 1)}[${d.shape.join(', ')}]`;
    default:
      return d.kind;
  }
}
