import { SafetensorsError } from '../errors.js';
import type { HostTensor, StateDict } from '../host-tensor.js';
import { MissingTensorError, type TensorSource } from '../tensor-source.js';
import {
  LENGTH_PREFIX_BYTES,
  parseHeader,
  readHeaderLength,
  type SafetensorsHeader,
  type SafetensorsTensorInfo,
} from './header.js';

/** A safetensors file (or buffer, or Blob) opened for reading: list cheaply, read one tensor at a time. */
export interface SafetensorsSource extends TensorSource {
  /** `__metadata__` with its keys in file order; undefined when the file has none. */
  readonly metadata: ReadonlyMap<string, string> | undefined;
  readonly header: SafetensorsHeader;
  /** Tensor names in header order (for files written by safetensors: data order). */
  keys(): string[];
  info(key: string): SafetensorsTensorInfo;
  /** Reads one tensor's bytes. Tensors read from a buffer share its memory. */
  get(key: string): Promise<HostTensor>;
  /** Reads every tensor, in `keys()` order. */
  readAll(): Promise<StateDict>;
  /** Releases the underlying handle, if any; later reads throw. Closing twice is harmless. */
  close(): Promise<void>;
}

/**
 * Random access to a file's bytes. `read(begin, end)` resolves to exactly `end - begin` bytes, or
 * fewer if the file shrank since it was opened.
 */
export interface ByteRangeReader {
  readonly size: number;
  read(begin: number, end: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

/**
 * Opens safetensors from any random-access byte source (the file and Blob readers are built on it;
 * HTTP range requests or an OPFS file would be too). Reads the length prefix and the header, nothing
 * else, validates them, and returns a source that reads each tensor on `get`.
 */
export async function openSafetensorsReader(
  reader: ByteRangeReader,
  file: string,
): Promise<SafetensorsSource> {
  if (!Number.isSafeInteger(reader.size) || reader.size < 0) {
    throw new SafetensorsError(file, undefined, `reader size ${reader.size} is not a byte count`);
  }
  const prefix = await readExact(reader, 0, Math.min(LENGTH_PREFIX_BYTES, reader.size), file);
  const headerLength = readHeaderLength(prefix, reader.size, file);
  const headerBytes = await readExact(reader, LENGTH_PREFIX_BYTES, LENGTH_PREFIX_BYTES + headerLength, file);
  const header = parseHeader(headerBytes, reader.size, file);
  return createSource(file, header, reader);
}

export function createSource(
  file: string,
  header: SafetensorsHeader,
  reader: ByteRangeReader,
): SafetensorsSource {
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  let closed = false;
  const lookup = (key: string): SafetensorsTensorInfo => {
    const info = byName.get(key);
    if (!info) throw new MissingTensorError(file, key);
    return info;
  };
  const get = async (key: string): Promise<HostTensor> => {
    const info = lookup(key);
    if (closed) throw new SafetensorsError(file, key, 'cannot read: the file was closed');
    const [begin, end] = info.dataOffsets;
    const data = await readExact(reader, header.dataStart + begin, header.dataStart + end, file, key);
    return { dtype: info.dtype, shape: info.shape, data };
  };
  return {
    name: file,
    metadata: header.metadata,
    header,
    keys: () => header.tensors.map((t) => t.name),
    has: (key) => byName.has(key),
    info: lookup,
    get,
    readAll: async () => {
      const dict: StateDict = new Map();
      for (const t of header.tensors) dict.set(t.name, await get(t.name));
      return dict;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await reader.close?.();
    },
  };
}

async function readExact(
  reader: ByteRangeReader,
  begin: number,
  end: number,
  file: string,
  tensor?: string,
): Promise<Uint8Array> {
  const bytes = await reader.read(begin, end);
  if (bytes.byteLength !== end - begin) {
    throw new SafetensorsError(
      file,
      tensor,
      `expected ${end - begin} bytes at offset ${begin} but the file ended early (was it truncated after opening?)`,
    );
  }
  return bytes;
}
