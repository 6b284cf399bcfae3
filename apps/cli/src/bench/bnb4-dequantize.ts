import { bnb4Dequantize, disposeBnb4Weights, setupBackend } from '@peft/backends';
import * as tf from '@tensorflow/tfjs-core';
import { type BenchCase, benchCase, medianMs } from './harness.js';
import { randomNf4Weights } from './random-bnb4.js';

/**
 * W = dequantize(packed) on the wasm backend against a plain typed-array copy of the output's size (the floor any
 * dequantization pays: writing n floats). Goal: at least half the copy's throughput.
 */
export async function run(): Promise<BenchCase[]> {
  await setupBackend('wasm');
  const cases: BenchCase[] = [];
  for (const [N, K] of [
    [4096, 4096],
    [11008, 4096],
  ] as const) {
    const w = randomNf4Weights(N, K);
    const source = new Float32Array(N * K).fill(1);
    const target = new Float32Array(N * K);
    const ours = medianMs(() => {
      const out = bnb4Dequantize(w);
      out.dispose();
    });
    const copy = medianMs(() => target.set(source));
    const gbPerSecond = (ms: number) => Math.round(((N * K * 4) / (ms * 1e6)) * 100) / 100;
    cases.push(
      benchCase({
        name: 'bnb4Dequantize',
        shape: { N, K },
        ours_ms: ours,
        baseline_ms: copy,
        baseline: 'Float32Array.prototype.set of N*K floats (a plain copy of the output size)',
        goal: '>= 0.5x',
        extra: {
          backend: 'wasm',
          output_gb_per_s: gbPerSecond(ours),
          copy_gb_per_s: gbPerSecond(copy),
          tensors: tf.memory().numTensors,
        },
      }),
    );
    disposeBnb4Weights(w);
  }
  return cases;
}
