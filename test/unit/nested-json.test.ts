/**
 * The streamed JSON of a string selection: element texts written a piece at a time give
 * exactly JSON.stringify of the whole nested array, however the pieces are cut.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NestedJsonWriter } from '../../services/api/routes/values/nested-json.js';

function nest(values: string[], shape: number[]): unknown {
  let next = 0;
  const build = (d: number): unknown => (d === shape.length ? values[next++] : Array.from({ length: shape[d]! }, () => build(d + 1)));
  return build(0);
}

const shapes: number[][] = [[], [1], [5], [2, 3], [3, 1, 2], [2, 2, 2, 2], [1, 1]];
const pieceSizes = [1, 2, 3, 7, 100];

for (const shape of shapes) {
  for (const piece of pieceSizes) {
    test(`NestedJsonWriter: shape [${shape.join(', ')}] in pieces of ${piece}`, () => {
      const total = shape.reduce((a, b) => a * b, 1);
      const values = Array.from({ length: total }, (_, i) => `v${i}${i % 3 === 0 ? ' "quoted" é' : ''}`);
      const writer = new NestedJsonWriter(shape);
      let text = '';
      for (let at = 0; at < total; at += piece) text += writer.write(values.slice(at, at + piece).map((v) => JSON.stringify(v)));
      assert.equal(writer.complete, true);
      assert.equal(text, JSON.stringify(nest(values, shape)));
    });
  }
}

test('NestedJsonWriter: more elements than the selection holds is an error', () => {
  const writer = new NestedJsonWriter([2]);
  writer.write(['"a"']);
  assert.throws(() => writer.write(['"b"', '"c"']), /do not continue/);
});
