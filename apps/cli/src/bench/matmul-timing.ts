import type * as tf from '@tensorflow/tfjs-core';
import { medianMs } from './harness.js';

/** Warm-up and timed calls for a product of `rows` x `outFeatures`: more calls where each is short. */
function runs(rows: number, outFeatures: number): { warmup: number; runs: number } {
  const work = rows * outFeatures;
  return work >= 1_000_000
    ? { warmup: 1, runs: 3 }
    : work >= 100_000
      ? { warmup: 1, runs: 5 }
      : { warmup: 5, runs: 31 };
}

/** Median ms of an op whose result is read back (dataSync) and disposed, as a caller would use it. */
export function timeOp(op: () => tf.Tensor, rows: number, outFeatures: number): number {
  return medianMs(
    () => {
      const y = op();
      y.dataSync();
      y.dispose();
    },
    runs(rows, outFeatures),
  );
}
