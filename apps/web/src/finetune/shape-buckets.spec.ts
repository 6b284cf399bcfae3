import { setupBackend } from '@peft/backends';
import { createRandomModel, IGNORE_INDEX, type LlamaForCausalLM } from '@peft/models';
import { type Batch, evaluate, makeBatch } from '@peft/training';
import { evaluableModel } from '@peft/training/adapters';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY_CONFIG } from '../test-support/tiny-demo.js';
import { bucketedBatch, bucketedEvaluable } from './shape-buckets.js';

const SEQUENCES = [
  [1, 10, 11, 12, 2],
  [1, 20, 21, 2],
  [1, 30, 31, 32, 33, 34, 35, 36, 37, 38, 2],
  [1, 40, 2],
  [1, 50, 51, 52, 53, 2],
];

/** A batch as nested rows. */
function rows(batch: Batch, values: Int32Array): number[][] {
  return Array.from({ length: batch.batchSize }, (_, b) =>
    Array.from(values.subarray(b * batch.seqLen, (b + 1) * batch.seqLen)),
  );
}

describe('bucketedBatch', () => {
  it('pads to the next multiple of 8 with pad ids, mask 0 and ignored labels, keeping the rows intact', () => {
    const plain = makeBatch(SEQUENCES.slice(0, 2), 0, 128);
    const batch = bucketedBatch(plain, 0, 128);
    expect(plain.seqLen).toBe(5);
    expect(batch.seqLen).toBe(8);
    expect(batch.predictedTokens).toBe(plain.predictedTokens);
    expect(rows(batch, batch.inputIds)).toEqual([
      [1, 10, 11, 12, 2, 0, 0, 0],
      [1, 20, 21, 2, 0, 0, 0, 0],
    ]);
    expect(rows(batch, batch.attentionMask)[1]).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
    expect(rows(batch, batch.labels)[1]).toEqual([
      1,
      20,
      21,
      2,
      IGNORE_INDEX,
      IGNORE_INDEX,
      IGNORE_INDEX,
      IGNORE_INDEX,
    ]);
  });

  it('never exceeds maxSeqLen and leaves an exact multiple alone', () => {
    expect(bucketedBatch(makeBatch([SEQUENCES[2]!], 0, 10), 0, 10).seqLen).toBe(10);
    const eight = makeBatch([[1, 2, 3, 4, 5, 6, 7, 8]], 0, 128);
    expect(bucketedBatch(eight, 0, 128)).toBe(eight);
  });
});

describe('held-out loss through @peft/training evaluate() on bucketed batches', () => {
  let model: LlamaForCausalLM;
  beforeAll(async () => {
    await setupBackend('wasm');
    model = await createRandomModel(TINY_CONFIG, 3);
  });
  afterAll(() => model.dispose());

  it('is the mean over every predicted token, whatever the batching, and equals one unpadded batch per row', async () => {
    const evaluable = bucketedEvaluable(evaluableModel(model), { padId: 0, maxSeqLen: 64 });
    const options = { padTokenId: 0, seqLen: 64 };
    const whole = await evaluate(evaluable, SEQUENCES, { ...options, batchSize: 5 });
    const split = await evaluate(evaluable, SEQUENCES, { ...options, batchSize: 2 });
    const unbucketed = await evaluate(evaluableModel(model), SEQUENCES, { ...options, batchSize: 2 });
    // Reference: each row alone (no padding at all), weighted by its predicted tokens.
    let sum = 0;
    let tokens = 0;
    for (const row of SEQUENCES) {
      const loss = model.loss({ inputIds: [row], labels: [row] });
      sum += loss.dataSync()[0]! * (row.length - 1);
      tokens += row.length - 1;
      loss.dispose();
    }
    expect(whole.tokens).toBe(tokens);
    expect(whole.loss).toBeCloseTo(sum / tokens, 4);
    expect(split.loss).toBeCloseTo(sum / tokens, 4);
    expect(unbucketed.loss).toBeCloseTo(split.loss, 5);
    expect(Math.abs(whole.loss - Math.log(TINY_CONFIG.vocabSize))).toBeLessThan(0.5);
  });

  it('leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const evaluable = bucketedEvaluable(evaluableModel(model), { padId: 0, maxSeqLen: 64 });
    await evaluate(evaluable, SEQUENCES, { padTokenId: 0, seqLen: 64, batchSize: 2 });
    expect(tf.memory().numTensors).toBe(before);
  });
});
