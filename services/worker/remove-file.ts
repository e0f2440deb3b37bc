/**
 * Deleting a user's file durably: the unlink is a change of its directory, which stays in
 * the page cache until the directory is synced. Without the sync, a crash after the job was
 * reported done could bring the deleted file back (and with it data the user removed).
 */
import { open, rm } from 'node:fs/promises';
import path from 'node:path';

/** Removes `file` (gone already is fine) and fsyncs its directory; throws if either fails. */
export async function removeFileDurably(file: string): Promise<void> {
  await rm(file, { force: true });
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
