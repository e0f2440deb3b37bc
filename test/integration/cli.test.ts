/**
 * The `ph5` command line, the real binary against a live stack (2 real ranks, auth on):
 * put a .npy (creating the dataset from its header) and raw bytes from stdin, get as JSON
 * and to .npy/.bin files, ls of files and of a file's tree, jobs, wait, watch — and exit
 * codes that mean something: 1 the job failed, 2 bad usage, 3 refused by the API, 4 server
 * unreachable.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { ShardQueues } from '../helpers/queues.js';
import { h5py } from '../helpers/h5.js';
import { runPh5, type Run } from '../helpers/cli.js';
import { startStack, type Stack } from '../helpers/stack.js';

const TOKEN = 'cli-test-token-0123456789abcdef';
let stack: Stack;
let dir: string;

before(async () => {
  stack = await startStack({ ranks: 2, env: { PH5_TOKENS: JSON.stringify([{ project: 'cli', role: 'admin', token: TOKEN }]) } });
  dir = await mkdtemp(path.join(os.tmpdir(), 'ph5-cli-'));
});
after(async () => {
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

const ph5 = (args: string[], opts: { stdin?: Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<Run> => runPh5(stack.url, TOKEN, args, opts);

const python = (code: string, ...args: string[]) => promisify(execFile)('/usr/bin/python3', ['-c', code, ...args]);

test('put a .npy (the dataset is created from its header), get it back as JSON and as .npy', { timeout: 120_000 }, async () => {
  const src = path.join(dir, 'a.npy');
  await python('import sys, numpy as np; np.save(sys.argv[1], (np.arange(24).reshape(4, 6) / 4).astype(">f4"))', src);
  const put = await ph5(['put', 'cli.h5:/grp/a', src]);
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stderr, /created cli\.h5:\/grp\/a \(>f4, \[4, 6\]\)/);
  assert.match(put.stderr, /upload cli\.h5:\/grp\/a: .*100%/, 'plain progress lines when not a terminal');
  assert.match(put.stdout, /^job \S+ completed$/m);

  const json = await ph5(['get', 'cli.h5:/grp/a', '--select', '[1:2,0:3]']);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), [[1.5, 1.75, 2]]);

  const out = path.join(dir, 'back.npy');
  const got = await ph5(['get', 'cli.h5:/grp/a', '-o', out, '--json']);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(JSON.parse(got.stdout).output, out);
  const { stdout } = await python(
    'import sys, json, numpy as np; a = np.load(sys.argv[1]); b = np.load(sys.argv[2]); print(json.dumps([a.dtype.str, a.shape == b.shape and bool((a == b).all())]))',
    out,
    src,
  );
  assert.deepEqual(JSON.parse(stdout), ['>f4', true]);
  assert.deepEqual(await h5py(path.join(stack.dataDir, 'cli', 'cli.h5'), "out = h5py.File(path, 'r')['/grp/a'].dtype.str"), '>f4');
});

test('put raw bytes from stdin with --dtype and --shape; a selection; get to .bin', { timeout: 120_000 }, async () => {
  const values = new Int16Array([5, -6, 7, -8]);
  const put = await ph5(['put', 'cli.h5:/raw', '-', '--dtype', 'int16', '--shape', '8', '--select', '[2:6]', '--json'], { stdin: Buffer.from(values.buffer) });
  assert.equal(put.code, 0, put.stderr);
  const job = JSON.parse(put.stdout);
  assert.equal(job.state, 'completed');
  assert.equal(put.stderr, '', '--json prints no progress');
  const bin = path.join(dir, 'raw.bin');
  assert.equal((await ph5(['get', 'cli.h5:/raw', '--select', '[2:6]', '-o', bin, '--quiet'])).code, 0);
  assert.deepEqual([...new Int16Array((await readFile(bin)).buffer.slice(0))], [5, -6, 7, -8]);
});

test('ls lists files and a file’s tree; jobs lists jobs; wait and watch follow one', { timeout: 120_000 }, async () => {
  const files = await ph5(['ls']);
  assert.equal(files.code, 0, files.stderr);
  assert.match(files.stdout, /^cli\.h5\s/m);
  const tree = await ph5(['ls', 'cli.h5']);
  assert.equal(tree.code, 0, tree.stderr);
  assert.deepEqual(
    tree.stdout
      .trim()
      .split('\n')
      .map((l) => l.replace(/\s+/g, ' ')),
    ['/ Group', '/grp Group', '/grp/a Dataset {4/4, 6/6} >f4', '/raw Dataset {8/8} int16'],
  );
  const sub = await ph5(['ls', 'cli.h5:/grp', '--json']);
  assert.equal(JSON.parse(sub.stdout).path, '/grp');

  const list = await ph5(['jobs', '--json', '--limit', '50']);
  const jobs = JSON.parse(list.stdout) as { id: string; state: string }[];
  assert.ok(jobs.length >= 4 && jobs.every((j) => j.state === 'completed'), list.stdout);
  const human = await ph5(['jobs', '--file', 'cli.h5']);
  assert.match(human.stdout, /completed/);

  const wait = await ph5(['wait', jobs[0]!.id]);
  assert.equal(wait.code, 0);
  assert.match(wait.stdout, /completed/);
  const watch = await ph5(['watch', jobs[0]!.id]);
  assert.equal(watch.code, 0, watch.stderr);
  assert.match(watch.stdout, /completed/);
});

test('exit code 1: a job that fails (its staged payload vanished before it ran)', { timeout: 120_000 }, async () => {
  const queue = new ShardQueues(stack.redis.url);
  await queue.pause();
  let id: string;
  try {
    const put = await ph5(['put', 'cli.h5:/raw', '-', '--dtype', 'int16', '--no-wait', '--json'], { stdin: Buffer.alloc(16) });
    assert.equal(put.code, 0, put.stderr);
    id = JSON.parse(put.stdout).id;
    const staging = path.join(stack.dataDir, '.staging');
    for (const f of await readdir(staging)) await rm(path.join(staging, f));
  } finally {
    await queue.resume();
    await queue.close();
  }
  const wait = await ph5(['wait', id]);
  assert.equal(wait.code, 1, wait.stdout + wait.stderr);
  assert.match(wait.stderr, /failed: PH5_ERR_STAGING/);
});

test('exit codes: 2 bad usage, 3 refused (with the problem), 4 unreachable', { timeout: 60_000 }, async () => {
  const usage = await ph5(['frobnicate']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /unknown command 'frobnicate'/);
  assert.equal((await ph5(['put', 'cli.h5'])).code, 2);
  assert.equal((await ph5(['get', 'cli.h5:/raw', '--bogus'])).code, 2);

  const refused = await ph5(['get', 'cli.h5:/raw', '--select', '[0:99]']);
  assert.equal(refused.code, 3);
  assert.match(refused.stderr, /PH5_ERR_SELECTION/);
  const noToken = await ph5(['ls'], { env: { PH5_TOKEN: '' } });
  assert.equal(noToken.code, 3);
  assert.match(noToken.stderr, /PH5_ERR_UNAUTHORIZED/);
  const missing = await ph5(['put', 'cli.h5:/nope', '-'], { stdin: Buffer.alloc(4) });
  assert.equal(missing.code, 2, 'creating needs a .npy or --dtype/--shape');

  const down = await ph5(['ls'], { env: { PH5_URL: 'http://127.0.0.1:9' } });
  assert.equal(down.code, 4);
  assert.match(down.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
  await writeFile(path.join(dir, 'x'), '');
});
