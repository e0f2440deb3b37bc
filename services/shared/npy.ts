/**
 * The numpy `.npy` format (https://numpy.org/devdocs/reference/generated/numpy.lib.format.html):
 * a magic string, a version, a little Python-literal header dict, then the raw C- or
 * Fortran-order bytes. ph5 reads it from upload streams (PUT value with
 * `Content-Type: application/x-npy`) and writes it for `Accept: application/x-npy`.
 *
 * The header is parsed by a small Python-literal parser (strings, ints, True/False/None,
 * tuples, lists, dicts), never evaluated. Structured dtypes use numpy's list `descr`,
 * `[('x', '<f8'), ('', '|V4'), ('v', '<f4', (3,))]`, where an unnamed `V<n>` entry is padding.
 */
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { describeDtype, parseDtype, parseDtypeSpec, type Dtype } from './dtype.js';
import { InputError } from './input-error.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
/** numpy itself refuses headers above 10 KiB unless told otherwise; a little more slack. */
const MAX_HEADER_BYTES = 64 * 1024;
/** How deep the header's literal may nest (a structured descr nests a few levels per compound). */
const MAX_LITERAL_DEPTH = 40;
export const NPY_MEDIA_TYPE = 'application/x-npy';

export interface NpyHeader {
  dtype: Dtype;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the data (= length of magic, version, length field and header). */
  dataOffset: number;
}

function npyError(message: string): InputError {
  return new InputError('PH5_ERR_NPY', `Not a usable .npy body: ${message}`);
}

/** A Python string literal (single-quoted) of `s`. */
function pyString(s: string): string {
  let out = "'";
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\' || ch === "'") out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}'`;
}

function pyTuple(items: readonly (string | number)[]): string {
  return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
}

/** numpy's type string of a dtype with one: '<f8', '>i4', '|u1', '|b1', '|S16', '<c8'; enums as their base integer. */
function typeString(d: Dtype): string | null {
  switch (d.kind) {
    case 'bool':
      return '|b1';
    case 'bytes':
      return `|S${d.size}`;
    case 'int':
    case 'uint':
    case 'float':
    case 'complex':
    case 'enum': {
      const code = d.kind === 'enum' ? (d.base === 'int' ? 'i' : 'u') : { int: 'i', uint: 'u', float: 'f', complex: 'c' }[d.kind];
      if (d.size === 1) return `|${code}1`;
      return `${d.order === 'be' ? '>' : '<'}${code}${d.size}`;
    }
    default:
      return null;
  }
}

/** The descr as it appears in the header: a quoted type string or a list literal. */
function descrLiteral(d: Dtype): string {
  const simple = typeString(d);
  if (simple !== null) return pyString(simple);
  if (d.kind === 'string') throw npyError(`a variable-length string (${describeDtype(d)}) has no .npy form; read it as JSON.`);
  if (d.kind === 'array') throw npyError(`an array type outside a compound (${describeDtype(d)}) has no .npy form.`);
  if (d.kind !== 'compound') throw npyError(`${describeDtype(d)} has no .npy form.`);
  const entries: string[] = [];
  let pos = 0;
  const pad = (n: number) => entries.push(`('', '|V${n}')`);
  for (const f of [...d.fields].sort((a, b) => a.offset - b.offset)) {
    if (f.offset > pos) pad(f.offset - pos);
    if (f.dtype.kind === 'array') entries.push(`(${pyString(f.name)}, ${descrLiteral(f.dtype.base)}, ${pyTuple(f.dtype.shape)})`);
    else entries.push(`(${pyString(f.name)}, ${descrLiteral(f.dtype)})`);
    pos = f.offset + f.dtype.size;
  }
  if (d.size > pos) pad(d.size - pos);
  return `[${entries.join(', ')}]`;
}

/**
 * numpy's `descr` for a dtype: '<f8', '>i4', '|u1', '|b1', '|S16', '<c8' (enums: their
 * base integer); for a compound the list literal `[('x', '<f8'), ('', '|V4'), ('v', '<f4', (3,))]`
 * (fields in offset order, `('', '|V<n>')` for gaps and tail padding, nested lists for
 * nested compounds). A variable-length string has none: PH5_ERR_NPY.
 */
export function npyDescr(d: Dtype): string {
  return typeString(d) ?? descrLiteral(d);
}

/** The header of a C-order .npy holding `shape` elements of `d` (version 1.0; 2.0 when long; 3.0 for names beyond Latin-1). */
export function encodeNpyHeader(d: Dtype, shape: readonly number[]): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': ${descrLiteral(d)}, 'fortran_order': False, 'shape': ${shapeText}, }`;
  // eslint-disable-next-line no-control-regex -- the range of latin1, not a stray control character
  const utf8 = /[^\x00-\xff]/.test(dict);
  const dictBytes = Buffer.from(dict, utf8 ? 'utf8' : 'latin1');
  for (const [major, lengthBytes] of utf8
    ? ([[3, 4]] as const)
    : ([
        [1, 2],
        [2, 4],
      ] as const)) {
    const prefix = MAGIC.length + 2 + lengthBytes;
    // Padded with spaces and a final newline so the data starts 64-byte aligned.
    const total = Math.ceil((prefix + dictBytes.length + 1) / 64) * 64;
    const headerLength = total - prefix;
    if (major === 1 && headerLength > 0xffff) continue;
    const out = Buffer.alloc(total, 0x20);
    MAGIC.copy(out, 0);
    out[6] = major;
    out[7] = 0;
    if (lengthBytes === 2) out.writeUInt16LE(headerLength, 8);
    else out.writeUInt32LE(headerLength, 8);
    dictBytes.copy(out, prefix);
    out[total - 1] = 0x0a;
    return out;
  }
  throw new Error('unreachable: a version 2.0 header always fits');
}

/** A Python literal value: tuples and lists both become arrays, dicts Maps. */
export type PyLiteral = string | number | boolean | null | PyLiteral[] | Map<string, PyLiteral>;

const ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  n: '\n',
  r: '\r',
  t: '\t',
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
  '0': '\0',
  '\n': '',
};

/**
 * Parses a Python literal of strings (either quote), integers, True/False/None, tuples,
 * lists and dicts with string keys, with trailing commas; what ast.literal_eval would
 * give for the .npy header. Throws a plain Error saying where it stopped.
 */
export function parsePyLiteral(text: string): PyLiteral {
  let pos = 0;
  const fail = (what: string): never => {
    throw new Error(`${what} at character ${pos}`);
  };
  const ws = () => {
    while (pos < text.length && ' \t\r\n'.includes(text[pos]!)) pos++;
  };
  const str = (): string => {
    const quote = text[pos++]!;
    let out = '';
    for (;;) {
      if (pos >= text.length) fail('an unterminated string');
      const ch = text[pos++]!;
      if (ch === quote) return out;
      if (ch === '\n') fail('a line break inside a string');
      if (ch !== '\\') {
        out += ch;
        continue;
      }
      const e = text[pos++];
      if (e === undefined) fail('an unterminated string');
      const hex = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
      if (hex) {
        const digits = text.slice(pos, pos + hex);
        if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== hex) fail(`a bad \\${e} escape`);
        const code = parseInt(digits, 16);
        if (code > 0x10ffff) fail(`a bad \\${e} escape`);
        out += String.fromCodePoint(code);
        pos += hex;
      } else if (ESCAPES[e!] !== undefined) out += ESCAPES[e!];
      else out += `\\${e}`; // Python keeps unknown escapes as they are
    }
  };
  const value = (depth: number): PyLiteral => {
    if (depth > MAX_LITERAL_DEPTH) fail('nesting too deep');
    ws();
    const c = text[pos];
    if (c === undefined) return fail('the end of the text where a value was expected');
    if (c === "'" || c === '"') return str();
    // Python 2 era headers may spell text u'...'.
    if (c === 'u' && (text[pos + 1] === "'" || text[pos + 1] === '"')) {
      pos++;
      return str();
    }
    if (c === '[' || c === '(') {
      const close = c === '[' ? ']' : ')';
      pos++;
      const items: PyLiteral[] = [];
      let comma = false;
      for (;;) {
        ws();
        if (text[pos] === close) {
          pos++;
          // (x) without a comma is x itself, not a tuple.
          return c === '(' && items.length === 1 && !comma ? items[0]! : items;
        }
        if (items.length > 0 && !comma) fail(`'${close}' or ',' expected`);
        items.push(value(depth + 1));
        ws();
        comma = text[pos] === ',';
        if (comma) pos++;
      }
    }
    if (c === '{') {
      pos++;
      const dict = new Map<string, PyLiteral>();
      let comma = true;
      for (;;) {
        ws();
        if (text[pos] === '}') {
          pos++;
          return dict;
        }
        if (!comma) fail("'}' or ',' expected");
        const key = value(depth + 1);
        if (typeof key !== 'string') fail('a dict key that is not a string');
        ws();
        if (text[pos] !== ':') fail("':' expected");
        pos++;
        dict.set(key as string, value(depth + 1));
        ws();
        comma = text[pos] === ',';
        if (comma) pos++;
      }
    }
    const num = /^-?[0-9]{1,19}L?(?![0-9A-Za-z_.])/.exec(text.slice(pos, pos + 24));
    if (num) {
      pos += num[0].length;
      const n = Number(num[0].replace('L', ''));
      if (!Number.isSafeInteger(n)) fail('an integer too large');
      return n;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(pos, pos + 16))?.[0];
    if (word === 'True' || word === 'False' || word === 'None') {
      pos += word.length;
      return word === 'None' ? null : word === 'True';
    }
    return fail(`'${text.slice(pos, pos + 10)}' is not a literal`);
  };
  const result = value(0);
  ws();
  if (pos !== text.length) fail('text after the literal');
  return result;
}

/** The dtype of a header's descr: a numpy type string, or a structured list. */
function descrDtype(descr: PyLiteral): Dtype {
  if (typeof descr === 'string') {
    let dtype: Dtype | null = null;
    if (/^[<>|=]?[biufcS][0-9]{1,5}$/.test(descr) || descr === '|b1') {
      try {
        dtype = parseDtype(descr);
      } catch {
        /* refused below */
      }
    }
    if (!dtype) throw npyError(`its dtype '${descr.slice(0, 20)}' is not one ph5 stores (integers, floats, complex, bool, S<n>, structured).`);
    return dtype;
  }
  if (Array.isArray(descr)) {
    try {
      return parseDtypeSpec(descr, 'descr');
    } catch (err) {
      if (err instanceof InputError) throw npyError(`its structured dtype is not one ph5 stores: ${err.message}`);
      throw err;
    }
  }
  throw npyError('its descr is neither a type string nor a list of fields.');
}

/** Parses a header from the start of `buf`; null when `buf` does not hold all of it yet. */
export function parseNpyHeader(buf: Buffer): NpyHeader | null {
  if (buf.length < 10) {
    if (!MAGIC.subarray(0, Math.min(buf.length, 6)).equals(buf.subarray(0, Math.min(buf.length, 6)))) throw npyError('it does not start with \\x93NUMPY.');
    return null;
  }
  if (!buf.subarray(0, 6).equals(MAGIC)) throw npyError('it does not start with \\x93NUMPY.');
  const major = buf[6]!;
  if (major < 1 || major > 3) throw npyError(`format version ${major}.${buf[7]} is unknown.`);
  const lengthBytes = major === 1 ? 2 : 4;
  if (buf.length < 8 + lengthBytes) return null;
  const headerLength = lengthBytes === 2 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  if (headerLength > MAX_HEADER_BYTES) throw npyError(`its header is ${headerLength} bytes long.`);
  const dataOffset = 8 + lengthBytes + headerLength;
  if (buf.length < dataOffset) return null;
  const text = buf.subarray(8 + lengthBytes, dataOffset).toString(major === 3 ? 'utf8' : 'latin1');

  let dict: PyLiteral;
  try {
    dict = parsePyLiteral(text);
  } catch (err) {
    throw npyError(`its header is not a Python literal (${(err as Error).message}).`);
  }
  if (!(dict instanceof Map)) throw npyError('its header is not a dict.');
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shapeValue = dict.get('shape');
  if (descr === undefined || fortran === undefined || shapeValue === undefined) throw npyError('its header lacks descr, fortran_order or shape.');
  if (typeof fortran !== 'boolean') throw npyError('its fortran_order is not True or False.');
  if (!Array.isArray(shapeValue) || !shapeValue.every((n) => typeof n === 'number' && n >= 0)) throw npyError(`its shape is not a tuple of integers.`);
  const dtype = descrDtype(descr);
  return { dtype, fortranOrder: fortran, shape: shapeValue as number[], dataOffset };
}

/**
 * Reads a .npy header off the front of a stream and leaves the stream positioned at the
 * first data byte (the bytes read past the header are pushed back).
 */
export async function readNpyHeader(stream: Readable): Promise<NpyHeader> {
  let buf: Buffer = Buffer.alloc(0);
  for (;;) {
    const chunk = stream.read() as Buffer | null;
    if (chunk === null) {
      if (stream.readableEnded || stream.destroyed) throw npyError('the body ended inside the header.');
      await Promise.race([once(stream, 'readable'), once(stream, 'end'), once(stream, 'close')]);
      continue;
    }
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    const header = parseNpyHeader(buf);
    if (header) {
      const rest = buf.subarray(header.dataOffset);
      if (rest.length) stream.unshift(rest);
      return header;
    }
    if (buf.length > MAX_HEADER_BYTES + 12) throw npyError('its header never ends.');
  }
}

/** The dtype name of a header, for messages. */
export function describeNpy(h: NpyHeader): string {
  return `${describeDtype(h.dtype)} ${h.fortranOrder ? 'Fortran-order ' : ''}array of shape (${h.shape.join(', ')})`;
}
