import { type FileHandle, open } from 'node:fs/promises';
import { SafetensorsError } from '../../errors.js';
import { type ByteRangeReader, openSafetensorsReader, type SafetensorsSource } from '../source.js';

/** Node refuses single reads of 2 GiB or more; larger tensors are read in pieces. */
const MAX_READ_BYTES = 1 << 30;

/**
 * Opens a safetensors file for lazy reading: opening reads the 8-byte length and the header only,
 * `get(name)` reads exactly that tensor's bytes with positional reads. Call `close()` when done.
 */
export async function openSafetensorsFile(path: string): Promise<SafetensorsSource> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (cause) {
    throw new SafetensorsError(path, undefined, `cannot open: ${(cause as Error).message}`, { cause });
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new SafetensorsError(path, undefined, 'not a regular file');
    return await openSafetensorsReader(fileReader(handle, stats.size), path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

function fileReader(handle: FileHandle, size: number): ByteRangeReader {
  return {
    size,
    read: async (begin, end) => {
      const out = new Uint8Array(end - begin);
      let done = 0;
      while (done < out.byteLength) {
        const length = Math.min(out.byteLength - done, MAX_READ_BYTES);
        const { bytesRead } = await handle.read(out, done, length, begin + done);
        if (bytesRead === 0) return out.subarray(0, done);
        done += bytesRead;
      }
      return out;
    },
    close: () => handle.close(),
  };
}
