import { setupBackend } from '@peft/backends';
import { frugalGradients } from '@peft/core';
import { chunkedCausalLmLoss, type HostBatch, IGNORE_INDEX } from '@peft/models';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';

// The training step's loss and gradients on the wasm backend (with this project's kernel replacements and the
// frugal backward pass) against the cpu backend's. Each backend's kernels can differ in ways a cpu-only test never
// sees: tfjs-backend-wasm's OneHot, for one, ignores a float32 dtype and writes integer bits.

const HIDDEN = 6;
const VOCAB = 40;
const LABELS: HostBatch = {
  batch: 2,
  time: 8,
  data: Int32Array.from([
    4,
    1,
    39,
    0,
    7,
    7,
    3,
    22,
    IGNORE_INDEX,
    IGNORE_INDEX,
    5,
    9,
    2,
    31,
    18,
    IGNORE_INDEX,
  ]),
};

async function lossAndGradients(backend: 'cpu' | 'wasm'): Promise<{ value: number; grads: Float32Array[] }> {
  await setupBackend(backend);
  const hidden = tf.variable(tf.randomNormal([2, 8, HIDDEN], 0, 1, 'float32', 1));
  const weight = tf.variable(tf.randomNormal([HIDDEN, VOCAB], 0, 1, 'float32', 2));
  const head = {
    outFeatures: VOCAB,
    forward: (x: tf.Tensor) => tf.matMul(x as tf.Tensor2D, weight),
    trainableVariables: () => [weight],
  };
  const { value, grads } = frugalGradients(
    () => chunkedCausalLmLoss(hidden as tf.Tensor3D, head, LABELS, { chunkTokens: 3 }),
    [hidden, weight],
  );
  const result = { value: value.dataSync()[0]!, grads: grads.map((g) => g!.dataSync() as Float32Array) };
  tf.dispose([value, ...(grads as tf.Tensor[]), hidden, weight]);
  return result;
}

describe('the chunked loss on wasm', () => {
  it('gives the cpu backend’s loss and gradients (hidden states and head) within float32 rounding', async () => {
    const cpu = await lossAndGradients('cpu');
    const wasm = await lossAndGradients('wasm');
    expect(Math.abs(wasm.value - cpu.value) / cpu.value).toBeLessThan(1e-5);
    cpu.grads.forEach((g, i) => {
      let worst = 0;
      let scale = 0;
      for (let j = 0; j < g.length; j++) {
        worst = Math.max(worst, Math.abs(wasm.grads[i]![j]! - g[j]!));
        scale = Math.max(scale, Math.abs(g[j]!));
      }
      expect(worst / scale, `gradient ${i}`).toBeLessThan(1e-4);
    });
  });
});
