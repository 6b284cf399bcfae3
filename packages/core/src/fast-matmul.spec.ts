import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { matMulBoth, matMulFrozenRight } from './fast-matmul.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);

function expectClose(a: tf.Tensor, b: tf.Tensor): void {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync();
  const y = b.dataSync();
  for (let i = 0; i < x.length; i++)
    expect(Math.abs(x[i]! - y[i]!)).toBeLessThan(1e-4 * (1 + Math.abs(y[i]!)));
}

describe('fast matMul gradients', () => {
  const cases: [string, number[], number[]][] = [
    ['2-D', [5, 3], [3, 4]],
    ['batched 4-D', [2, 3, 5, 4], [2, 3, 4, 6]],
    ['broadcast right operand', [2, 3, 5, 4], [4, 6]],
    // A left operand much larger than dy: its gradient transposes dy and the result instead (attention's Pᵀ·dy).
    ['2-D, tall left operand', [40, 24], [24, 3]],
    ['batched 4-D, tall left operand', [2, 3, 40, 24], [2, 3, 24, 3]],
    ['broadcast right operand, tall left operand', [2, 3, 40, 24], [24, 3]],
  ];
  for (const [name, aShape, bShape] of cases) {
    it(`matches tf.matMul values and gradients (${name})`, () => {
      const a = tf.randomNormal(aShape, 0, 1, 'float32', 1);
      const b = tf.randomNormal(bShape, 0, 1, 'float32', 2);
      const weight = tf.randomNormal(
        [...aShape.slice(0, -1), bShape[bShape.length - 1]!],
        0,
        1,
        'float32',
        3,
      );
      const loss = (f: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) =>
        tf.sum(tf.mul(f(x, y), weight));
      // tfjs' own BatchMatMul gradient cannot reduce a broadcast operand, so the reference multiplies
      // an explicitly broadcast copy and sums its gradient back.
      const full = [...aShape.slice(0, -2), ...bShape.slice(-2)];
      const [ra, rbFull] = tf.grads(loss((x, y) => tf.matMul(x, tf.broadcastTo(y, full))))([a, b]);
      const rb = rbFull;
      const [fa, fb] = tf.grads(loss((x, y) => matMulBoth(x, y)))([a, b]);
      expectClose(matMulBoth(a, b), tf.matMul(a, b));
      expectClose(fa!, ra!);
      expectClose(fb!, rb!);
      const frozen = tf.grad((x: tf.Tensor) => loss((u) => matMulFrozenRight(u, b))(x, b))(a);
      expectClose(frozen, ra!);
      tf.dispose([a, b, weight, ra!, rb!, fa!, fb!, frozen]);
    });
  }

  it('transposes dy and the small result, not a tall left operand, for its gradient', async () => {
    const a = tf.randomNormal([40, 24]);
    const b = tf.randomNormal([24, 3]);
    const profile = await tf.profile(() => tf.dispose(tf.grads((x, y) => tf.sum(matMulBoth(x, y)))([a, b])));
    const transposed = profile.kernels.filter((k) => k.name === 'Transpose').map((k) => k.inputShapes[0]);
    expect(transposed).not.toContainEqual([40, 24]);
    expect(transposed).toContainEqual([40, 3]);
    tf.dispose([a, b]);
  });

  it('keeps a frozen operand made inside the forward scope alive for the backward pass', () => {
    const a = tf.variable(tf.randomNormal([4, 6]));
    const b = tf.randomNormal([8, 3]);
    const { value, grads } = tf.variableGrads(() =>
      tf.tidy(() => tf.sum(matMulFrozenRight(a, tf.slice(b, [0, 0], [6, 3])))),
    );
    const expected = tf.tidy(() =>
      tf.tile(tf.reshape(tf.sum(tf.slice(b, [0, 0], [6, 3]), 1), [1, 6]), [4, 1]),
    );
    expectClose(grads[a.name]!, expected);
    tf.dispose([a, b, value, expected, ...Object.values(grads)]);
  });

  it('leaks no tensors across gradient steps', () => {
    const a = tf.variable(tf.randomNormal([4, 3]));
    const b = tf.randomNormal([3, 2]);
    const c = tf.ones([2, 2]);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(matMulBoth(matMulFrozenRight(a, b), c)));
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const count = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(count);
    tf.dispose([a, b, c]);
  });
});

describe('matMulFrozenRight with a persistent right operand', () => {
  it('gives the same gradient and saves no clone of the weight for the backward pass', () => {
    const w = tf.randomNormal([6, 5], 0, 1, 'float32', 3);
    const x = tf.variable(tf.randomNormal([4, 6], 0, 1, 'float32', 4));
    const tensorsAfterForward = (persistent: boolean) => {
      let held = 0;
      const { value, grads } = tf.variableGrads(() => {
        const before = tf.memory().numTensors;
        const y = matMulFrozenRight(x as tf.Tensor2D, w, { persistent });
        held = tf.memory().numTensors - before;
        return tf.sum(tf.square(y)) as tf.Scalar;
      }, [x]);
      const grad = grads[x.name]!.arraySync();
      tf.dispose([value, ...Object.values(grads)]);
      return { held, grad };
    };
    const saved = tensorsAfterForward(false);
    const persistent = tensorsAfterForward(true);
    expect(persistent.grad).toEqual(saved.grad);
    // The saved clone is one more tensor (on wasm, a copy of the whole weight's bytes).
    expect(saved.held - persistent.held).toBe(1);
    tf.dispose([w, x]);
  });
});

describe('matMulFrozenRight with a pre-transposed right operand', () => {
  it('gives the same gradient, multiplying dy by the given transpose instead of transposing per call', async () => {
    const w = tf.randomNormal([6, 5], 0, 1, 'float32', 5);
    const wT = tf.transpose(w);
    const x = tf.randomNormal([4, 6], 0, 1, 'float32', 6);
    const gradient = (options: { persistent?: boolean; transposed?: tf.Tensor }) =>
      tf.grad((v: tf.Tensor) => tf.sum(tf.square(matMulFrozenRight(v as tf.Tensor2D, w, options))));
    const transposesIn = async (options: { persistent?: boolean; transposed?: tf.Tensor }) => {
      const info = await tf.profile(() => gradient(options)(x));
      tf.dispose(info.result as tf.Tensor);
      return info.kernels.filter((k) => k.name === 'Transpose').length;
    };
    const plain = gradient({ persistent: true })(x);
    const pre = gradient({ transposed: wT })(x);
    expect(pre.arraySync()).toEqual(plain.arraySync());
    expect(await transposesIn({ persistent: true })).toBe(1);
    expect(await transposesIn({ transposed: wT })).toBe(0);
    tf.dispose([w, wT, x, plain, pre]);
  });
});

describe('the backward pass frees transposed operands at once', () => {
  it('holds at most one transposed weight at a time through a stack of frozen layers', async () => {
    const width = 96;
    const layers = 6;
    const weights = Array.from({ length: layers }, (_, i) =>
      tf.randomNormal([width, width], 0, 0.1, 'float32', i),
    );
    const x = tf.variable(tf.randomNormal([2, width], 0, 1, 'float32', 99));
    const loss = () =>
      tf.sum(
        weights.reduce((h: tf.Tensor, w) => matMulFrozenRight(h, w, { persistent: true }), x),
      ) as tf.Scalar;
    const weightBytes = width * width * 4;
    // Peak above the weights while the gradient is taken: before the transposed copies were freed per layer,
    // all six (each a full weight) lived until the backward pass ended.
    const before = tf.memory().numBytes;
    const info = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(loss, [x]);
      tf.dispose([value, ...Object.values(grads)]);
    });
    const activations = layers * 2 * width * 4 * 4;
    expect(info.peakBytes - before).toBeLessThan(2 * weightBytes + activations);
    tf.dispose([x, ...weights]);
  });
});
