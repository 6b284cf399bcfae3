import { fromFloat32 } from '@peft/core';
import { openSafetensorsFile, writeSafetensorsFile } from '@peft/core/node';

/** Gives every lora_B of an adapter file seeded values in [-0.5, 0.5), so merging it changes the weights. */
export async function randomizeLoraB(file: string, seed = 3): Promise<void> {
  const source = await openSafetensorsFile(file);
  const weights = await source.readAll();
  await source.close();
  let s = seed >>> 0;
  for (const [key, tensor] of weights) {
    if (!key.includes('lora_B')) continue;
    const values = Float32Array.from({ length: tensor.shape[0]! * tensor.shape[1]! }, () => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return s / 2 ** 32 - 0.5;
    });
    weights.set(key, fromFloat32(values, tensor.shape));
  }
  await writeSafetensorsFile(file, weights, { format: 'pt' });
}
