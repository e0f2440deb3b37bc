/**
 * The numpy `.npy` format (https://numpy.org/devdocs/reference/generated/numpy.lib.format.html):
 * a magic string, a version, a little Python-literal header dict, then the raw C- or
 * Fortran-order bytes. ph5 reads it from upload streams (PUT value with
 * `Content-Type: application/x-npy`) and writes it for `Accept: application/x-npy`.
 *
 * The header is parsed with fixed patterns, never evaluated.
 */
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { formatDtype, parseDtype, type Dtype } from './dtype.js';
import { InputError } from './input-error.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
/** numpy itself refuses headers above 10 KiB unless told otherwise; a little more slack. */
const MAX_HEADER_BYTES = 64 * 1024;
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

/** numpy's `descr` for a dtype: '<f8', '>i4', '|u1', '|b1', '|S16'. */
export function npyDescr(d: Dtype): string {
  if (d.kind === 'bool') return '|b1';
  if (d.kind === 'bytes') return `|S${d.size}`;
  const code = { int: 'i', uint: 'u', float: 'f' }[d.kind];
  if (d.size === 1) return `|${code}1`;
  return `${d.order === 'be' ? '>' : '<'}${code}${d.size}`;
}

/** The header of a C-order .npy holding `shape` elements of `d` (version 1.0, or 2.0 when long). */
export function encodeNpyHeader(d: Dtype, shape: readonly number[]): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${npyDescr(d)}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  for (const [major, lengthBytes] of [[1, 2], [2, 4]] as const) {
    const prefix = MAGIC.length + 2 + lengthBytes;
    // Padded with spaces and a final newline so the data starts 64-byte aligned.
    const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
    const headerLength = total - prefix;
    if (major === 1 && headerLength > 0xffff) continue;
    const out = Buffer.alloc(total, 0x20);
    MAGIC.copy(out, 0);
    out[6] = major;
    out[7] = 0;
    if (lengthBytes === 2) out.writeUInt16LE(headerLength, 8);
    else out.writeUInt32LE(headerLength, 8);
    out.write(dict, prefix, 'latin1');
    out[total - 1] = 0x0a;
    return out;
  }
  throw new Error('unreachable: a version 2.0 header always fits');
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

  const descr = /['"]descr['"]\s*:\s*['"]([^'"]{1,20})['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw npyError('its header lacks descr, fortran_order or shape.');
  let dtype: Dtype;
  try {
    dtype = parseDtype(descr);
  } catch {
    throw npyError(`its dtype '${descr}' is not one ph5 stores (integers, floats, bool, S<n>).`);
  }
  const parts = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const shape = parts.map((p) => {
    if (!/^\d{1,16}$/.test(p)) throw npyError(`its shape (${shapeText}) is not a tuple of integers.`);
    return Number(p);
  });
  return { dtype, fortranOrder: fortran === 'True', shape, dataOffset };
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
  return `${formatDtype(h.dtype)} ${h.fortranOrder ? 'Fortran-order ' : ''}array of shape (${h.shape.join(', ')})`;
}
