/**
 * The previous holder died with the file open, maybe in the middle of its close: then
 * some ranks had written their share of the new metadata (chunk index nodes pointing at
 * chunks the epoch wrote past the old end of the file) while the superblock still records
 * the old end of allocation (EOA). HDF5 would allocate the replay's chunks from that old
 * EOA, over chunks the index already names: gzip chunks that no longer inflate, and a
 * replay that fails on one rank and hangs the others. `h5clear --increment=0` moves the
 * EOA to the end of the file, so the replay allocates past everything the crashed epoch
 * wrote; together with files that never reuse freed space (native h5_files.cc), every
 * chunk any version of the index names stays intact. `-s` clears the status flags that
 * files with a v3 superblock (SWMR, made by other tools) keep set after a crash.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from '../log.js';

const run = promisify(execFile);

export async function recoverInterrupted(filePath: string, fence: number, log: Logger): Promise<void> {
  try {
    await run('h5clear', ['-s', '--increment=0', filePath], { timeout: 30_000 });
    log.warn(
      `recovered ${filePath} after an interrupted epoch (fence ${fence}): status flags cleared, end of allocation moved to the end of the file, replaying`,
    );
  } catch (err) {
    log.warn(`h5clear of ${filePath} after an interrupted epoch (fence ${fence}) failed: ${(err as Error).message}`);
  }
}
