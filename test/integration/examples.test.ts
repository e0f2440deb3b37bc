/**
 * docs/examples run as a user runs them, against a live stack with authentication on
 * (2 real ranks): the Python example (requests + numpy, Debian's /usr/bin/python3) and the
 * curl script get PH5_URL and PH5_TOKEN, must exit 0 and say ok; the files they wrote are
 * then checked with h5py, where the token's project puts them. A bad token must make them
 * fail loudly, with the problem's code.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLES = path.resolve(here, '..', '..', '..', 'docs', 'examples');
const PROJECT = 'examples';
const TOKEN = 'examples-token-0123456789abcdef';

let stack: Stack;
before(async () => {
  stack = await startStack({ ranks: 2, env: { PH5_TOKENS: JSON.stringify([{ name: 'ex', project: PROJECT, role: 'write', token: TOKEN }]) } });
});
after(async () => {
  await stack?.stop();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs an example with a clean environment (no PH5_* leaking in from the test's own). */
function run(program: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(program, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: 240_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const projectFile = (name: string) => path.join(stack.dataDir, PROJECT, name);

test('Python example (requests + numpy): creates, writes raw and .npy, waits, reads back identical', { timeout: 240_000 }, async () => {
  const env = { PH5_URL: stack.url, PH5_TOKEN: TOKEN };
  const first = await run('/usr/bin/python3', [path.join(EXAMPLES, 'write_read.py'), 'py.h5', '/demo/temperature'], env);
  assert.equal(first.code, 0, `exit ${first.code}\n${first.stdout}\n${first.stderr}`);
  assert.match(first.stdout, /^ok: py\.h5:\/demo\/temperature float32 64x10 written \(3 jobs, 2 ranks\) and read back identical$/m);

  const seen = await h5py<{ dtype: string; equal: boolean }>(
    projectFile('py.h5'),
    [
      "d = h5py.File(path, 'r')['/demo/temperature']",
      "expected = (np.arange(640, dtype='<f4').reshape(64, 10) * 0.25 - 20).astype('<f4')",
      "out = {'dtype': d.dtype.str, 'equal': bool(np.array_equal(d[()], expected))}",
    ].join('\n'),
  );
  assert.deepEqual(seen, { dtype: '<f4', equal: true });

  // Run again: the dataset exists; the example reuses it and writes it again.
  const again = await run('/usr/bin/python3', [path.join(EXAMPLES, 'write_read.py'), 'py.h5', '/demo/temperature'], env);
  assert.equal(again.code, 0, `exit ${again.code}\n${again.stdout}\n${again.stderr}`);
  assert.match(again.stdout, /\(2 jobs, 2 ranks\)/);
});

test(
  'Python example above its parts threshold: the first half goes in row-block parts (last one short) and reads back identical',
  { timeout: 240_000 },
  async () => {
    // 32 rows × 40 B = 1280 B > 1024: parts of 10 rows (400 B), 4 parts, the last of 2 rows.
    const env = { PH5_URL: stack.url, PH5_TOKEN: TOKEN, PH5_PARTS_ABOVE: '1024', PH5_PART_BYTES: '400', PH5_CONNECTIONS: '3' };
    const result = await run('/usr/bin/python3', [path.join(EXAMPLES, 'write_read.py'), 'parts.h5', '/demo/temperature'], env);
    assert.equal(result.code, 0, `exit ${result.code}\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /^ok: parts\.h5:\/demo\/temperature float32 64x10 written \([3-6] jobs, 2 ranks\) and read back identical$/m);
    const equal = await h5py<boolean>(
      projectFile('parts.h5'),
      "out = bool(np.array_equal(h5py.File(path, 'r')['/demo/temperature'][()], (np.arange(640, dtype='<f4').reshape(64, 10) * 0.25 - 20).astype('<f4')))",
    );
    assert.equal(equal, true);
  },
);

test('curl example: the tutorial 42-element write, waited for and read back', { timeout: 240_000 }, async () => {
  const result = await run('bash', [path.join(EXAMPLES, 'seed.sh'), 'output.h5'], { PH5_URL: stack.url, PH5_TOKEN: TOKEN });
  assert.equal(result.code, 0, `exit ${result.code}\n${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /^jobs completed: \S+ \S+$/m);
  assert.match(result.stdout, /^ok: output\.h5:\/test int32 \[42\] = 0\.\.41 written and read back$/m);

  const seen = await h5py<{ dtype: string; shape: number[]; data: number[] }>(
    projectFile('output.h5'),
    "d = h5py.File(path, 'r')['test']; out = {'dtype': d.dtype.str, 'shape': list(d.shape), 'data': d[()].tolist()}",
  );
  assert.deepEqual(seen, { dtype: '<i4', shape: [42], data: Array.from({ length: 42 }, (_, i) => i) });
});

test('both examples fail with the problem code when the token is wrong', async () => {
  const env = { PH5_URL: stack.url, PH5_TOKEN: 'not-a-token-of-this-server' };
  const py = await run('/usr/bin/python3', [path.join(EXAMPLES, 'write_read.py'), 'bad.h5'], env);
  assert.equal(py.code, 1, py.stdout + py.stderr);
  assert.match(py.stderr, /^error: .*HTTP 401 PH5_ERR_TOKEN/m);
  const sh = await run('bash', [path.join(EXAMPLES, 'seed.sh'), 'bad.h5'], env);
  assert.notEqual(sh.code, 0, sh.stdout + sh.stderr);
  assert.match(sh.stderr, /HTTP 401 .*PH5_ERR_TOKEN/);
  assert.doesNotMatch(py.stdout + sh.stdout, /^ok:/m);
});
