import { applyToLastAxis, Module } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { chunkedCausalLmLoss, labelledSpans, lossChunkTokens } from './chunked-loss.js';
import { causalLmLoss, IGNORE_INDEX } from './loss.js';
import { inject } from './test-support/low-rank.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { relativeError, tinyModel } from './test-support/tiny-models.js';
import { toHostBatch } from './token-batch.js';

beforeAll(useCpuBackend);

/** A head with a trainable weight and bias, so the chunked loss must hand gradients to its variables. */
class TrainableHead extends Module {
  readonly outFeatures: number;
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(hidden: number, vocab: number) {
    super();
    this.outFeatures = vocab;
    this.weight = this.registerParameter(
      'weight',
      tf.variable(tf.randomNormal([hidden, vocab], 0, 1, 'float32', 3)),
    );
    this.bias = this.registerParameter('bias', tf.variable(tf.randomNormal([vocab], 0, 1, 'float32', 4)));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return applyToLastAxis(x, this.weight.shape[0]!, (x2d) =>
      tf.add(tf.matMul(x2d, this.weight as tf.Tensor2D), this.bias),
    );
  }
}

const BATCH = 3;
const TIME = 7;
const HIDDEN = 8;
const VOCAB = 13;
const LABELS = toHostBatch(
  [
    [4, 1, 12, 0, 7, 7, 3],
    [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 5, 9, 2, IGNORE_INDEX],
    [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 11],
  ],
  'labels',
);

function lossAndGrads(loss: (h: tf.Tensor3D, head: TrainableHead) => tf.Scalar): {
  value: number;
  grads: Float32Array[];
} {
  const head = new TrainableHead(HIDDEN, VOCAB);
  const h = tf.variable(tf.randomNormal([BATCH, TIME, HIDDEN], 0, 1, 'float32', 5));
  const variables = [h, head.weight, head.bias];
  const { value, grads } = tf.variableGrads(() => loss(h as tf.Tensor3D, head), variables);
  const result = {
    value: value.dataSync()[0]!,
    grads: variables.map((v) => grads[v.name]!.dataSync() as Float32Array),
  };
  tf.dispose([value, ...Object.values(grads), h]);
  head.dispose();
  return result;
}

// float32 sums in a different order: a few ulps of the largest value.
const TOLERANCE = 1e-5;

describe('chunkedCausalLmLoss', () => {
  it('equals the full loss and its gradients (hidden states, head variables) for any chunk size', () => {
    const full = lossAndGrads((h, head) =>
      tf.tidy(() => causalLmLoss(head.forward(h) as tf.Tensor3D, LABELS)),
    );
    expect(full.value).toBeGreaterThan(0);
    for (const chunkTokens of [1, 2, 5, 8, 21, 1000]) {
      const chunked = lossAndGrads((h, head) => chunkedCausalLmLoss(h, head, LABELS, { chunkTokens }));
      expect(Math.abs(chunked.value - full.value) / full.value).toBeLessThan(TOLERANCE);
      chunked.grads.forEach((g, i) => {
        expect(relativeError(g, full.grads[i]!), `chunk ${chunkTokens}, input ${i}`).toBeLessThan(TOLERANCE);
      });
    }
  });

  it('never computes logits for a position without a label', () => {
    const weights = new Float32Array([0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0]);
    expect(labelledSpans(weights, 3)).toEqual([
      { start: 2, size: 2 },
      { start: 5, size: 1 },
      { start: 9, size: 3 },
    ]);
    expect(labelledSpans(weights, 100)).toEqual([{ start: 2, size: 10 }]);
    // A chunk's logits near 64 MB of float32.
    expect(lossChunkTokens(49152)).toBe(341);
    expect(lossChunkTokens(151936)).toBe(110);
  });

  it('is 0 when no label counts, and rejects a bad chunk size', () => {
    const head = new TrainableHead(HIDDEN, VOCAB);
    const h = tf.zeros([1, 2, HIDDEN]) as tf.Tensor3D;
    const none = toHostBatch([[IGNORE_INDEX, IGNORE_INDEX]], 'labels');
    expect(chunkedCausalLmLoss(h, head, none).dataSync()[0]).toBe(0);
    const some = toHostBatch([[1, 2]], 'labels');
    expect(() => chunkedCausalLmLoss(h, head, some, { chunkTokens: 0 })).toThrow(/chunkTokens/);
    tf.dispose(h);
    head.dispose();
  });

  it('model.loss: the forward pass loss and the same adapter gradients, leaving no tensor behind', async () => {
    const { model } = await tinyModel('qwen2 bias tied theta 1e6', 3);
    inject(model, 'model.layers.0.self_attn.q_proj', 11);
    inject(model, 'model.layers.1.mlp.down_proj', 12);
    const variables = model.trainableVariables();
    const batch = {
      inputIds: [
        [1, 5, 9, 13, 2, 40, 7, 3],
        [0, 0, 6, 12, 18, 24, 30, 36],
      ],
      attentionMask: [
        [1, 1, 1, 1, 1, 1, 1, 1],
        [0, 0, 1, 1, 1, 1, 1, 1],
      ],
      labels: [
        [1, 5, 9, 13, 2, 40, 7, 3],
        [-100, -100, 6, 12, 18, 24, 30, 36],
      ],
    };
    const step = (loss: () => tf.Scalar) => {
      const { value, grads } = tf.variableGrads(loss, variables);
      const out = { value: value.dataSync()[0]!, grads: variables.map((v) => grads[v.name]!.dataSync()) };
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const plain = step(() => tf.tidy(() => model.forward(batch).loss!));
    const before = tf.memory().numTensors;
    for (const chunkTokens of [3, 16, undefined]) {
      const chunked = step(() => model.loss(batch, chunkTokens ? { chunkTokens } : {}));
      expect(Math.abs(chunked.value - plain.value) / plain.value).toBeLessThan(TOLERANCE);
      for (const [i, g] of chunked.grads.entries()) {
        expect(relativeError(g, plain.grads[i]!)).toBeLessThan(1e-4);
      }
      expect(tf.memory().numTensors).toBe(before);
    }
    model.dispose();
  });
});
