import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { inject } from './test-support/low-rank.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { tinyModel } from './test-support/tiny-models.js';

beforeAll(useCpuBackend);

const BATCH = {
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

describe('training through the frozen base', () => {
  it('gives adapter parameters the gradient of the loss (checked by finite differences)', async () => {
    const { model } = await tinyModel('llama GQA untied', 4);
    // Layer 0's adapter gets its gradient only through layer 1's frozen base linears.
    const early = inject(model, 'model.layers.0.self_attn.q_proj', 10);
    const late = inject(model, 'model.layers.1.mlp.down_proj', 20);
    expect(model.trainableVariables()).toHaveLength(4);

    const { value, grads } = tf.variableGrads(() => model.loss(BATCH));
    const loss = value.dataSync()[0]!;
    for (const v of [early.a, early.b, late.a, late.b]) {
      const g = grads[v.name]!;
      expect(g.shape).toEqual(v.shape);
      expect(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]!)).toBeGreaterThan(1e-6);
    }

    // Central differences on a few entries of each matrix of the early adapter.
    const eps = 1e-2;
    for (const v of [early.a, early.b]) {
      const analytic = grads[v.name]!.dataSync();
      for (const index of [0, 7, 19]) {
        const original = v.dataSync().slice();
        const at = (delta: number) => {
          const shifted = original.slice();
          shifted[index]! += delta;
          v.assign(tf.tensor(shifted, v.shape));
          return tf.tidy(() => model.loss(BATCH).dataSync()[0]!);
        };
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        v.assign(tf.tensor(original, v.shape));
        expect(Math.abs(numeric - analytic[index]!)).toBeLessThan(2e-3 + 0.03 * Math.abs(analytic[index]!));
      }
    }
    expect(Number.isFinite(loss)).toBe(true);
    tf.dispose([value, ...Object.values(grads)]);
    model.dispose();
  });

  it('trains without leaking tensors across steps, and the loss goes down', async () => {
    const { model } = await tinyModel('qwen2 bias tied theta 1e6', 6);
    inject(model, 'model.layers.0.self_attn.v_proj', 30);
    inject(model, 'model.layers.1.mlp.up_proj', 40);
    const variables = model.trainableVariables();
    const batch = {
      ...BATCH,
      inputIds: BATCH.inputIds.map((r) => r.map((t) => t % 53)),
      labels: BATCH.labels.map((r) => r.map((t) => (t < 0 ? t : t % 53))),
    };
    const step = (): number => {
      const { value, grads } = tf.variableGrads(() => model.loss(batch), variables);
      tf.tidy(() => {
        for (const v of variables) v.assign(tf.sub(v, tf.mul(grads[v.name]!, 0.5)));
      });
      const loss = value.dataSync()[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      return loss;
    };
    const first = step();
    const count = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 6; i++) {
      last = step();
      expect(tf.memory().numTensors).toBe(count);
    }
    expect(last).toBeLessThan(first);
    model.dispose();
  });

  for (const checkpointing of [false, true]) {
    it(`holds the same tensors and bytes after every step (${checkpointing ? 'with' : 'without'} gradient checkpointing, tied and untied heads)`, async () => {
      for (const kind of ['qwen2 bias tied theta 1e6', 'llama GQA untied'] as const) {
        const { model } = await tinyModel(kind, 6);
        inject(model, 'model.layers.0.self_attn.q_proj', 50);
        inject(model, 'model.layers.1.mlp.down_proj', 60);
        if (checkpointing) model.enableGradientCheckpointing();
        const variables = model.trainableVariables();
        const batch = {
          ...BATCH,
          inputIds: BATCH.inputIds.map((r) => r.map((t) => t % 53)),
          labels: BATCH.labels.map((r) => r.map((t) => (t < 0 ? t : t % 53))),
        };
        const step = () => {
          const { value, grads } = tf.variableGrads(() => model.loss(batch), variables);
          tf.tidy(() => {
            for (const v of variables) v.assign(tf.sub(v, tf.mul(grads[v.name]!, 0.1)));
          });
          tf.dispose([value, ...Object.values(grads)]);
        };
        step();
        const held = tf.memory();
        for (let i = 0; i < 3; i++) {
          step();
          expect(tf.memory().numTensors).toBe(held.numTensors);
          expect(tf.memory().numBytes).toBe(held.numBytes);
        }
        model.dispose();
      }
    });
  }

  it('a training step makes no copy of the frozen embedding table (lookup or tied head)', async () => {
    const { model, config } = await tinyModel('qwen2 bias tied theta 1e6', 6);
    inject(model, 'model.layers.0.self_attn.v_proj', 30);
    const tableSize = config.vocabSize * config.hiddenSize;
    const batch = { inputIds: [[1, 5, 9, 13, 2, 40, 7, 3]], labels: [[1, 5, 9, 13, 2, 40, 7, 3]] };
    const engine = tf.engine() as unknown as { trackTensor(t: tf.Tensor, backend: unknown): void };
    const original = engine.trackTensor;
    const copies: number[][] = [];
    engine.trackTensor = function (this: unknown, t: tf.Tensor, backend: unknown) {
      if (t.size === tableSize) copies.push([...t.shape]);
      return original.call(this, t, backend);
    };
    try {
      const { value, grads } = tf.variableGrads(() => model.loss(batch));
      tf.dispose([value, ...Object.values(grads)]);
    } finally {
      engine.trackTensor = original;
    }
    expect(copies).toEqual([]);
    model.dispose();
  });

  it('a forward with a cache leaves exactly the cache behind, which dispose() frees', async () => {
    const { model } = await tinyModel('mistral sliding window', 2);
    const before = tf.memory().numTensors;
    const cache = model.createCache(1);
    model.forward({ inputIds: [[1, 2, 3, 4, 5]], cache }).logits.dispose();
    model.forward({ inputIds: [[6]], cache }).logits.dispose();
    // Two layers, each holding its keys and values.
    expect(tf.memory().numTensors).toBe(before + 2 * 2);
    cache.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
