import { type Linear, type LinearLike, Module } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import type { LlamaForCausalLM } from '../model.js';

/** A minimal low-rank adapter, standing in for a PEFT method: y = base(x) + x·A·B. */
export class LowRank extends Module implements LinearLike {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly a: tf.Variable;
  readonly b: tf.Variable;

  constructor(
    private readonly base: Linear,
    seed: number,
    /** Dropout on the adapter's input, drawn from `TEST_RANDOM` (0 = none). */
    private readonly dropout = 0,
  ) {
    super();
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    this.a = this.registerParameter(
      'a',
      tf.variable(tf.randomNormal([this.inFeatures, 2], 0, 0.3, 'float32', seed)),
    );
    this.b = this.registerParameter(
      'b',
      tf.variable(tf.randomNormal([2, this.outFeatures], 0, 0.3, 'float32', seed + 1)),
    );
    this.registerModule('base_layer', base);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      let x2 = tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D;
      if (this.dropout > 0) x2 = tf.dropout(x2, this.dropout, undefined, nextTestSeed()) as tf.Tensor2D;
      const delta = tf.matMul(tf.matMul(x2, this.a as tf.Tensor2D), this.b as tf.Tensor2D);
      return tf.add(this.base.forward(x), tf.reshape(delta, [...lead, this.outFeatures]));
    });
  }
}

export function inject(model: LlamaForCausalLM, path: string, seed: number, dropout = 0): LowRank {
  const adapter = new LowRank(model.getSubmodule(path) as Linear, seed, dropout);
  model.setSubmodule(path, adapter);
  return adapter;
}

/** A seeded random stream for test dropout, standing in for the adapter stream of a PEFT method. */
export const TEST_RANDOM = {
  state: { seed: 7, draws: 0 },
  get(): unknown {
    return { ...TEST_RANDOM.state };
  },
  set(state: unknown): void {
    TEST_RANDOM.state = { ...(state as { seed: number; draws: number }) };
  },
};

function nextTestSeed(): number {
  const { seed, draws } = TEST_RANDOM.state;
  TEST_RANDOM.state = { seed, draws: draws + 1 };
  return seed * 1000 + draws;
}
