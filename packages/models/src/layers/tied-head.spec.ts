import { DenseLinear, type QuantizedLinear, TAKES_TRANSPOSED_RIGHT } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCpuBackend } from '../test-support/tf-cpu.js';
import { relativeError } from '../test-support/tiny-models.js';
import { productWithTable, TiedHeadLinear } from './tied-head.js';

beforeAll(useCpuBackend);

const VOCAB = 37;
const HIDDEN = 12;

describe('TiedHeadLinear', () => {
  it('computes what a DenseLinear of the table does, and its input gradient, without any table-sized tensor of its own', () => {
    const table = tf.variable(tf.randomNormal([VOCAB, HIDDEN], 0, 1, 'float32', 1), false);
    const before = tf.memory().numBytes;
    const tied = new TiedHeadLinear(table as tf.Tensor2D);
    // No copy of the table: the head reads the embedding's variable.
    expect(tf.memory().numBytes).toBe(before);
    const dense = new DenseLinear(table as tf.Tensor2D);
    const x = tf.variable(tf.randomNormal([2, 5, HIDDEN], 0, 1, 'float32', 2));
    const target = tf.randomNormal([2, 5, VOCAB], 0, 1, 'float32', 3);
    const run = (layer: QuantizedLinear) => {
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.mul(layer.forward(x), target)) as tf.Scalar,
        [x],
      );
      const out = { value: value.dataSync()[0]!, grad: grads[x.name]!.dataSync() };
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const reference = run(dense);

    // Record every float32 tensor the size of the table made during the step.
    const engine = tf.engine() as unknown as { trackTensor(t: tf.Tensor, backend: unknown): void };
    const original = engine.trackTensor;
    const tableSized: number[][] = [];
    engine.trackTensor = function (this: unknown, t: tf.Tensor, backend: unknown) {
      if (t.size === VOCAB * HIDDEN) tableSized.push([...t.shape]);
      return original.call(this, t, backend);
    };
    let result: ReturnType<typeof run>;
    try {
      result = run(tied);
    } finally {
      engine.trackTensor = original;
    }
    expect(tableSized).toEqual([]);
    // (E·xᵀ)ᵀ sums in another order than x·Eᵀ: equal to float32 rounding.
    expect(Math.abs(result.value - reference.value)).toBeLessThan(1e-5 * Math.abs(reference.value) + 1e-5);
    expect(relativeError(result.grad, reference.grad)).toBeLessThan(1e-6);
    // The table stays the embedding's: disposing the head leaves it alive.
    tied.dispose();
    expect(table.isDisposed).toBe(false);
    tf.dispose([table, x, target]);
    dense.dispose();
  });
});

/** Runs `body` with the cpu backend's BatchMatMul marked as taking a transposed right operand in place. */
async function withMarkedCpuMatMul<T>(body: () => Promise<T>): Promise<T> {
  const stock = tf.getKernel(tf.BatchMatMul, 'cpu')!;
  const marked = ((args: Parameters<tf.KernelFunc>[0]) => stock.kernelFunc(args)) as tf.KernelFunc;
  (marked as unknown as Record<symbol, unknown>)[TAKES_TRANSPOSED_RIGHT] = true;
  tf.unregisterKernel(tf.BatchMatMul, 'cpu');
  tf.registerKernel({ ...stock, kernelFunc: marked });
  try {
    return await body();
  } finally {
    tf.unregisterKernel(tf.BatchMatMul, 'cpu');
    tf.registerKernel(stock);
  }
}

describe('TiedHeadLinear when decoding (one row)', () => {
  it('multiplies x·Eᵀ with one flagged product where the kernel takes that in place, else (E·xᵀ)ᵀ; same logits', async () => {
    const table = tf.randomNormal([VOCAB, HIDDEN], 0, 1, 'float32', 7) as tf.Tensor2D;
    const head = new TiedHeadLinear(table);
    const x = tf.randomNormal([1, 1, HIDDEN], 0, 1, 'float32', 8);
    const logits = async () => {
      let values: Float32Array | undefined;
      const profile = await tf.profile(() => {
        const y = head.forward(x);
        values = y.dataSync() as Float32Array;
        y.dispose();
      });
      return { values: values!, kernels: profile.kernelNames };
    };
    const stock = await logits();
    expect(stock.kernels).toContain('Transpose');
    const flagged = await withMarkedCpuMatMul(logits);
    expect(flagged.kernels).not.toContain('Transpose');
    expect(flagged.kernels.filter((k) => k === 'BatchMatMul')).toHaveLength(1);
    const want = tf.matMul(tf.reshape(x, [1, HIDDEN]), table, false, true);
    expect(relativeError(flagged.values, want.dataSync())).toBeLessThan(1e-6);
    expect(relativeError(stock.values, want.dataSync())).toBeLessThan(1e-6);
    tf.dispose([table, x, want]);
  });
});

describe('productWithTable', () => {
  it('equals dy·E when E is taken in slices of rows (uneven last slice), and keeps no tensor', () => {
    const table = tf.randomNormal([VOCAB, HIDDEN], 0, 1, 'float32', 4) as tf.Tensor2D;
    const dy = tf.randomNormal([3, VOCAB], 0, 1, 'float32', 5) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const sliced = productWithTable(dy, table, 8);
    expect(tf.memory().numTensors).toBe(before + 1);
    const whole = tf.matMul(dy, table);
    expect(relativeError(sliced.dataSync(), whole.dataSync())).toBeLessThan(1e-6);
    tf.dispose([table, dy, sliced, whole]);
  });
});

describe('an untied head owning its weight', () => {
  it('disposes its weight, and saves it in the dtype it was read in', () => {
    const weight = tf.randomNormal([VOCAB, HIDDEN], 0, 1, 'float32', 6) as tf.Tensor2D;
    const head = new TiedHeadLinear(weight, { owned: true, storageDType: 'BF16' });
    expect(head.storageBytes).toBe(VOCAB * HIDDEN * 2);
    expect(head.stateDict('lm_head.').get('lm_head.weight')!.dtype).toBe('BF16');
    head.dispose();
    expect(weight.isDisposed).toBe(true);
  });
});
