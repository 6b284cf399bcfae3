import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { frugalGradients } from './frugal-gradients.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);

/** The engine's own gradients, the reference. */
function engineGradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor) {
  return tf.engine().gradients(f, xs, dy, true);
}

/** A graph with fan-out (x used three times), an op of several outputs (split), broadcasting and a customGrad. */
function graph(x: tf.Tensor2D, w: tf.Variable): tf.Scalar {
  const square = tf.customGrad((...args: unknown[]) => {
    const t = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([t]);
    return {
      value: tf.square(t),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.mul(saved[0]!, 2)),
    };
  });
  const h = tf.tanh(tf.matMul(x, w));
  const [a, b] = tf.split(h, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
  const mixed = tf.add(tf.mul(a, tf.exp(b)), tf.sum(x, 1, true));
  return tf.add(
    tf.sum(square(mixed) as tf.Tensor),
    tf.sum(tf.mul(h, tf.slice(x, [0, 0], [-1, 4]))),
  ) as tf.Scalar;
}

describe('frugalGradients', () => {
  it('gives the engine’s values and gradients, bit for bit', () => {
    const x = tf.randomNormal([6, 4], 0, 1, 'float32', 1) as tf.Tensor2D;
    const w = tf.variable(tf.randomNormal([4, 4], 0, 1, 'float32', 2));
    const reference = engineGradients(() => graph(x, w), [x, w]);
    const ours = frugalGradients(() => graph(x, w), [x, w]);
    expect(ours.value.dataSync()).toEqual(reference.value.dataSync());
    for (let i = 0; i < 2; i++) expect(ours.grads[i]!.dataSync()).toEqual(reference.grads[i]!.dataSync());
    tf.dispose([x, w, reference.value, ours.value, ...reference.grads, ...(ours.grads as tf.Tensor[])]);
  });

  it('takes a dy, leaves it to the caller, and gives undefined for an x the result does not use', () => {
    const x = tf.tensor1d([1, 2, 3]);
    const unused = tf.tensor1d([4]);
    const dy = tf.tensor1d([0.5, -1, 2]);
    const { value, grads } = frugalGradients(() => tf.mul(tf.exp(x), x), [x, unused], dy);
    const reference = engineGradients(() => tf.mul(tf.exp(x), x), [x], dy);
    expect(grads[0]!.dataSync()).toEqual(reference.grads[0]!.dataSync());
    expect(grads[1]).toBeUndefined();
    expect(dy.isDisposed).toBe(false);
    expect([...dy.dataSync()]).toEqual([0.5, -1, 2]);
    tf.dispose([x, unused, dy, value, grads[0]!, reference.value, ...reference.grads]);
  });

  it('leaves no tensor behind but its results', () => {
    const x = tf.randomNormal([6, 4], 0, 1, 'float32', 3) as tf.Tensor2D;
    const w = tf.variable(tf.randomNormal([4, 4], 0, 1, 'float32', 4));
    const before = tf.memory().numTensors;
    const { value, grads } = frugalGradients(() => graph(x, w), [x, w]);
    expect(tf.memory().numTensors).toBe(before + 3);
    tf.dispose([value, ...(grads as tf.Tensor[]), x, w]);
  });

  it('frees saved activations and passed-on gradients as it goes, where the engine holds them all', () => {
    // A chain of 40 ops; a customGrad at its start sees what is alive when the backward pass reaches it.
    const links = 40;
    const x = tf.randomNormal([1000], 0, 1, 'float32', 5);
    const liveAtStart = (gradients: typeof frugalGradients | typeof engineGradients): number => {
      let live = 0;
      const probe = tf.customGrad((...args: unknown[]) => ({
        value: tf.clone(args[0] as tf.Tensor),
        gradFunc: (dy: tf.Tensor) => {
          live = tf.memory().numTensors;
          return tf.clone(dy);
        },
      }));
      const chain = () => {
        let h = probe(x) as tf.Tensor;
        for (let i = 0; i < links; i++) h = tf.sin(h);
        return tf.sum(h);
      };
      const before = tf.memory().numTensors;
      const { value, grads } = gradients(chain, [x]);
      tf.dispose([value, ...(grads as tf.Tensor[])]);
      return live - before;
    };
    const engineLive = liveAtStart(engineGradients);
    const frugalLive = liveAtStart(frugalGradients);
    // The engine still holds each sin's saved input and each link's gradient; frugal, a handful.
    expect(engineLive).toBeGreaterThanOrEqual(2 * links);
    expect(frugalLive).toBeLessThanOrEqual(6);
    x.dispose();
  });

  it('defers to the engine inside an enclosing tape, where nothing may be freed early (second derivatives)', () => {
    const x = tf.scalar(1.5);
    // d/dx of (d/dx x³) = 6x, with the inner derivative taken by frugalGradients.
    const second = tf.grad((t: tf.Tensor) => frugalGradients(() => tf.pow(t, 3), [t]).grads[0]!)(x);
    expect(second.dataSync()[0]).toBeCloseTo(9, 5);
    tf.dispose([x, second]);
  });

  it('can run inside a gradient function of an outer backward pass, whose tape it puts back even when f throws', () => {
    // A layer whose gradient recomputes its forward pass (activation checkpointing): d/dx sum(x³) = 3x².
    const recomputed = tf.customGrad((...args: unknown[]) => {
      const t = args[0] as tf.Tensor;
      return {
        value: tf.pow(t, 3),
        gradFunc: (dy: tf.Tensor) => {
          const state = (tf.engine() as unknown as { state: { activeTape: unknown } }).state;
          const outer = state.activeTape;
          expect(() =>
            frugalGradients(() => {
              throw new Error('forward failed');
            }, [t]),
          ).toThrow('forward failed');
          expect(state.activeTape).toBe(outer);
          const { value, grads } = frugalGradients(() => tf.pow(t, 3), [t], dy);
          expect(state.activeTape).toBe(outer);
          value.dispose();
          return grads[0]!;
        },
      };
    });
    const x = tf.tensor1d([0.5, -2, 3]);
    const loss = (t: tf.Tensor) => tf.sum(tf.mul(recomputed(t) as tf.Tensor, tf.tensor1d([1, 2, 3])));
    const before = tf.memory().numTensors;
    // The outer pass as the engine runs it (which frees its saved tensors from the tape at the end) and as
    // frugalGradients runs it.
    const engine = engineGradients(() => loss(x), [x]);
    const frugal = frugalGradients(() => loss(x), [x]);
    const want = [0.75, 24, 81];
    expect(Array.from(engine.grads[0]!.dataSync())).toEqual(want);
    expect(Array.from(frugal.grads[0]!.dataSync())).toEqual(want);
    tf.dispose([engine.value, engine.grads[0]!, frugal.value, frugal.grads[0]!]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('names the op whose gradient is missing, as the engine does', () => {
    const x = tf.tensor1d([1, 2]);
    const noGradient = tf.customGrad((...args: unknown[]) => ({
      value: tf.clone(args[0] as tf.Tensor),
      gradFunc: () => {
        throw new Error('custom gradient failed');
      },
    }));
    expect(() => frugalGradients(() => tf.sum(noGradient(x) as tf.Tensor), [x])).toThrow(
      'custom gradient failed',
    );
    expect(() => frugalGradients(() => tf.sum(x), [])).toThrow(/at least one x/);
    x.dispose();
  });
});
