import { env } from '@tensorflow/tfjs-core';

/**
 * TensorFlow.js flag: when true, bnb4Matmul and bnb4MatmulTransposed on the wasm backend take the exact float32
 * kernels instead of the faster ones that round activations (or dy times the block scales) to 16-bit fixed point
 * (see docs/backends.md, "Precision").
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
