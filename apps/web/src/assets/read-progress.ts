import type { TensorSource } from '@peft/core';

/**
 * `source` reporting each tensor read (`done` of `total`): the loader reads every tensor once, one at a time,
 * so this is the loading's progress.
 */
export function withReadProgress(
  source: TensorSource,
  onRead: (done: number, total: number) => void,
): TensorSource {
  const total = source.keys().length;
  let done = 0;
  return {
    name: source.name,
    keys: () => source.keys(),
    has: (key) => source.has(key),
    info: (key) => source.info(key),
    get: async (key) => {
      const tensor = await source.get(key);
      done = Math.min(total, done + 1);
      onRead(done, total);
      return tensor;
    },
  };
}
