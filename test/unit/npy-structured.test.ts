/**
 * .npy files of structured, complex and enum dtypes against numpy itself (Debian's
 * /usr/bin/python3): the list descrs numpy writes (padding entries, nested lists,
 * subarray tuples, version 3 headers) parse to the right compound, and numpy loads the
 * headers and bytes we write to the same dtype and values. Variable-length strings have
 * no .npy form.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { dtypeSpec, parseDtype, parseDtypeSpec } from '../../services/shared/dtype.js';
import { decodeJson, encodeJson } from '../../services/shared/json-codec.js';
import { encodeNpyHeader, npyDescr, parseNpyHeader } from '../../services/shared/npy.js';

const python = (code: string, ...args: string[]) => promisify(execFile)('/usr/bin/python3', ['-c', code, ...args], { maxBuffer: 1 << 24 });

/** numpy values as ph5's JSON forms: records as objects, complex as [re, im], bytes as text, non-finite as strings. */
const TO_JSON = `
import json, math, numpy as np
def conv(x, dt):
    if dt.names:
        return {n: conv(x[n], dt.fields[n][0]) for n in dt.names}
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        return conv_array(np.asarray(x), base)
    if dt.kind == 'c':
        return [num(x.real), num(x.imag)]
    if dt.kind == 'S':
        return bytes(x).rstrip(b'\\0').decode()
    if dt.kind == 'b':
        return bool(x)
    if dt.kind == 'f':
        return num(float(x))
    v = int(x)
    return v if abs(v) <= 2**53 - 1 else str(v)
def num(f):
    f = float(f)
    return f if math.isfinite(f) else ('NaN' if math.isnan(f) else ('Infinity' if f > 0 else '-Infinity'))
def conv_array(a, dt):
    if a.ndim == 0:
        return conv(a[()], dt)
    return [conv_array(a[i], dt) for i in range(a.shape[0])]
def descr(d):
    return [list(e) if not isinstance(e[1], list) else [e[0], descr(e[1])] + list(e[2:]) for e in d]
`;

interface Case {
  name: string;
  /** numpy dtype expression */
  np: string;
  shape: number[];
  /** The ph5 spec the .npy parses to. */
  spec: unknown;
  values: unknown;
}

const cases: Case[] = [
  {
    name: 'packed record with an array field and a big-endian int',
    np: "np.dtype([('x', '<f8'), ('v', '<f4', (3,)), ('n', '>i2')])",
    shape: [2],
    spec: {
      fields: [
        { name: 'x', dtype: 'float64', offset: 0 },
        { name: 'v', dtype: 'float32', shape: [3], offset: 8 },
        { name: 'n', dtype: '>i2', offset: 20 },
      ],
      itemsize: 22,
    },
    values: [
      { x: 1.5, v: [1, 2, 3], n: -2 },
      { x: 'NaN', v: [0.5, 'Infinity', -0.25], n: 300 },
    ],
  },
  {
    name: 'aligned record (padding between fields)',
    np: "np.dtype([('a', 'i1'), ('b', '<f8')], align=True)",
    shape: [3],
    spec: {
      fields: [
        { name: 'a', dtype: 'int8', offset: 0 },
        { name: 'b', dtype: 'float64', offset: 8 },
      ],
      itemsize: 16,
    },
    values: [
      { a: -1, b: 2 },
      { a: 2, b: 3 },
      { a: 127, b: -1e300 },
    ],
  },
  {
    name: 'explicit offsets with leading and tail padding',
    np: "np.dtype({'names': ['a', 'c'], 'formats': ['<i4', 'S5'], 'offsets': [4, 8], 'itemsize': 16})",
    shape: [2],
    spec: {
      fields: [
        { name: 'a', dtype: 'int32', offset: 4 },
        { name: 'c', dtype: 'S5', offset: 8 },
      ],
      itemsize: 16,
    },
    values: [
      { a: 1, c: 'hello' },
      { a: -7, c: 'é' },
    ],
  },
  {
    name: 'nested record, complex subarray, bool and wide ints',
    np: "np.dtype([('p', [('x', '<f4'), ('y', '>f4')]), ('c', '<c16', (2,)), ('ok', '?'), ('big', '<u8'), ('m', '<i8', (2, 2))])",
    shape: [2, 1],
    spec: {
      fields: [
        {
          name: 'p',
          dtype: {
            fields: [
              { name: 'x', dtype: 'float32', offset: 0 },
              { name: 'y', dtype: '>f4', offset: 4 },
            ],
            itemsize: 8,
          },
          offset: 0,
        },
        { name: 'c', dtype: 'complex128', shape: [2], offset: 8 },
        { name: 'ok', dtype: 'bool', offset: 40 },
        { name: 'big', dtype: 'uint64', offset: 41 },
        { name: 'm', dtype: 'int64', shape: [2, 2], offset: 49 },
      ],
      itemsize: 81,
    },
    values: [
      [
        {
          p: { x: 1, y: -1 },
          c: [
            [1, 2],
            [3, 'NaN'],
          ],
          ok: true,
          big: '18446744073709551615',
          m: [
            [1, '-9223372036854775808'],
            [3, 4],
          ],
        },
      ],
      [
        {
          p: { x: 0.5, y: 'Infinity' },
          c: [
            [0, 0],
            [-1, 1],
          ],
          ok: false,
          big: 7,
          m: [
            [0, 0],
            ['9007199254740993', 1],
          ],
        },
      ],
    ],
  },
  {
    name: 'record in a subarray, names beyond Latin-1 (a version 3 header)',
    np: "np.dtype([('✓ ok', [('a', 'u1'), ('b', '<u2')], (2,)), ('é', '<f2')])",
    shape: [1],
    spec: {
      fields: [
        {
          name: '✓ ok',
          dtype: {
            fields: [
              { name: 'a', dtype: 'uint8', offset: 0 },
              { name: 'b', dtype: 'uint16', offset: 1 },
            ],
            itemsize: 3,
          },
          shape: [2],
          offset: 0,
        },
        { name: 'é', dtype: 'float16', offset: 6 },
      ],
      itemsize: 8,
    },
    values: [
      {
        '✓ ok': [
          { a: 1, b: 65535 },
          { a: 255, b: 0 },
        ],
        é: 0.5,
      },
    ],
  },
  {
    name: 'names with quotes and backslashes',
    np: "np.dtype([(\"it's\", '<i2'), ('say \"hi\"\\\\', '<i2')])",
    shape: [1],
    spec: {
      fields: [
        { name: "it's", dtype: 'int16', offset: 0 },
        { name: 'say "hi"\\', dtype: 'int16', offset: 2 },
      ],
      itemsize: 4,
    },
    values: [{ "it's": 1, 'say "hi"\\': -1 }],
  },
  {
    name: 'complex64',
    np: "np.dtype('<c8')",
    shape: [3],
    spec: 'complex64',
    values: [
      [1, -1],
      [0.5, 'NaN'],
      ['-Infinity', 0],
    ],
  },
  { name: 'big-endian complex128', np: "np.dtype('>c16')", shape: [2, 1], spec: '>c16', values: [[[1e300, -2]], [[0, 0.1]]] },
];

test('we parse what numpy writes, and numpy loads what we write, for structured and complex dtypes', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ph5-npy-'));
  try {
    // numpy -> ph5: numpy saves an array of each dtype and says its dtype and values.
    const inputs = cases.map((c) => ({ np: c.np, shape: c.shape, values: c.values }));
    await writeFile(path.join(dir, 'cases.json'), JSON.stringify(inputs));
    const { stdout } = await python(
      `${TO_JSON}
import sys
d = sys.argv[1]
cases = json.load(open(d + '/cases.json'))
out = []
for i, c in enumerate(cases):
    dt = eval(c['np'])
    n = int(np.prod(c['shape'])) * dt.itemsize
    # Bytes of a fixed pattern (ASCII, so S fields decode the same everywhere).
    a = np.frombuffer(bytes((k * 37 + 11) % 128 for k in range(n)), dtype=dt).reshape(c['shape'])
    np.save(d + f'/np-{i}.npy', a)
    x = np.lib.format.dtype_to_descr(dt)
    out.append([x if isinstance(x, str) else descr(x), conv_array(a, dt)])
print(json.dumps(out))`,
      dir,
    );
    const saved = JSON.parse(stdout) as [unknown, unknown][];
    for (const [i, c] of cases.entries()) {
      const file = await readFile(path.join(dir, `np-${i}.npy`));
      const header = parseNpyHeader(file)!;
      assert.deepEqual(dtypeSpec(header.dtype), c.spec, `${c.name}: parsed from numpy's header`);
      assert.deepEqual(header.shape, c.shape, c.name);
      // Our descr is numpy's (padding entries included), and we read numpy's values.
      const ours = npyDescr(header.dtype);
      assert.equal(ours.startsWith('[') ? ours : `'${ours}'`, pyDescrText(saved[i]![0]), `${c.name}: descr`);
      assert.deepEqual(decodeJson(file.subarray(header.dataOffset), header.dtype, header.shape), saved[i]![1], `${c.name}: values numpy saved`);
    }

    // ph5 -> numpy: our header and our encoding of the JSON values; numpy loads them to its dtype and the same values.
    for (const [i, c] of cases.entries()) {
      const dtype = parseDtypeSpec(c.spec);
      const data = encodeJson(c.values, dtype, c.shape);
      await writeFile(path.join(dir, `ph5-${i}.npy`), Buffer.concat([encodeNpyHeader(dtype, c.shape), data]));
    }
    const loaded = await python(
      `${TO_JSON}
import sys, warnings
d = sys.argv[1]
cases = json.load(open(d + '/cases.json'))
out = []
for i, c in enumerate(cases):
    a = np.load(d + f'/ph5-{i}.npy')
    out.append([a.dtype == eval(c['np']), list(a.shape), conv_array(a, a.dtype)])
print(json.dumps(out))`,
      dir,
    );
    for (const [i, [sameDtype, shape, values]] of (JSON.parse(loaded.stdout) as [boolean, number[], unknown][]).entries()) {
      const c = cases[i]!;
      assert.equal(sameDtype, true, `${c.name}: numpy's dtype`);
      assert.deepEqual(shape, c.shape, c.name);
      const dtype = parseDtypeSpec(c.spec);
      assert.deepEqual(values, decodeJson(encodeJson(c.values, dtype, c.shape), dtype, c.shape), `${c.name}: numpy's values`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** The Python text of numpy's descr as JSON (lists for tuples), in numpy's own spelling. */
function pyDescrText(d: unknown): string {
  if (typeof d === 'string') return `'${d}'`;
  const list = d as unknown[][];
  return `[${list
    .map((e) => {
      const [name, dt, shape] = e as [string, unknown, number[] | undefined];
      const shapeText = shape ? `, (${shape.length === 1 ? `${shape[0]},` : shape.join(', ')})` : '';
      return `(${pyName(name)}, ${pyDescrText(dt)}${shapeText})`;
    })
    .join(', ')}]`;
}
function pyName(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

test('enums are written as their base integer; strings have no .npy form', () => {
  assert.equal(npyDescr(parseDtypeSpec({ enum: { A: 0, B: 1 }, base: '>i4' })), '>i4');
  assert.equal(npyDescr(parseDtypeSpec({ enum: { A: 0, B: 1 } })), '|u1');
  assert.equal(npyDescr(parseDtype('>c8')), '>c8');
  assert.equal(npyDescr(parseDtype('complex128')), '<c16');
  const header = encodeNpyHeader(
    parseDtypeSpec([
      ['e', { enum: { A: 0 }, base: 'int16' }],
      ['c', '<c8'],
    ]),
    [2],
  );
  assert.match(header.toString('latin1'), /'descr': \[\('e', '<i2'\), \('c', '<c8'\)\], 'fortran_order'/);
  for (const d of [parseDtype('str'), parseDtype('str:ascii')]) {
    assert.throws(
      () => npyDescr(d),
      (e: any) => e.code === 'PH5_ERR_NPY' && /no \.npy form/.test(e.message),
    );
    assert.throws(
      () => encodeNpyHeader(d, [1]),
      (e: any) => e.code === 'PH5_ERR_NPY',
    );
  }
});
