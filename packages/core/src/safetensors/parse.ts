import { LENGTH_PREFIX_BYTES, parseHeader, readHeaderLength } from './header.js';
import { createSource, type SafetensorsSource } from './source.js';

/**
 * Parses a whole safetensors file held in memory. The header is validated up front; tensors are
 * zero-copy views into `bytes`, so do not mutate the buffer while tensors from it are in use.
 */
export function parseSafetensors(
  bytes: Uint8Array | ArrayBuffer,
  name = 'safetensors buffer',
): SafetensorsSource {
  // A plain view even for a Node Buffer, so tensors come back as plain Uint8Arrays.
  const view =
    bytes instanceof Uint8Array
      ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      : new Uint8Array(bytes);
  const headerLength = readHeaderLength(view.subarray(0, LENGTH_PREFIX_BYTES), view.byteLength, name);
  const header = parseHeader(
    view.subarray(LENGTH_PREFIX_BYTES, LENGTH_PREFIX_BYTES + headerLength),
    view.byteLength,
    name,
  );
  return createSource(name, header, {
    size: view.byteLength,
    read: async (begin, end) => view.subarray(begin, end),
  });
}
