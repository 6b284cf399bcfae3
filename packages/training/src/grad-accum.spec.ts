import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryCheckpointStore } from './checkpoint-store.js';
import { canonicalJson } from './fingerprint.js';
import { bigramModel, countingSequences } from './test-support/bigram-model.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { findResumePoint, runDescription, train } from './train.js';
import { resolveTrainingArguments, type TrainingArguments } from './training-arguments.js';

beforeAll(useCpuBackend);

const VOCAB = 7;
// Rows of 6, 5 and 4 tokens: micro-batches predict different numbers of tokens, so weighting them matters.
const data = countingSequences(VOCAB, 12, 6);
const args = (more: Partial<TrainingArguments>) =>
  resolveTrainingArguments(
    { steps: 6, seqLen: 6, learningRate: 0.3, seed: 5, saveEvery: 0, maxGradNorm: 0.25, ...more },
    { learningRate: 1e-3, maxPositions: 64 },
  );

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  return Array.from(a).reduce((most, v, i) => Math.max(most, Math.abs(v - b[i]!)), 0);
}

async function run(more: Partial<TrainingArguments>) {
  const model = bigramModel(VOCAB);
  const losses: number[] = [];
  const norms: number[] = [];
  const tensors: number[] = [];
  const before = tf.memory().numTensors;
  await train({
    model,
    train: data,
    padTokenId: 0,
    args: args(more),
    callbacks: {
      onStep: (p) => {
        losses.push(p.loss);
        norms.push(p.gradNorm);
        tensors.push(p.tfTensors);
      },
    },
  });
  const leftBehind = tf.memory().numTensors - before;
  const table = Float32Array.from(await model.table.data());
  model.dispose();
  return { losses, norms, tensors, table, leftBehind };
}

describe('gradient accumulation', () => {
  it('2 micro-batches of 2 rows give the losses, clipping and weights of one batch of 4', async () => {
    const big = await run({ batchSize: 4 });
    const accumulated = await run({ batchSize: 2, gradAccumSteps: 2 });
    expect(accumulated.leftBehind).toBe(0);
    // Float32 sums in another order: equal to rounding, far below the step-to-step changes.
    const tolerance = 1e-5;
    expect(accumulated.losses).toHaveLength(6);
    expect(maxDifference(accumulated.losses, big.losses)).toBeLessThan(tolerance);
    expect(maxDifference(accumulated.norms, big.norms)).toBeLessThan(tolerance);
    // The first gradient norms are above maxGradNorm, so clipping ran on the summed gradient.
    expect(big.norms[0]).toBeGreaterThan(0.25);
    expect(maxDifference(accumulated.table, big.table)).toBeLessThan(tolerance);
    // The losses changed over the run: equal losses are not just equal starting points.
    expect(big.losses[0]! - big.losses.at(-1)!).toBeGreaterThan(0.1);
    // Tensors stay flat from step to step while accumulating.
    expect(new Set(accumulated.tensors).size).toBe(1);
  });

  it('is part of the fingerprint, and 1 leaves the description as it was before the setting existed', async () => {
    expect(canonicalJson(runDescription(args({ batchSize: 2 })))).not.toContain('gradAccumSteps');
    expect(runDescription(args({ batchSize: 2, gradAccumSteps: 3 }))).toHaveProperty('gradAccumSteps', 3);
    const store = new MemoryCheckpointStore();
    const model = bigramModel(VOCAB);
    await train({
      model,
      train: data,
      padTokenId: 0,
      args: args({ batchSize: 2, gradAccumSteps: 2 }),
      store,
    });
    await expect(findResumePoint(store, args({ batchSize: 2 }))).rejects.toThrow(
      /gradAccumSteps: 2 -> \(unset\)/,
    );
    model.dispose();
  });

  it('refuses a grad-accum-steps below 1, naming it', () => {
    expect(() => args({ gradAccumSteps: 0 })).toThrow(/grad-accum-steps must be an integer >= 1, got 0/);
  });
});
