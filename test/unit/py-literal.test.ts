/**
 * The Python-literal parser behind .npy headers: what ast.literal_eval gives for the
 * literals numpy writes (strings in both quotes with escapes, ints, True/False/None,
 * tuples, lists, dicts, trailing commas), never evaluating anything; structured descrs
 * that are malformed are PH5_ERR_NPY.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeNpyHeader, parseNpyHeader, parsePyLiteral } from '../../services/shared/npy.js';
import { parseDtype } from '../../services/shared/dtype.js';

test('literals parse as Python reads them', () => {
  const cases: Array<[string, unknown]> = [
    ["'<f8'", '<f8'],
    ["u'<f8'", '<f8'],
    ['"<f8"', '<f8'],
    [String.raw`'it\'s \\ "x" \n\t\x41\u00e9\U0001F600 \q'`, 'it\'s \\ "x" \n\tAé😀 \\q'],
    [String.raw`"a'b"`, "a'b"],
    ['42', 42],
    ['-7', -7],
    ['3L', 3],
    ['True', true],
    ['False', false],
    ['None', null],
    ['()', []],
    ['(3,)', [3]],
    ['(3)', 3],
    ['(2, 3, )', [2, 3]],
    ['[]', []],
    [
      "[('x', '<f8'), ('v', '<f4', (3,)),]",
      [
        ['x', '<f8'],
        ['v', '<f4', [3]],
      ],
    ],
    ["[('p', [('x', '<f4')])]", [['p', [['x', '<f4']]]]],
    [
      ' { \'a\' : 1 , "b": (1,2), } ',
      new Map<string, unknown>([
        ['a', 1],
        ['b', [1, 2]],
      ]),
    ],
    ['{}', new Map()],
  ];
  for (const [text, value] of cases) assert.deepEqual(parsePyLiteral(text), value, text);
});

test('anything else is refused, saying where', () => {
  for (const text of [
    '',
    "'open",
    "'a\nb'",
    '(1 2)',
    '[1,,2]',
    '{1: 2}',
    "{'a' 1}",
    "{'a': 1 'b': 2}",
    '1.5',
    '0x10',
    'true',
    "__import__('os')",
    "'a' 'b'",
    '99999999999999999999',
    '['.repeat(50) + ']'.repeat(50),
    String.raw`'\x4'`,
    'f(1)',
    '-',
    '+1',
    "b'x'",
    'u',
    "u 'x'",
  ]) {
    assert.throws(() => parsePyLiteral(text), /at character \d+/, JSON.stringify(text));
  }
});

function withDescr(descr: string, shape = '(2,)'): Buffer {
  const good = encodeNpyHeader(parseDtype('int8'), [2]).toString('latin1');
  const text = good.replace("'|i1'", descr).replace('(2,)', shape);
  // Keep the header length field right (the text may have grown).
  const body = text.slice(10).trimEnd();
  const total = Math.ceil((10 + body.length + 1) / 64) * 64;
  const out = Buffer.alloc(total, 0x20);
  Buffer.from(good, 'latin1').copy(out, 0, 0, 8);
  out.writeUInt16LE(total - 10, 8);
  out.write(body, 10, 'latin1');
  out[total - 1] = 0x0a;
  return out;
}

test('structured descrs that ph5 cannot store are PH5_ERR_NPY, with the reason', () => {
  assert.deepEqual(parseNpyHeader(withDescr("[('a', '<i4'), ('', '|V4')]"))!.dtype, {
    kind: 'compound',
    size: 8,
    order: 'le',
    fields: [{ name: 'a', offset: 0, dtype: { kind: 'int', size: 4, order: 'le' } }],
  });
  const cases: Array<[string, RegExp]> = [
    ["[('a', '<U4')]", /unknown dtype '<U4'/],
    ["[('a', 'O')]", /unknown dtype 'O'/],
    ["[('a', '<i4'), ('a', '<i4')]", /the field name 'a' is used twice/],
    ["[(('title', 'a'), '<i4')]", /a field name must be a non-empty string/],
    ["[('a',)]", /a field in list form is \[name, dtype\]/],
    ["[('', '|V8')]", /at least one field that is not padding/],
    ["[('s', 'str')]", /variable-length strings inside a compound/],
    ['[]', /needs at least one field/],
    ["'<U4'", /its dtype '<U4' is not one ph5 stores/],
    ["'str'", /its dtype 'str' is not one ph5 stores/],
    ["'|V8'", /its dtype '\|V8' is not one ph5 stores/],
    ["'[1]'", /is not one ph5 stores/],
    ['7', /neither a type string nor a list of fields/],
  ];
  for (const [descr, message] of cases) {
    assert.throws(
      () => parseNpyHeader(withDescr(descr)),
      (e: any) => e.code === 'PH5_ERR_NPY' && message.test(e.message),
      descr,
    );
  }
  for (const shape of ['(2.5,)', "('2',)", '(-1,)', '2', 'None']) {
    assert.throws(
      () => parseNpyHeader(withDescr("'<i4'", shape)),
      (e: any) => e.code === 'PH5_ERR_NPY' && /shape|not a Python literal/.test(e.message),
      shape,
    );
  }
});
