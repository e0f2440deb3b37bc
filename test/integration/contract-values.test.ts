/**
 * What the contract promises about values, on a live stack (1 real rank), checked in the
 * file by h5py: 64-bit fill values sent as strings are stored exactly (no JS number on
 * the way), scalar attributes of a numeric dtype take "NaN" and 64-bit decimal strings,
 * a root attribute of a file that does not exist creates nothing, and a text/plain body
 * writes nothing. Every answer of the stack here is also checked against the OpenAPI
 * document (helpers/contract.ts), over a real socket.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ContractChecker, type Violation } from '../helpers/contract.js';
import { h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
const checker = ContractChecker.fromFile();
const violations: Violation[] = [];

before(async () => {
  stack = await startStack({ ranks: 1 });
});
after(async () => {
  await stack?.stop();
  assert.deepEqual(violations, [], 'every answer of the stack is what openapi/openapi.json declares');
});

/** One request over HTTP; its answer checked against the document. */
async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.url}${url}`, {
    method,
    ...(body === undefined
      ? {}
      : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } }),
  });
  const text = await res.text();
  violations.push(...checker.check({ method, url, status: res.status, headers: Object.fromEntries(res.headers), body: text }));
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: res.status, headers: res.headers, json };
}

async function done(method: string, url: string, body?: unknown): Promise<void> {
  const r = await call(method, url, body);
  assert.equal(r.status, 202, `${method} ${url}: ${JSON.stringify(r.json)}`);
  for (;;) {
    const job = await call('GET', `${r.headers.get('location')}?wait=20`);
    if (job.json.state === 'completed') return;
    assert.notEqual(job.json.state, 'failed', JSON.stringify(job.json.error));
  }
}

const file = (name: string) => path.join(stack.dataDir, 'default', name);

test('64-bit fill values sent as strings are stored exactly (h5py reads them back)', { timeout: 120_000 }, async () => {
  const fills: [string, string, string][] = [
    ['/a', 'int64', '9007199254740993'],
    ['/b', 'int64', '-9223372036854775808'],
    ['/c', 'uint64', '18446744073709551615'],
    ['/d', '>u8', '9007199254740993'],
  ];
  for (const [p, dtype, fillValue] of fills) await done('POST', '/v1/files/fill.h5/datasets', { path: p, dtype, shape: [2], fillValue });
  const stored = await h5py<Record<string, string>>(file('fill.h5'), "f = h5py.File(path, 'r'); out = {k: str(int(f[k].fillvalue)) for k in f}");
  assert.deepEqual(stored, { a: '9007199254740993', b: '-9223372036854775808', c: '18446744073709551615', d: '9007199254740993' });
  for (const [p, , fillValue] of fills) {
    const info = await call('GET', `/v1/files/fill.h5/datasets/${p.slice(1)}`);
    assert.equal(info.json.fillValue, fillValue, `${p}: the API reports the stored fill value`);
    const values = await call('GET', `/v1/files/fill.h5/datasets/${p.slice(1)}/value`);
    assert.deepEqual(values.json.data, [fillValue, fillValue], `${p}: unwritten elements read as the fill value`);
  }
});

test('scalar attributes of a numeric dtype: "NaN", infinities and 64-bit decimal strings, exact in the file', { timeout: 120_000 }, async () => {
  await done('PUT', '/v1/files/attrs.h5');
  const attrs: [string, unknown, string][] = [
    ['nan', 'NaN', 'float64'],
    ['ninf', '-Infinity', 'float32'],
    ['big', '9007199254740993', 'int64'],
    ['umax', '18446744073709551615', 'uint64'],
    ['arr', ['NaN', 1.5], 'float64'],
    ['iarr', ['9007199254740993', 1], 'int64'],
  ];
  for (const [name, value, dtype] of attrs) await done('PUT', `/v1/files/attrs.h5/attributes/${name}`, { value, dtype });
  const seen = await h5py<Record<string, [string, string]>>(
    file('attrs.h5'),
    `f = h5py.File(path, 'r')
out = {k: [f.attrs[k].dtype.str, repr(f.attrs[k].tolist())] for k in f.attrs}`,
  );
  assert.deepEqual(seen, {
    nan: ['<f8', 'nan'],
    ninf: ['<f4', '-inf'],
    big: ['<i8', '9007199254740993'],
    umax: ['<u8', '18446744073709551615'],
    arr: ['<f8', '[nan, 1.5]'],
    iarr: ['<i8', '[9007199254740993, 1]'],
  });
  const listed = await call('GET', '/v1/files/attrs.h5/attributes');
  const byName = Object.fromEntries(listed.json.attributes.map((a: { name: string; value: unknown }) => [a.name, a.value]));
  assert.deepEqual(byName, {
    nan: 'NaN',
    ninf: '-Infinity',
    big: '9007199254740993',
    umax: '18446744073709551615',
    arr: ['NaN', 1.5],
    iarr: ['9007199254740993', 1],
  });
});

test('a root attribute of a file that does not exist is 404 and no file appears; a text/plain body writes nothing', { timeout: 120_000 }, async () => {
  const typo = await call('PUT', '/v1/files/typo.h5/attributes/a', { value: 1 });
  assert.equal(typo.status, 404);
  assert.equal(typo.json.code, 'PH5_ERR_NOT_FOUND');
  await done('POST', '/v1/files/text.h5/datasets', { path: '/s', dtype: 'S8', shape: [1] });
  await done('PUT', '/v1/files/text.h5/datasets/s/value', ['kept']);
  const text = await call('PUT', '/v1/files/text.h5/datasets/s/value', '"replaced"', { 'content-type': 'text/plain' });
  assert.equal(text.status, 415);
  assert.equal(text.json.code, 'PH5_ERR_MEDIA_TYPE');
  // A later job on the file has run: anything the refused request queued would have too.
  await done('PUT', '/v1/files/text.h5/attributes/after', { value: 1 });
  assert.deepEqual(await h5py(file('text.h5'), "out = [x.decode() for x in h5py.File(path, 'r')['s'][()]]"), ['kept']);
  assert.equal(existsSync(file('typo.h5')), false, 'no file was created for the typo');
});
