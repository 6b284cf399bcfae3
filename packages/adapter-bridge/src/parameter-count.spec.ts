import { DenseLinear, Linear, Module } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { countParameters, formatParameterSummary } from './parameter-count.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);

class TinyLm extends Module {
  readonly tiedHead: DenseLinear | null;

  constructor(tied: boolean) {
    super();
    const table = tf.randomNormal([10, 4]) as tf.Tensor2D;
    this.registerParameter('embed', tf.variable(table, false));
    const head = new DenseLinear(table);
    table.dispose();
    this.registerModule('lm_head', new Linear(head));
    this.tiedHead = tied ? head : null;
  }
}

describe('countParameters', () => {
  it('counts a tied output head once, as PyTorch counts a shared Parameter', () => {
    const tied = new TinyLm(true);
    const untied = new TinyLm(false);
    expect(countParameters(tied)).toEqual({ trainable: 0, all: 40 });
    expect(countParameters(untied)).toEqual({ trainable: 0, all: 80 });
    expect(formatParameterSummary({ trainable: 4, all: 40 })).toBe(
      'trainable params: 4 || all params: 40 || trainable%: 10.0000',
    );
    tied.dispose();
    untied.dispose();
  });
});
