/**
 * Reads in another byte order (`GET …/value?dtype=>i4` of a little-endian int32 dataset):
 * the bytes HDF5 gives are turned around element by element in TS, no HDF5 conversion.
 * Only the byte order may change; anything else (another kind, size, field layout) is no
 * reinterpretation a read does, and is refused.
 *
 * Written against the structure of the dtype model (kind, size, order; complex halves;
 * enum base; compound fields at offsets; array fields of a base), so it applies to every
 * dtype the codecs know without depending on their module.
 */
export interface LooseDtype {
  kind: string;
  size: number;
  order: string;
  base?: unknown;
  members?: unknown;
  fields?: { name: string; offset: number; dtype: LooseDtype }[];
  shape?: number[];
  charset?: string;
}

/** A run of bytes inside one element to reverse. */
export interface Swap {
  offset: number;
  width: number;
}

const SCALAR_KINDS = new Set(['int', 'uint', 'float']);

/**
 * The byte runs to reverse in each element so that bytes of `from` become bytes of `to`
 * ([] when the two are the same bytes), or null when they differ in more than byte order.
 */
export function byteOrderSwaps(from: LooseDtype, to: LooseDtype): Swap[] | null {
  if (from.kind !== to.kind || from.size !== to.size) return null;
  const flip = from.order !== to.order;
  if (SCALAR_KINDS.has(from.kind)) return flip && from.size > 1 ? [{ offset: 0, width: from.size }] : [];
  if (from.kind === 'complex')
    return flip
      ? [
          { offset: 0, width: from.size / 2 },
          { offset: from.size / 2, width: from.size / 2 },
        ]
      : [];
  if (from.kind === 'enum') {
    if (JSON.stringify(from.base) !== JSON.stringify(to.base) || JSON.stringify(from.members) !== JSON.stringify(to.members)) return null;
    return flip && from.size > 1 ? [{ offset: 0, width: from.size }] : [];
  }
  if (from.kind === 'compound') {
    const a = from.fields ?? [];
    const b = to.fields ?? [];
    if (a.length !== b.length) return null;
    const out: Swap[] = [];
    for (let i = 0; i < a.length; i++) {
      if (a[i]!.name !== b[i]!.name || a[i]!.offset !== b[i]!.offset) return null;
      const inner = byteOrderSwaps(a[i]!.dtype, b[i]!.dtype);
      if (!inner) return null;
      for (const s of inner) out.push({ offset: a[i]!.offset + s.offset, width: s.width });
    }
    return out;
  }
  if (from.kind === 'array') {
    if (JSON.stringify(from.shape) !== JSON.stringify(to.shape)) return null;
    const inner = byteOrderSwaps(from.base as LooseDtype, to.base as LooseDtype);
    if (!inner) return null;
    const baseSize = (from.base as LooseDtype).size;
    const out: Swap[] = [];
    for (let at = 0; at + baseSize <= from.size; at += baseSize) for (const s of inner) out.push({ offset: at + s.offset, width: s.width });
    return out;
  }
  // bool, bytes, strings: one byte order only; the same dtype or nothing.
  return JSON.stringify(from) === JSON.stringify(to) ? [] : null;
}

/** Reverses the runs `swaps` in every `itemSize`-byte element of `buf`, in place. */
export function applySwaps(buf: Buffer, itemSize: number, swaps: readonly Swap[]): Buffer {
  if (swaps.length === 0) return buf;
  // Whole-element swaps of 2, 4, 8 bytes: Node's own (fast) swaps.
  if (swaps.length === 1 && swaps[0]!.offset === 0 && swaps[0]!.width === itemSize) {
    if (itemSize === 2) return buf.swap16();
    if (itemSize === 4) return buf.swap32();
    if (itemSize === 8) return buf.swap64();
  }
  for (let base = 0; base + itemSize <= buf.length; base += itemSize) {
    for (const { offset, width } of swaps) {
      let i = base + offset;
      let j = i + width - 1;
      while (i < j) {
        const t = buf[i]!;
        buf[i++] = buf[j]!;
        buf[j--] = t;
      }
    }
  }
  return buf;
}
