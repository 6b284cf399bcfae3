// Node-only (imported by node.ts): reading an adapter file that may be anything a folder can hold.
import { constants as bufferConstants } from 'node:buffer';
import { constants as fsConstants, type Stats } from 'node:fs';
import { type FileHandle, lstat, open, readlink, stat } from 'node:fs/promises';
import { AdapterFileError } from './errors.js';

/** Node refuses single reads of 2 GiB or more; larger files are read in pieces. */
const MAX_READ_BYTES = 1 << 30;

function errnoOf(error: unknown): string {
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string'
    ? (error as { code: string }).code
    : 'UNKNOWN';
}

function kindOf(info: Stats): string {
  if (info.isDirectory()) return 'a folder';
  if (info.isFIFO()) return 'a named pipe (FIFO)';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Why `stat` failed, as a sentence, telling a dangling symbolic link from a missing file. */
async function statFailure(path: string, error: unknown): Promise<AdapterFileError> {
  const code = errnoOf(error);
  if (code === 'ENOENT') {
    const link = await lstat(path).catch(() => null);
    if (link?.isSymbolicLink()) {
      const target = await readlink(path).catch(() => '?');
      return new AdapterFileError(
        path,
        `is a symbolic link to ${JSON.stringify(target)}, which does not exist; fix or remove the link`,
        { cause: error },
      );
    }
    return new AdapterFileError(path, 'does not exist', { cause: error });
  }
  if (code === 'ELOOP') {
    return new AdapterFileError(path, 'is a loop of symbolic links; fix the links', { cause: error });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new AdapterFileError(path, `cannot be read: permission denied (${code})`, { cause: error });
  }
  return new AdapterFileError(path, `cannot be read (${code})`, { cause: error });
}

export interface RegularFileOptions {
  /** Refuse files larger than this many bytes, before reading any (default: what a Buffer can hold). */
  readonly maxBytes?: number;
  /**
   * Checks the open file before it is read whole (e.g. a safetensors header against the size), so a
   * file that lies about its contents is refused after reading only its first bytes.
   */
  readonly check?: (handle: FileHandle, size: number) => Promise<void>;
}

/**
 * Reads `path` only if it is a regular file (a symbolic link to one is fine: the Hugging Face cache
 * is made of them). A folder, a device such as /dev/zero, a FIFO, a socket, a dangling link or a
 * file over `maxBytes` is an `AdapterFileError` naming the path, decided by `stat` before opening;
 * the open itself never blocks (O_NONBLOCK) and the opened file must be the one that was checked.
 */
export async function readRegularFile(path: string, options: RegularFileOptions = {}): Promise<Uint8Array> {
  const maxBytes = Math.min(options.maxBytes ?? bufferConstants.MAX_LENGTH, bufferConstants.MAX_LENGTH);
  let info: Stats;
  try {
    info = await stat(path);
  } catch (error) {
    throw await statFailure(path, error);
  }
  if (!info.isFile()) {
    throw new AdapterFileError(path, `is ${kindOf(info)}, not a regular file; an adapter file must be one`);
  }
  if (info.size > maxBytes) {
    throw new AdapterFileError(
      path,
      `is ${info.size} bytes, more than the ${maxBytes} bytes allowed for this file; is it the right file?`,
    );
  }
  let handle: FileHandle;
  try {
    // O_NONBLOCK: if the path was swapped for a FIFO after the stat, opening still returns at once.
    handle = await open(path, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
  } catch (error) {
    throw await statFailure(path, error);
  }
  try {
    const opened = await handle.stat();
    if (!opened.isFile() || opened.ino !== info.ino || opened.dev !== info.dev) {
      throw new AdapterFileError(path, 'was replaced while it was being opened; try again');
    }
    await options.check?.(handle, opened.size);
    return await readExactly(handle, path, opened.size);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function readExactly(handle: FileHandle, path: string, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let done = 0;
  while (done < size) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(out, done, Math.min(size - done, MAX_READ_BYTES), done));
    } catch (error) {
      throw new AdapterFileError(path, `cannot be read (${errnoOf(error)})`, { cause: error });
    }
    if (bytesRead === 0) {
      throw new AdapterFileError(path, `shrank to ${done} bytes while it was being read; try again`);
    }
    done += bytesRead;
  }
  return out;
}
