/**
 * Checks fixed-width slots bound for a variable-length string dataset (binary and .npy
 * bodies: each value null-padded to the slot width). JSON writes are checked as text; raw
 * slots were written as they came, so bytes that are not UTF-8 (or not ASCII, for a
 * str:ascii dataset) reached the file, where h5py's .asstr() fails on them, and a NUL inside
 * a value cut it short without a word.
 */
import { isUtf8 } from 'node:buffer';

/** Why the first bad slot of `bytes` (slots of `width` bytes, numbered from `first`) is bad, or null. */
export function badStringSlot(bytes: Buffer, width: number, ascii: boolean, first = 0): string | null {
  const count = Math.floor(bytes.length / width);
  for (let i = 0; i < count; i++) {
    const slot = bytes.subarray(i * width, (i + 1) * width);
    const nul = slot.indexOf(0);
    const value = nul < 0 ? slot : slot.subarray(0, nul);
    const n = first + i;
    if (nul >= 0 && slot.subarray(nul).some((b) => b !== 0))
      return `Value #${n} has a NUL byte inside it (a slot is the value, then NULs only); a variable-length string cannot hold one.`;
    if (ascii && value.some((b) => b > 0x7f)) return `Value #${n} is not ASCII, as this str:ascii dataset requires.`;
    if (!ascii && !isUtf8(value)) return `Value #${n} is not UTF-8 text, as this str dataset requires (its strings are UTF-8).`;
  }
  return null;
}
