/**
 * The shape of a JSON value given without one (attribute bodies): how deep its nesting goes
 * before an element starts. For plain numbers, booleans and strings every array is a
 * dimension; for the types whose single values are themselves JSON arrays or objects, the
 * innermost level is the element:
 * - complex: a pair [re, im] (an array of two non-arrays) is one value;
 * - compound: an object is one value, and so is a row (an array of as many non-array
 *   items as the compound has fields). A row with array fields is ambiguous: send `shape`.
 */
import type { Dtype } from '../../shared/dtype.js';

function isElement(v: unknown[], dtype: Dtype): boolean {
  if (dtype.kind === 'complex') return v.length === 2 && !v.some(Array.isArray);
  if (dtype.kind === 'compound') return v.length === dtype.fields.length && !v.some((x) => Array.isArray(x) || (typeof x === 'object' && x !== null));
  return false;
}

export function inferValueShape(value: unknown, dtype: Dtype): number[] {
  const shape: number[] = [];
  let cur = value;
  while (Array.isArray(cur) && !isElement(cur, dtype)) {
    shape.push(cur.length);
    cur = cur[0];
  }
  return shape;
}
