// npm's `write-file-atomic` takes a whole buffer or string; checkpoints are written tensor by tensor
// from memory the caller already holds, so concatenating them first would double peak memory.
// This version streams chunks into the temp file and is otherwise the same idea: write beside the
// target, flush to disk, rename over it.
import { type FileHandle, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { toFileSystemError } from '../../fs/errno.js';
import { ownedEntryName } from '../../fs/owned-names.js';
import { removeStaleWrites } from '../../fs/stale-writes.js';

/** What `writeFileAtomic` accepts: text (written as UTF-8), bytes, or chunks of bytes in order. */
export type AtomicWriteData = string | Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/**
 * Writes `data` to `path` so that readers see either the old file or the complete new one, never a
 * partial write: the bytes go to a temp file in the same directory, are flushed to disk, and the
 * temp file is renamed over `path`. On any failure (including an error thrown by a chunk iterator)
 * the temp file is removed and an existing file at `path` is left untouched. An existing file's
 * permission bits are kept.
 *
 * The temp file is named `.<name>.peft-tmp-<pid>-<host>-<random>.tmp`; temp files of this target left by
 * killed processes are removed before writing (see `removeStaleWrites`). File-system failures (disk
 * full, read-only, permission denied, a missing folder, ...) are thrown as `FileSystemError` naming `path`.
 */
export async function writeFileAtomic(path: string, data: AtomicWriteData): Promise<void> {
  await removeStaleWrites(dirname(path), { target: basename(path) });
  const temp = join(dirname(path), ownedEntryName(basename(path), 'tmp'));
  const mode = await existingMode(path);
  let handle: FileHandle | undefined;
  try {
    handle = await open(temp, 'wx');
    // Set after creation: the mode given to open() is filtered through the umask.
    if (mode !== undefined) await handle.chmod(mode);
    await writeChunks(handle, chunksOf(data));
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw toFileSystemError(error, { path, verb: 'write' }) ?? error;
  }
}

async function existingMode(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mode & 0o7777;
  } catch {
    return undefined;
  }
}

async function* chunksOf(data: AtomicWriteData): AsyncIterable<Uint8Array> {
  if (typeof data === 'string') yield new TextEncoder().encode(data);
  else if (data instanceof Uint8Array) yield data;
  else yield* data;
}

/** Chunks smaller than this are gathered into one buffer of up to this size before being written. */
const GATHER_BYTES = 1 << 20;

/**
 * Writes the chunks in order. Small ones (a checkpoint's norms and biases, a file of many tiny tensors)
 * are gathered so a file of 150,000 tensors takes a few hundred writes, not 150,000; large ones are
 * written straight from the caller's memory, never copied.
 */
async function writeChunks(handle: FileHandle, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  const pending = new Uint8Array(GATHER_BYTES);
  let used = 0;
  const flush = async () => {
    if (used > 0) await writeAll(handle, pending.subarray(0, used));
    used = 0;
  };
  for await (const chunk of chunks) {
    if (chunk.byteLength >= GATHER_BYTES) {
      await flush();
      await writeAll(handle, chunk);
      continue;
    }
    if (used + chunk.byteLength > GATHER_BYTES) await flush();
    pending.set(chunk, used);
    used += chunk.byteLength;
  }
  await flush();
}

/** Node refuses single writes of 2 GiB or more, and may write less than asked. */
const MAX_WRITE_BYTES = 1 << 30;

async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let written = 0;
  while (written < chunk.byteLength) {
    const length = Math.min(chunk.byteLength - written, MAX_WRITE_BYTES);
    const { bytesWritten } = await handle.write(chunk, written, length);
    written += bytesWritten;
  }
}
