import { env } from '@tensorflow/tfjs-core';

/**
 * TensorFlow.js flag: when true, bnb4Matmul on the wasm backend takes the exact float32 kernel instead of the
 * faster one that rounds activations to 16-bit fixed point (see docs/backends.md, "Precision").
 */
export const BNB4_EXACT_FLAG = 'PEFT_BNB4_EXACT';

export function registerBnb4Flags(): void {
  try {
    env().get(BNB4_EXACT_FLAG);
  } catch {
    env().registerFlag(BNB4_EXACT_FLAG, () => false);
  }
}

export function bnb4ExactRequested(): boolean {
  registerBnb4Flags();
  return env().getBool(BNB4_EXACT_FLAG);
}
