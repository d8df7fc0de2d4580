// Files are written under a temporary name in the same directory, synced, then renamed into place: a
// reader never sees a half-written file, and a failure leaves the older file (if any) untouched.
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Writes `chunks` (in order) to `file` atomically. */
export async function writeFileAtomic(file: string, ...chunks: Array<string | Uint8Array>): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.tmp-${randomBytes(4).toString('hex')}`);
  try {
    const handle = await open(temp, 'w');
    try {
      for (const chunk of chunks) await handle.writeFile(chunk);
      await handle.sync(); // the rename must not publish a file whose data is still only in the page cache
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
