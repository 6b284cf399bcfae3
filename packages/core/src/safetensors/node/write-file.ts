import type { StateDict } from '../../host-tensor.js';
import { planSafetensors, type SafetensorsMetadata, type SerializeOptions } from '../layout.js';
import { writeFileAtomic } from './write-file-atomic.js';

/**
 * Writes a state dict as a safetensors file, laid out as Python's `safetensors` writes it (see
 * `serializeSafetensors`), atomically: an existing file is replaced only once the new one is
 * complete on disk. Tensors are streamed to the file, never concatenated in memory.
 */
export async function writeSafetensorsFile(
  path: string,
  dict: StateDict,
  metadata?: SafetensorsMetadata,
  options: Omit<SerializeOptions, 'name'> = {},
): Promise<void> {
  // Validation happens here, before any file is created.
  const layout = planSafetensors(dict, metadata, { ...options, name: path });
  await writeFileAtomic(path, [layout.head, ...layout.chunks]);
}
