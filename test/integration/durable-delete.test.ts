/**
 * Deleting a file is durable: the worker's removal (remove-file.ts) unlinks the file and
 * then fsyncs its directory, watched with strace on a real process. Without that sync, a
 * crash after the job was reported done could bring the deleted file back. A sync that fails
 * (EIO injected by strace) is an error, so the deletion is retried, not reported done.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { parseTrace } from '../helpers/strace.js';

const removeFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../services/worker/remove-file.js');
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Removes <dir>/project/f.h5 in a child process under strace; its exit status and calls. */
function removeTraced(inject = '') {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-delete-'));
  dirs.push(dir);
  const project = path.join(dir, 'project');
  mkdirSync(project);
  const file = path.join(project, 'f.h5');
  writeFileSync(file, 'data');
  const script = `import(${JSON.stringify(removeFile)}).then((m) => m.removeFileDurably(${JSON.stringify(file)})).catch((e) => { console.error(e.message); process.exit(3); })`;
  const trace = path.join(dir, 'trace');
  const args = [
    '-f',
    '-ttt',
    '-T',
    '-y',
    '-e',
    'trace=unlink,unlinkat,fsync,fdatasync',
    ...(inject ? ['-e', inject] : []),
    '-o',
    trace,
    process.execPath,
    '-e',
    script,
  ];
  const r = spawnSync('strace', args, { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr, file, project, calls: parseTrace(readFileSync(trace, 'utf8')) };
}

test('the unlink is followed by an fsync of the file’s directory', () => {
  const r = removeTraced();
  assert.equal(r.status, 0, r.stderr);
  assert.equal(existsSync(r.file), false);
  const unlink = r.calls.findIndex((c) => c.name.startsWith('unlink') && c.path === r.file && c.result === '0');
  assert.ok(unlink >= 0, `no unlink of ${r.file}: ${JSON.stringify(r.calls)}`);
  const sync = r.calls.findIndex((c, i) => i > unlink && (c.name === 'fsync' || c.name === 'fdatasync') && c.path === r.project && c.result === '0');
  assert.ok(sync > unlink, `no fsync of ${r.project} after the unlink: ${JSON.stringify(r.calls)}`);
});

test('a failing directory sync is an error, not a silent success', () => {
  const r = removeTraced('inject=fsync:error=EIO');
  assert.equal(r.status, 3, `expected the removal to fail: ${r.stderr}`);
  assert.match(r.stderr, /EIO|input\/output/i);
});
