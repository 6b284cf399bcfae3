import { SafetensorsError } from '../errors.js';
import type { StateDict } from '../host-tensor.js';
import { planSafetensors, type SafetensorsMetadata, type SerializeOptions } from './layout.js';

/**
 * Encodes a state dict as a safetensors file in memory, laid out byte for byte as Python's
 * `safetensors` writes it (unless `options.order` is `'insertion'`). Every tensor is checked first:
 * dtype, shape and byte length must agree.
 */
export function serializeSafetensors(
  dict: StateDict,
  metadata?: SafetensorsMetadata,
  options: SerializeOptions = {},
): Uint8Array<ArrayBuffer> {
  const layout = planSafetensors(dict, metadata, options);
  let out: Uint8Array<ArrayBuffer>;
  try {
    out = new Uint8Array(layout.totalBytes);
  } catch (cause) {
    throw new SafetensorsError(
      options.name ?? 'safetensors output',
      undefined,
      `${layout.totalBytes} bytes do not fit in one buffer; write to a file instead (writeSafetensorsFile)`,
      { cause },
    );
  }
  out.set(layout.head, 0);
  let offset = layout.head.byteLength;
  for (const chunk of layout.chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
