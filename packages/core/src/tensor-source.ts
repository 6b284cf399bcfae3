import type { DType } from './dtype.js';
import { PeftError } from './errors.js';
import type { HostTensor, StateDict } from './host-tensor.js';

export interface TensorInfo {
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/**
 * Named tensors that can be listed cheaply and read one at a time: an in-memory state dict, a
 * lazily read safetensors file, or a sharded checkpoint folder. Loaders take this, so they never
 * need a whole multi-GB checkpoint in memory.
 */
export interface TensorSource {
  /** What to name in error messages (file or folder path). */
  readonly name: string;
  keys(): string[];
  has(key: string): boolean;
  info(key: string): TensorInfo;
  get(key: string): Promise<HostTensor>;
}

export class MissingTensorError extends PeftError {
  constructor(source: string, key: string) {
    super('MISSING_TENSOR', `${source}: tensor "${key}" not found`);
  }
}

export function stateDictSource(dict: StateDict, name = 'state dict'): TensorSource {
  const lookup = (key: string): HostTensor => {
    const t = dict.get(key);
    if (!t) throw new MissingTensorError(name, key);
    return t;
  };
  return {
    name,
    keys: () => [...dict.keys()],
    has: (key) => dict.has(key),
    info: (key) => {
      const t = lookup(key);
      return { dtype: t.dtype, shape: t.shape };
    },
    get: async (key) => lookup(key),
  };
}
