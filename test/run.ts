/**
 * `npm test` runs this after scripts/setup.sh: every compiled test file under dist/test,
 * with node's own test runner. Arguments narrow the run to paths containing them:
 *   npm test -- native        # only test/native
 *   npm test -- seed          # only files whose path contains 'seed'
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mpiEnv } from '../services/worker/pool.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function collect(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'fixtures' || name === 'helpers' ? [] : collect(full);
    return name.endsWith('.test.js') ? [full] : [];
  });
}

const filters = process.argv.slice(2);
const files = collect(here)
  .filter((f) => filters.length === 0 || filters.some((x) => path.relative(here, f).includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
console.error(`running ${files.length} test files`);
const concurrency = process.env.PH5_TEST_CONCURRENCY ?? '1';
const result = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: mpiEnv(process.env),
});
process.exit(result.status ?? 1);
